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
    views::netstat::NetstatFlags,
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

/// Renders a view. `owners` stands in for the /proc/*/fd scan of -p when the caller keeps them
/// (the daemon); without it, -p scans. Sockets with an inode in `hidden` are left out.
pub(crate) fn render(
    config: &NetstatConfig,
    owners: Option<&SocketOwners>,
    hidden: &[u64],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let flags = &config.flags;
    let names = names_for(flags);
    match config.view {
        NetstatView::Sockets => match owners {
            Some(owners) => sockets::list(
                flags,
                names.as_ref(),
                flags.programs.then_some(owners),
                hidden,
                out,
            ),
            None => sockets::run(flags, names.as_ref(), hidden, out),
        },
        NetstatView::Route => route::run(flags, names.as_ref(), out),
        NetstatView::Statistics => statistics::run(flags, out),
        NetstatView::Interfaces => interfaces::run(flags, names.as_ref(), out),
    }
}
