//! `netstat -s`: reads /proc/net/snmp, /proc/net/netstat (and /proc/net/snmp6 for -6).

use std::io::Write;

use crate::cli::netstat::NetstatFlags;

pub fn run(_flags: &NetstatFlags, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("-s is not available yet")
}
