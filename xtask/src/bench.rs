//! `cargo xtask bench`: benchmarks that run enetstat and its peers side by side, in turn
//! (A B C D A B C D ...), in one run, and print ratios. Results also go to BENCHMARKS.md.

mod bpf_stats;
mod churn;
mod cost;
mod interfaces;
mod report;
mod snapshot;
mod tracer;

use clap::{Args, Subcommand};

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    which: Option<Which>,
}

#[derive(Subcommand)]
enum Which {
    /// Loopback connect/accept/close throughput with each tracer attached (the default).
    Churn(churn::ChurnArgs),
    /// Tracing cost per connection (BPF run time + tracer CPU) with both cores busy: two churn
    /// loops, and nginx under wrk; idle `serve` memory.
    Cost(cost::CostArgs),
    /// Interface probe overhead: bulk TCP (and small UDP) throughput over loopback and veth with
    /// `enetstat watch --interfaces` attached and not, probe run time per packet.
    Interfaces(interfaces::InterfacesArgs),
    /// Snapshot latency of -tan and -tanp at 10,000 and 100,000 sockets, vs netstat and ss.
    Snapshot(snapshot::SnapshotArgs),
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::setup::ensure_toolchain()?;
    match args
        .which
        .unwrap_or(Which::Churn(churn::ChurnArgs::default()))
    {
        Which::Churn(args) => churn::run(args),
        Which::Cost(args) => cost::run(args),
        Which::Snapshot(args) => snapshot::run(args),
        Which::Interfaces(args) => interfaces::run(args),
    }
}
