//! netstat's views: `enetstat [netstat options]`, answered by the daemon when one runs, else by
//! the snapshot service from /proc and sock_diag.

use std::{io::Write, path::PathBuf};

use crate::{
    output,
    snapshot::{self, NetstatConfig, NetstatView},
    sources::daemon::{
        client::{QueryError, query},
        protocol::{DaemonError, Request, SnapshotRequest},
    },
    sources::netns,
};

/// Where a netstat view comes from: the daemon on `socket`, the kernel, or the daemon when one
/// answers, else the kernel.
#[derive(Debug)]
pub(crate) enum SnapshotSource {
    Proc,
    Daemon { socket: PathBuf },
    Auto { socket: PathBuf },
}

/// netstat's address families that this kernel has no tables for (IPX, AX.25, ...), as named.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct FamiliesWithoutTables {
    /// netstat's names for them, as `-s` and `-r` report them.
    pub(crate) names: Vec<&'static str>,
    /// The message netstat's listing stops with (the first such family it reports), if any.
    pub(crate) listing_stops_with: Option<&'static str>,
}

/// A view that names families without tables, answered as netstat answers on this kernel: a
/// listing shows what it can, from the kernel, then stops with the first family's message (exit
/// status 1); `-s` and `-r` refuse the family, and `-i` ignores it, as netstat does.
pub(crate) fn run_without_tables(
    config: NetstatConfig,
    families: &FamiliesWithoutTables,
) -> anyhow::Result<()> {
    let named_families = config.flags.named_families;
    let names = || {
        let ours = [
            (named_families.inet, "inet"),
            (named_families.inet6, "inet6"),
            (named_families.unix, "unix"),
        ];
        let ours = ours
            .into_iter()
            .filter_map(|(named, name)| named.then_some(name));
        ours.chain(families.names.iter().copied())
            .collect::<Vec<_>>()
    };
    match config.view {
        NetstatView::Statistics => anyhow::bail!(
            "No statistics support for specified address family: {}",
            names().join(",")
        ),
        NetstatView::Route => anyhow::bail!(
            "No routing for address family `{}'.",
            families.names.join(",")
        ),
        NetstatView::Interfaces | NetstatView::Sockets => {
            let mut out = output::stdout();
            snapshot::render(&config, None, &[], &mut out)?;
            out.flush()?;
            match families.listing_stops_with {
                Some(message) if config.view == NetstatView::Sockets => anyhow::bail!(message),
                _ => Ok(()),
            }
        }
    }
}

/// Prints a netstat view, from the daemon or from the kernel as `source` says.
pub(crate) fn run(config: NetstatConfig, source: &SnapshotSource) -> anyhow::Result<()> {
    let mut out = output::stdout();
    // Read here: every namespace the spec names, each entered in a thread of its own.
    let read_here = |out: &mut dyn Write| match &config.namespaces {
        None => snapshot::render(&config, None, &[], out),
        Some(spec) => {
            snapshot::render_namespaces(&config, &netns::resolve(spec)?, None, None, &[], out)
        }
    };
    match source {
        SnapshotSource::Proc => read_here(&mut out)?,
        SnapshotSource::Daemon { socket } | SnapshotSource::Auto { socket } => {
            let request = Request::Snapshot(SnapshotRequest {
                view: config.view,
                flags: config.flags.clone(),
                hide_inodes: Vec::new(),
                netns: None,
                namespaces: config.namespaces.clone(),
            });
            let auto = matches!(source, SnapshotSource::Auto { .. });
            match query(socket, &request) {
                Ok(body) => out.write_all(&body)?,
                // No daemon, one serving another network namespace, or one that does not speak
                // this protocol version: read the kernel here.
                Err(
                    QueryError::NotRunning(_)
                    | QueryError::TooOld(_)
                    | QueryError::Refused(
                        DaemonError::WrongNetns { .. } | DaemonError::UnsupportedVersion { .. },
                    ),
                ) if auto => read_here(&mut out)?,
                Err(err) => anyhow::bail!("{err}"),
            }
        }
    }
    out.flush()?;
    Ok(())
}
