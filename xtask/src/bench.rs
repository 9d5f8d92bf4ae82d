//! `cargo xtask bench`: benchmarks that run enetstat and its peers side by side, in turn
//! (A B C D A B C D ...), in one run, and print ratios. Results also go to BENCHMARKS.md.

mod churn;
mod report;

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
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::setup::ensure_toolchain()?;
    match args
        .which
        .unwrap_or(Which::Churn(churn::ChurnArgs::default()))
    {
        Which::Churn(args) => churn::run(args),
    }
}
