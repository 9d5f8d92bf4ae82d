//! Churn overhead: how many loopback connections per second one core sustains with nothing
//! attached, with `enetstat watch > file`, with libbpf-tools `tcpstates > file`, and with an
//! equivalent bpftrace one-liner. Runs in turn, several rounds, in one scratch namespace.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use clap::Args;

use super::{report, tracer::TracerProcess};
use crate::{setup, util};

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

/// The bpftrace program: the same fields as the other tracers' lines, one printf per transition.
const BPFTRACE_PROGRAM: &str = r#"tracepoint:sock:inet_sock_set_state /args->protocol == 6/ { printf("%llu %d %s %d %d %d %d %d\n", nsecs, pid, comm, args->family, args->sport, args->dport, args->oldstate, args->newstate); }"#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tracer {
    None,
    Enetstat,
    Serve,
    Tcpstates,
    Bpftrace,
}

/// The control socket of the daemon under test.
const SERVE_SOCKET: &str = "/run/enetstat-bench/churn.sock";

impl Tracer {
    const ALL: [Tracer; 5] = [
        Tracer::None,
        Tracer::Enetstat,
        Tracer::Serve,
        Tracer::Tcpstates,
        Tracer::Bpftrace,
    ];

    fn label(self) -> &'static str {
        match self {
            Tracer::None => "nothing attached",
            Tracer::Enetstat => "enetstat watch > file",
            Tracer::Serve => "enetstat serve (daemon)",
            Tracer::Tcpstates => "libbpf-tools tcpstates > file",
            Tracer::Bpftrace => "bpftrace one-liner > file",
        }
    }

    fn command(self, enetstat: &Path) -> Option<Command> {
        let mut cmd = match self {
            Tracer::None => return None,
            Tracer::Enetstat => {
                let mut cmd = Command::new(enetstat);
                cmd.arg("watch");
                cmd
            }
            Tracer::Serve => {
                let mut cmd = Command::new(enetstat);
                cmd.args(["serve", "--socket", SERVE_SOCKET]);
                cmd
            }
            Tracer::Tcpstates => Command::new("tcpstates"),
            Tracer::Bpftrace => {
                let mut cmd = Command::new("bpftrace");
                cmd.args(["-e", BPFTRACE_PROGRAM]);
                cmd
            }
        };
        cmd.stdin(Stdio::null());
        Some(cmd)
    }

    /// Lines of its output that are not transitions (headers, banners).
    fn is_record(self, line: &str) -> bool {
        match self {
            Tracer::None | Tracer::Serve => false,
            Tracer::Enetstat => !line.starts_with("TIME "),
            Tracer::Tcpstates => !line.starts_with("SKADDR"),
            Tracer::Bpftrace => line.starts_with(|c: char| c.is_ascii_digit()),
        }
    }

    /// Records the tracer itself says it lost, from its own messages.
    fn reported_lost(self, output: &str) -> u64 {
        let number_before = |line: &str, marker: &str| -> Option<u64> {
            let before = &line[..line.find(marker)?];
            before.split_whitespace().last()?.parse().ok()
        };
        let number_after = |line: &str, marker: &str| -> Option<u64> {
            line[line.find(marker)? + marker.len()..]
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        output
            .lines()
            .filter_map(|line| match self {
                Tracer::None | Tracer::Serve => None,
                Tracer::Enetstat => number_before(line, " transition records lost"),
                Tracer::Tcpstates => number_after(line, "lost "),
                Tracer::Bpftrace => number_after(line, "Lost "),
            })
            .sum()
    }
}

struct Measurement {
    connections: u64,
    seconds: f64,
    /// Records written (the daemon: events received).
    written: u64,
    lost: u64,
    /// The tracer's own CPU time (all threads, user + system) from the start of the churn to
    /// the end of its drain: start-up (BTF, the daemon's snapshot) is not counted.
    cpu_seconds: f64,
}

/// A process's CPU seconds, all threads, from the first field of each thread's
/// /proc/PID/task/TID/schedstat (nanoseconds; /proc/PID/stat ticks at 10 ms, too coarse here).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// (events received, events lost) from the daemon's status.
fn daemon_counts(enetstat: &Path) -> anyhow::Result<(u64, u64)> {
    let out = util::output_of(Command::new(enetstat).args([
        "status",
        "--json",
        "--socket",
        SERVE_SOCKET,
    ]))?;
    let status: serde_json::Value = serde_json::from_str(&out)?;
    let count = |k: &str| status[k].as_u64().unwrap_or(0);
    Ok((count("events_received"), count("events_lost")))
}

