//! `cargo xtask bench`: benchmarks that run enetstat and its peers side by side, in turn
//! (A B C D A B C D ...), in one run, and print ratios. Results also go to BENCHMARKS.md.

mod churn;
mod report;
mod snapshot;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Option<Which>,
}

#[derive(Subcommand)]
enum Which {
    /// Loopback connect/accept/close throughput with each tracer attached (the default).
    Churn(churn::ChurnArgs),
    /// Snapshot latency of -tan and -tanp at 10,000 and 100,000 sockets, vs netstat and ss.
    Snapshot(snapshot::SnapshotArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::setup::ensure_toolchain()?;
    match args
        .which
        .unwrap_or(Which::Churn(churn::ChurnArgs::default()))
    {
        Which::Churn(args) => churn::run(args),
        Which::Snapshot(args) => snapshot::run(args),
    }
}
