//! `netstat -r`: reads /proc/net/route (and /proc/net/ipv6_route for -6).

use std::io::Write;

use crate::{cli::netstat::NetstatFlags, resolve::Names};

pub fn run(_flags: &NetstatFlags, _names: &dyn Names, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("-r is not available yet")
}
