//! `netstat -g`: the "IPv6/IPv4 Group Memberships" section, from /proc/net/igmp and igmp6.

use std::{
    io::{ErrorKind, Write},
    path::Path,
};

use anyhow::Context as _;

use crate::{
    sources::proc::{igmp::parse_memberships, proc_net},
    views::{netstat::NetstatFlags, printer::SnapshotPrinter},
};

pub(crate) fn run(
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    run_in(proc_net(), flags, printer, out)
}

/// The section from the files in `proc_net`. igmp is read for IPv4, igmp6 for IPv6, as
/// netstat's INFO_GUTS6 does.
pub(crate) fn run_in(
    proc_net: &Path,
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    printer.groups_heading(out)?;
    let mut igmp_missing = false;
    let igmp = if flags.families.inet {
        let path = proc_net.join("igmp");
        match std::fs::read(&path) {
            Ok(text) => Some(text),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::NotFound | ErrorKind::PermissionDenied
                ) =>
            {
                // Only an error when -g was asked for by itself, not implied by -4 or -6.
                igmp_missing = !flags.protocols_implied;
                None
            }
            Err(err) => return Err(err).with_context(|| path.display().to_string()),
        }
    } else {
        None
    };
    // netstat does not complain about a missing igmp6.
    let igmp6 = if flags.families.inet6 {
        std::fs::read(proc_net.join("igmp6")).ok()
    } else {
        None
    };
    let memberships = parse_memberships(igmp.as_deref(), igmp6.as_deref());
    for bogus in &memberships.bogus {
        let file = if bogus.ipv6 { "igmp6" } else { "igmp" };
        eprintln!("warning, got bogus {file} line {}.", bogus.index);
    }
    printer.groups(&memberships.groups, out)?;
    if igmp_missing {
        anyhow::bail!("no support for `AF INET (igmp)' on this system.");
    }
    Ok(())
}