pub(crate) fn run(args: ChurnArgs) -> anyhow::Result<()> {
    setup::ensure_debian_packages(&[("tcpstates", "libbpf-tools"), ("bpftrace", "bpftrace")])?;
    let enetstat = util::build_enetstat()?;
    let churn = util::build_test_binary("enetstat-churn")?;
    ensure_tracefs()?;

    let ns = format!("enetstat-bench-{}", std::process::id());
    util::check_status(Command::new("ip").args(["netns", "add", &ns]))?;
    let result = (|| -> anyhow::Result<Vec<(Tracer, Vec<Measurement>)>> {
        util::check_status(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
        let scratch = std::env::temp_dir().join(format!("enetstat-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        let mut results: Vec<(Tracer, Vec<Measurement>)> =
            Tracer::ALL.iter().map(|t| (*t, Vec::new())).collect();
        for round in 1..=args.rounds {
            for (tracer, measurements) in &mut results {
                let m = measure(*tracer, &enetstat, &churn, &ns, args.seconds, &scratch)?;
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
        let _ = std::fs::remove_dir_all(&scratch);
        Ok(results)
    })();
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let results = result?;

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
            "## Churn overhead\n\n`cargo xtask bench churn --seconds {} --rounds {}` on {}: one thread doing loopback connect/accept/close in a scratch namespace, {} rounds of each tracer in turn, {} s each. The tracer's CPU is all its threads' (schedstat) from the churn's start to the end of its drain, start-up excluded; per million events it is µs per transition. The daemon counts the churn's transitions but, as they are of another namespace, does not apply them to its table.\n\n{}\n{}",
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

fn ensure_tracefs() -> anyhow::Result<()> {
    if Path::new("/sys/kernel/tracing/events").is_dir() {
        return Ok(());
    }
    util::check_status(Command::new("mount").args([
        "-t",
        "tracefs",
        "nodev",
        "/sys/kernel/tracing",
    ]))
}

fn measure(
    tracer: Tracer,
    enetstat: &Path,
    churn: &Path,
    ns: &str,
    seconds: f64,
    scratch: &Path,
) -> anyhow::Result<Measurement> {
    let out_path = scratch.join("out");
    let err_path = scratch.join("err");
    let programs_before = loaded_bpf_programs();
    let mut child = tracer
        .command(enetstat)
        .map(|cmd| TracerProcess::spawn(cmd, tracer.label(), &out_path, &err_path))
        .transpose()?;
    if let Some(process) = &mut child {
        // Output to a file may be buffered and tell nothing: wait for a loaded BPF program, then
        // a second more for the attach to complete.
        process.wait_until(
            "loaded a BPF program",
            || loaded_bpf_programs() > programs_before,
            &err_path,
        )?;
        std::thread::sleep(Duration::from_secs(1));
    }
    let cpu_before = child
        .as_ref()
        .map_or(0.0, |process| cpu_seconds(process.child.id()));
    let out = util::output_of(
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(churn)
            .arg(seconds.to_string()),
    )?;
    let (connections, measured) =
        parse_churn(&out).with_context(|| format!("churn printed {out:?}"))?;
    let (written, lost, cpu) = match child {
        None => (0, 0, 0.0),
        Some(process) => {
            // The daemon has applied everything once its ring is drained (20 ms at most).
            std::thread::sleep(Duration::from_millis(200));
            let daemon = (tracer == Tracer::Serve)
                .then(|| daemon_counts(enetstat))
                .transpose()?;
            let cpu = cpu_seconds(process.child.id()) - cpu_before;
            process.stop()?;
            let output = std::fs::read_to_string(&out_path)?;
            let messages = std::fs::read_to_string(&err_path)? + &output;
            let (written, lost) = daemon.unwrap_or_else(|| {
                let written = output.lines().filter(|l| tracer.is_record(l)).count() as u64;
                (written, tracer.reported_lost(&messages))
            });
            (written, lost, cpu)
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

fn loaded_bpf_programs() -> usize {
    aya::programs::loaded_programs().count()
}

/// `connections=N seconds=S` -> (N, S).
fn parse_churn(out: &str) -> Option<(u64, f64)> {
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
