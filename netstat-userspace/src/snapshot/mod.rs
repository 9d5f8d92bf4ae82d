//! The snapshot service: one netstat view of the kernel's tables, read through the sources and
//! rendered through the views. The CLI calls it when no daemon answers; the daemon calls it with
//! the socket owners it keeps.

pub(crate) mod groups;
pub(crate) mod interfaces;
pub(crate) mod route;
mod sockets;
pub(crate) mod statistics;

use std::{collections::HashMap, io::Write};

use anyhow::Context as _;

use crate::{
    model::{
        names::{Names, NoNames},
        netns::Namespace,
        owners::{Connection, Owner, SocketOwners},
    },
    sources::{names::SystemNames, netns},
    views::{
        netstat::NetstatFlags,
        printer::{SnapshotPrinter, printer_for},
    },
};

pub(crate) use crate::model::netstat::{NetstatConfig, NetstatView};

/// The names a view shows: none when hosts, ports and users are all numeric (`-n`), so the
/// fast path never touches a resolver; otherwise the system's, asked only for what is not.
pub(crate) fn names_for(flags: &NetstatFlags) -> Box<dyn Names> {
    if flags.numeric_hosts && flags.numeric_ports && flags.numeric_users {
        Box::new(NoNames)
    } else {
        Box::new(SystemNames::new())
    }
}

/// Renders a view in the format its flags ask for. `owners` stands in for the /proc/*/fd scan of
/// -p when the caller keeps them (the daemon); without it, -p scans. Sockets with an inode in
/// `hidden` are left out.
pub(crate) fn render(
    config: &NetstatConfig,
    owners: Option<&SocketOwners>,
    hidden: &[u64],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let names = names_for(&config.flags);
    let mut printer = printer_for(&config.flags, names.as_ref());
    render_with(config, owners, hidden, printer.as_mut(), out)
}

/// Renders a view once per namespace (`--netns`), each section named first (see
/// [`SnapshotPrinter::namespace`]) and read inside its namespace. `owners` are the daemon's
/// (with `last_owners` of each namespace's sockets no process holds), or None to scan /proc
/// once for -p: socket inodes are unique across namespaces. JSON objects are stamped with `ts`
/// when given (-c). Of several namespaces, one that goes away before it is read is left out
/// with a warning; a namespace named alone is an error.
pub(crate) fn render_namespaces(
    config: &NetstatConfig,
    namespaces: &[Namespace],
    owners: Option<(&mut SocketOwners, LastOwners<'_>)>,
    ts: Option<&str>,
    hidden: &[u64],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let programs = config.view == NetstatView::Sockets && config.flags.programs;
    let mut scanned = SocketOwners::default();
    let (owners, last_owners): (&mut SocketOwners, LastOwners<'_>) = match owners {
        Some(kept) => kept,
        None => {
            if programs {
                scanned = sockets::scan_owners_for(&config.flags);
            }
            (&mut scanned, &|_| HashMap::new())
        }
    };
    let mut first = true;
    for ns in namespaces {
        owners.set_last_owners(last_owners(ns.inode));
        let owners = &*owners;
        let section = netns::in_namespace(ns, || -> anyhow::Result<Vec<u8>> {
            let names = names_for(&config.flags);
            let mut printer = printer_for(&config.flags, names.as_ref());
            printer.stamp(ts.map(str::to_string));
            let mut section = Vec::new();
            printer.namespace(ns, first, &mut section)?;
            let owners = programs.then_some(owners);
            render_with(config, owners, hidden, printer.as_mut(), &mut section)?;
            Ok(section)
        })
        .and_then(|section| section);
        match section {
            Ok(section) => {
                out.write_all(&section)?;
                first = false;
            }
            Err(err) if namespaces.len() > 1 && !netns::exists(ns) => {
                log::warn!(
                    "network namespace {} went away before it was read: {err:#}",
                    ns.inode
                );
            }
            Err(err) => {
                return Err(err).with_context(|| format!("network namespace {}", ns.inode));
            }
        }
    }
    Ok(())
}

/// The last owners of one namespace's sockets that no process holds, by its inode.
pub(crate) type LastOwners<'a> = &'a dyn Fn(u64) -> HashMap<Connection, Owner>;

/// [`render`] through a printer the caller keeps across refreshes (-c).
pub(crate) fn render_with(
    config: &NetstatConfig,
    owners: Option<&SocketOwners>,
    hidden: &[u64],
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let flags = &config.flags;
    match config.view {
        NetstatView::Sockets => match owners {
            Some(owners) => sockets::list(
                flags,
                config.filter.as_ref(),
                flags.programs.then_some(owners),
                hidden,
                printer,
                out,
            ),
            None => sockets::run(flags, config.filter.as_ref(), hidden, printer, out),
        },
        NetstatView::Route => route::run(flags, printer, out),
        NetstatView::Statistics => statistics::run(flags, printer, out),
        NetstatView::Interfaces => interfaces::run(flags, printer, out),
    }
}
