//! netstat's views: `enetstat [netstat options]`, answered by the daemon when one runs, else from
//! a snapshot of /proc and sock_diag.

#[cfg(test)]
mod golden_tests;
mod groups;
pub(crate) mod interfaces;
mod route;
mod sockets;
mod statistics;

use std::io::Write;

use crate::{
    cli::{
        SnapshotSource,
        netstat::{NetstatConfig, NetstatView},
    },
    daemon::protocol::{Request, UNSUPPORTED_VERSION, WRONG_NETNS},
    model::{
        names::{Names, NoNames},
        owners::SocketOwners,
    },
    output,
    sources::{
        daemon::{QueryError, query},
        names::SystemNames,
    },
};

/// Prints a netstat view, from the daemon or from the kernel as `source` says.
pub(crate) fn run(config: NetstatConfig, source: &SnapshotSource) -> anyhow::Result<()> {
    let mut out = output::stdout();
    match source {
        SnapshotSource::Proc => render(&config, None, &[], &mut out)?,
        SnapshotSource::Daemon { socket, args } | SnapshotSource::Auto { socket, args } => {
            let request = Request::Snapshot {
                args: args.clone(),
                hide_inodes: Vec::new(),
                netns: None,
                color: config.flags.color,
                format: config.flags.format,
            };
            let auto = matches!(source, SnapshotSource::Auto { .. });
            match query(socket, &request) {
                Ok(body) => out.write_all(&body)?,
                // No daemon, one serving another network namespace, or one too old for the
                // request (JSON): read the kernel here.
                Err(QueryError::NotRunning(_)) if auto => render(&config, None, &[], &mut out)?,
                Err(QueryError::Failed(why))
                    if auto
                        && (why.starts_with(WRONG_NETNS)
                            || why.starts_with(UNSUPPORTED_VERSION)) =>
                {
                    render(&config, None, &[], &mut out)?;
                }
                Err(err) => anyhow::bail!("{err}"),
            }
        }
    }
    out.flush()?;
    Ok(())
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
    let names: Box<dyn Names> = if flags.numeric_hosts && flags.numeric_ports && flags.numeric_users
    {
        Box::new(NoNames)
    } else {
        Box::new(SystemNames::new())
    };
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
