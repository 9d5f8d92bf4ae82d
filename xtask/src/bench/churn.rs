//! Churn overhead: how many loopback connections per second one core sustains with nothing
//! attached, with `enetstat watch > file`, with libbpf-tools `tcpstates > file`, and with an
//! equivalent bpftrace one-liner. Runs in turn, several rounds, in one scratch namespace.

use std::{path::Path, process::Command};

use anyhow::Context as _;
use clap::Args;

use super::{
    report,
    tracer::{Scratch, Tracer, cpu_seconds, ensure_tracefs},
};
use crate::{setup, util};

/// The tracers this benchmark compares, in the order measured.
const TRACERS: [Tracer; 5] = [
    Tracer::None,
    Tracer::Enetstat,
    Tracer::Serve,
    Tracer::Tcpstates,
    Tracer::Bpftrace,
];

#[derive(Args)]
pub(crate) struct ChurnArgs {
    /// Seconds of churn per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Rounds: every tracer is measured once per round, in turn.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Do not update BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
}

impl Default for ChurnArgs {
    fn default() -> Self {
        ChurnArgs {
            seconds: 5.0,
            rounds: 3,
            no_write: false,
        }
    }
}

struct Measurement {
    connections: u64,
    seconds: f64,
    /// Records written (the daemon: events received).
    written: u64,
    lost: u64,
    /// The tracer's own CPU time (user + system) over the run.
    cpu_seconds: f64,
}

pub(crate) fn run(args: ChurnArgs) -> anyhow::Result<()> {
    setup::ensure_debian_packages(&[("tcpstates", "libbpf-tools"), ("bpftrace", "bpftrace")])?;
    let enetstat = util::build_enetstat()?;
    let churn = util::build_test_binary("enetstat-churn")?;
    ensure_tracefs()?;

    let scratch = Scratch::create("bench")?;
    let mut results: Vec<(Tracer, Vec<Measurement>)> =
        TRACERS.iter().map(|t| (*t, Vec::new())).collect();
    for round in 1..=args.rounds {
        for (tracer, measurements) in &mut results {
            let m = measure(*tracer, &enetstat, &churn, &scratch, args.seconds)?;
            eprintln!(
                "xtask: round {round}: {:<30} {:>8.0} conn/s, {} written, {} lost",
                tracer.label(),
                m.connections as f64 / m.seconds,
                m.written,
                m.lost
            );
            measurements.push(m);
        }
    }
    drop(scratch);

    let rate = |ms: &[Measurement]| {
        ms.iter().map(|m| m.connections as f64).sum::<f64>()
            / ms.iter().map(|m| m.seconds).sum::<f64>()
    };
    let baseline = rate(&results[0].1);
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(tracer, ms)| {
            let connections: u64 = ms.iter().map(|m| m.connections).sum();
            let (written, lost): (u64, u64) = (
                ms.iter().map(|m| m.written).sum(),
                ms.iter().map(|m| m.lost).sum(),
            );
            let cpu: f64 = ms.iter().map(|m| m.cpu_seconds).sum();
            let cpu_per_million = if written > 0 {
                format!("{:.2}", cpu / written as f64 * 1e6)
            } else {
                "-".to_string()
            };
            let events = if *tracer == Tracer::None {
                ("-".to_string(), "-".to_string(), "-".to_string())
            } else {
                // Each connection is 10 transitions (5 per side); the listener adds 2 per run.
                let expected = connections * 10 + 2 * ms.len() as u64;
                (expected.to_string(), written.to_string(), lost.to_string())
            };
            vec![
                tracer.label().to_string(),
                format!("{:.0}", rate(ms)),
                format!("{:.2}×", rate(ms) / baseline),
                events.0,
                events.1,
                events.2,
                cpu_per_million,
            ]
        })
        .collect();
    let table = report::markdown_table(
        &[
            "tracer",
            "connections/s",
            "ratio",
            "transitions made",
            "written",
            "lost (reported)",
            "tracer CPU s per million events",
        ],
        &rows,
    );
    println!("{table}");

    let of = |tracer: Tracer| {
        &results
            .iter()
            .find(|(t, _)| *t == tracer)
            .expect("every tracer is measured")
            .1
    };
    let verdict = format!(
        "Targets: enetstat watch ≥ 0.90× with 0 lost, and > 3× tcpstates' throughput; enetstat serve ≥ 0.95×. Measured: watch {:.2}× ({:.1}× tcpstates, {} lost); serve {:.2}× ({} lost).\n",
        rate(of(Tracer::Enetstat)) / baseline,
        rate(of(Tracer::Enetstat)) / rate(of(Tracer::Tcpstates)),
        of(Tracer::Enetstat).iter().map(|m| m.lost).sum::<u64>(),
        rate(of(Tracer::Serve)) / baseline,
        of(Tracer::Serve).iter().map(|m| m.lost).sum::<u64>(),
    );
    println!("{verdict}");
    if !args.no_write {
        let body = format!(
            "## Churn overhead\n\n`cargo xtask bench churn --seconds {} --rounds {}` on {}: one thread doing loopback connect/accept/close in a scratch namespace, {} rounds of each tracer in turn, {} s each.\n\n{}\n{}",
            args.seconds,
            args.rounds,
            report::machine_summary(),
            args.rounds,
            args.seconds,
            table,
            verdict
        );
        report::update_section(
            &util::workspace_root().join("BENCHMARKS.md"),
            "churn",
            &body,
        )?;
    }
    Ok(())
}

fn measure(
    tracer: Tracer,
    enetstat: &Path,
    churn: &Path,
    scratch: &Scratch,
    seconds: f64,
) -> anyhow::Result<Measurement> {
    let running = tracer.start(enetstat, &scratch.dir)?;
    // From the churn's start: a daemon's start-up (its snapshot, ~0.2 s) is not per event.
    let cpu_before = running.as_ref().map_or(0.0, |r| cpu_seconds(r.pid()));
    let out = util::output_of(
        Command::new("ip")
            .args(["netns", "exec", &scratch.ns])
            .arg(churn)
            .arg(seconds.to_string()),
    )?;
    let (connections, measured) =
        parse_churn(&out).with_context(|| format!("churn printed {out:?}"))?;
    let (written, lost, cpu) = match running {
        None => (0, 0, 0.0),
        Some(running) => {
            let counts = running.finish(enetstat)?;
            (counts.written, counts.lost, counts.cpu_seconds - cpu_before)
        }
    };
    Ok(Measurement {
        connections,
        seconds: measured,
        written,
        lost,
        cpu_seconds: cpu,
    })
}

/// `connections=N seconds=S` -> (N, S).
pub(crate) fn parse_churn(out: &str) -> Option<(u64, f64)> {
    Some((
        util::field(out, "connections")?,
        util::field(out, "seconds")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_churn_output() {
        assert_eq!(
            parse_churn("connections=640 seconds=1.002\n"),
            Some((640, 1.002))
        );
        assert_eq!(parse_churn("garbage"), None);
    }

    #[test]
    fn reads_each_tracers_loss_messages() {
        assert_eq!(Tracer::Enetstat.reported_lost("enetstat: 12 transition records lost: ring buffer full\nenetstat: 3 transition records lost: x\n"), 15);
        assert_eq!(
            Tracer::Tcpstates.reported_lost("lost 7 events on CPU #1\nlost 2 events on CPU #0\n"),
            9
        );
        assert_eq!(
            Tracer::Bpftrace.reported_lost("Attaching 1 probe...\nLost 40 events\n"),
            40
        );
    }
}
