//! The socket listings: netstat's default view and -t -u -U -w -x.

use std::io::Write;

use crate::{cli::netstat::NetstatFlags, resolve::Names};

pub fn run(flags: &NetstatFlags, names: &dyn Names, out: &mut dyn Write) -> anyhow::Result<()> {
    if flags.groups {
        super::groups::run(flags, names, out)?;
        // netstat -g alone lists nothing else.
        let sockets = flags.tcp || flags.udp || flags.udplite || flags.sctp || flags.raw;
        if !(sockets || flags.unix) {
            return Ok(());
        }
    }
    anyhow::bail!("socket listings are not available yet")
}
