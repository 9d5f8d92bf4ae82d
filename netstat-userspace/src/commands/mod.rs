//! One module per subcommand: each wires sources, aggregator and views together.

pub mod continuous;
pub mod interfaces;
pub mod serve;
pub mod snapshot;
pub mod status;
pub mod watch;

/// SIGINT and SIGTERM, installed before the probes attach so that a Ctrl-C during attach still
/// goes through the command's orderly exit (drain, report losses, detach).
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub fn install() -> anyhow::Result<Self> {
        use anyhow::Context as _;
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
        })
    }

    /// Resolves at the first of either signal.
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
