//! Command-line parsing in two stages: clap's raw arguments, then a checked configuration that
//! the commands consume.

mod watch;

use clap::{Parser, Subcommand};

pub use watch::{WatchArgs, WatchConfig};

#[derive(Debug, Parser)]
#[command(
    name = "enetstat",
    version,
    about = "Live, eBPF-backed netstat: every TCP state transition as it happens",
    propagate_version = true
)]
pub struct RawArgs {
    #[command(subcommand)]
    pub command: RawCommand,
}

#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Stream every TCP state transition on this host, live (like tcpstates).
    Watch(WatchArgs),
}

/// A checked request.
#[derive(Debug)]
pub enum Config {
    Watch(WatchConfig),
}

impl RawArgs {
    pub fn check(self) -> Result<Config, String> {
        match self.command {
            RawCommand::Watch(args) => args.check().map(Config::Watch),
        }
    }
}
