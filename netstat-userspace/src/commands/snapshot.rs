//! netstat's views: `enetstat [netstat options]`, answered by the daemon when one runs, else by
//! the snapshot service from /proc and sock_diag.

use std::{io::Write, path::PathBuf};

use crate::{
    daemon::protocol::{Request, UNSUPPORTED_VERSION, WRONG_NETNS},
    output,
    snapshot::{self, NetstatConfig},
    sources::daemon::{QueryError, query},
};

/// Where a netstat view comes from, with what the daemon needs to answer it.
#[derive(Debug)]
pub(crate) enum SnapshotSource {
    Proc,
    Daemon { socket: PathBuf, args: Vec<String> },
    Auto { socket: PathBuf, args: Vec<String> },
}

/// Prints a netstat view, from the daemon or from the kernel as `source` says.
pub(crate) fn run(config: NetstatConfig, source: &SnapshotSource) -> anyhow::Result<()> {
    let mut out = output::stdout();
    match source {
        SnapshotSource::Proc => snapshot::render(&config, None, &[], &mut out)?,
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
                Err(QueryError::NotRunning(_)) if auto => {
                    snapshot::render(&config, None, &[], &mut out)?
                }
                Err(QueryError::Failed(why))
                    if auto
                        && (why.starts_with(WRONG_NETNS)
                            || why.starts_with(UNSUPPORTED_VERSION)) =>
                {
                    snapshot::render(&config, None, &[], &mut out)?;
                }
                Err(err) => anyhow::bail!("{err}"),
            }
        }
    }
    out.flush()?;
    Ok(())
}
