//! The snapshot service: one netstat view of the kernel's tables, read through the sources and
//! rendered through the views. The CLI calls it when no daemon answers; the daemon calls it with
//! the socket owners it keeps.

pub(crate) mod groups;
pub(crate) mod interfaces;
pub(crate) mod route;
mod sockets;
pub(crate) mod statistics;

use std::io::Write;

use crate::{
    model::{
        names::{Names, NoNames},
        owners::SocketOwners,
    },
    sources::names::SystemNames,
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
                flags.programs.then_some(owners),
                hidden,
                printer,
                out,
            ),
            None => sockets::run(flags, hidden, printer, out),
        },
        NetstatView::Route => route::run(flags, printer, out),
        NetstatView::Statistics => statistics::run(flags, printer, out),
        NetstatView::Interfaces => interfaces::run(flags, printer, out),
    }
}
