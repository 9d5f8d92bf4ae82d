//! `netstat -g`: the "IPv6/IPv4 Group Memberships" section, from /proc/net/igmp and igmp6.

use std::io::Write;

use crate::{cli::netstat::NetstatFlags, resolve::Names};

pub fn run(_flags: &NetstatFlags, _names: &dyn Names, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("-g is not available yet")
}
