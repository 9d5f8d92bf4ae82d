//! netstat's views: `enetstat [netstat options]`, answered by the daemon when one runs, else by
//! the snapshot service from /proc and sock_diag.

use std::{io::Write, path::PathBuf};

use crate::{
    output,
    snapshot::{self, NetstatConfig},
    sources::daemon::{
        client::{QueryError, query},
        protocol::{DaemonError, Request, SnapshotRequest},
    },
};

/// Where a netstat view comes from: the daemon on `socket`, the kernel, or the daemon when one
/// answers, else the kernel.
#[derive(Debug)]
pub(crate) enum SnapshotSource {
    Proc,
    Daemon { socket: PathBuf },
    Auto { socket: PathBuf },
}

/// Prints a netstat view, from the daemon or from the kernel as `source` says.
pub(crate) fn run(config: NetstatConfig, source: &SnapshotSource) -> anyhow::Result<()> {
    let mut out = output::stdout();
    match source {
        SnapshotSource::Proc => snapshot::render(&config, None, &[], &mut out)?,
        SnapshotSource::Daemon { socket } | SnapshotSource::Auto { socket } => {
            let request = Request::Snapshot(SnapshotRequest {
                view: config.view,
                flags: config.flags.clone(),
                hide_inodes: Vec::new(),
                netns: None,
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
                ) if auto => snapshot::render(&config, None, &[], &mut out)?,
                Err(err) => anyhow::bail!("{err}"),
            }
        }
    }
    out.flush()?;
    Ok(())
}
