//! Command-line parsing in two stages: clap's raw arguments, then a checked configuration that
//! the commands consume.

pub mod netstat;
mod watch;

use clap::{Parser, Subcommand};

pub use netstat::{NetstatArgs, NetstatConfig};
pub use watch::{WatchArgs, WatchConfig};

#[derive(Debug, Parser)]
#[command(
    name = "enetstat",
    version,
    about = "Live, eBPF-backed netstat: netstat's views, and every TCP state transition as it happens",
    propagate_version = true,
    args_conflicts_with_subcommands = true
)]
pub struct RawArgs {
    #[command(flatten)]
    pub netstat: NetstatArgs,
    #[command(subcommand)]
    pub command: Option<RawCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Stream every TCP state transition on this host, live (like tcpstates).
    Watch(WatchArgs),
}

/// A checked request.
#[derive(Debug)]
pub enum Config {
    /// netstat's views, from a snapshot.
    Netstat(NetstatConfig),
    Watch(WatchConfig),
}

impl RawArgs {
    pub fn check(self) -> Result<Config, String> {
        match self.command {
            None => self.netstat.check().map(Config::Netstat),
            Some(RawCommand::Watch(args)) => args.check().map(Config::Watch),
        }
    }
}
