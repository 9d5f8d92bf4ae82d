//! `netstat -i`: /proc/net/dev merged with SIOCGIFCONF, each interface then asked for its
//! configuration with the ioctls net-tools' if_fetch uses.

use std::io::Write;

use anyhow::Context as _;

use crate::{
    sources::{
        ifconfig::InterfaceConfig,
        proc::{
            dev::{InterfaceList, parse_if_inet6},
            read_net_file,
        },
    },
    views::{netstat::NetstatFlags, printer::SnapshotPrinter},
};

pub(crate) fn run(
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let dev = read_net_file("dev")?;
    let mut list = InterfaceList::default();
    if let Some(text) = &dev {
        list.add_proc_dev(text);
    } else {
        eprintln!(
            "Warning: cannot open /proc/net/dev (No such file or directory). Limited output."
        );
    }
    render(flags, printer, list, true, out)
}

/// Prints the table for `list` (the interfaces with counters; SIOCGIFCONF's names are merged
/// in here). `first`: whether this is the first table of the run.
pub(crate) fn render(
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    mut list: InterfaceList,
    first: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let socket = InterfaceConfig::open().context("socket")?;

    printer.interfaces_heading(first, out)?;

    let had_counters = !list.interfaces.is_empty();
    match socket.configured_names() {
        Ok(conf) => list.add_names(conf.iter().map(Vec::as_slice)),
        Err(err) if had_counters => eprintln!("SIOCGIFCONF: {err}"),
        Err(err) => return Err(err).context("missing interface information"),
    }
    // ifconfig reads if_inet6 for each interface; once is enough here.
    let inet6 = if printer.shows_interface_inet6() {
        read_net_file("if_inet6")?
            .map(|text| parse_if_inet6(&text))
            .unwrap_or_default()
    } else {
        Vec::new()
    };

    for listed in list.interfaces {
        let iface = match socket.fetch(&listed.name) {
            Ok(mut iface) => {
                iface.stats = listed.stats;
                iface
            }
            Err(err) => {
                let why = if err.raw_os_error() == Some(libc::ENODEV) {
                    "Device not found".to_string()
                } else {
                    err.to_string()
                };
                let name = String::from_utf8_lossy(&listed.name);
                eprintln!("{name}: error fetching interface information: {why}");
                // netstat stops at the first interface it cannot fetch.
                return Err(err).context("missing interface information");
            }
        };
        // Interfaces that are down only with -a.
        if iface.flags & libc::IFF_UP as u16 == 0 && !flags.all {
            continue;
        }
        printer.interface(&iface, &inet6, out)?;
    }
    Ok(())
}
