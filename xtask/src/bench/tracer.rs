//! A tracer running beside a benchmark's workload: output to files, stopped with Ctrl-C, and
//! never left attached (it would slow every later measurement, and the machine). Also the
//! tracers the benchmarks compare, and how each says what it wrote and lost.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use super::bpf_stats::holds_program;
use crate::util;

/// The bpftrace program: the same fields as the other tracers' lines, one printf per transition.
const BPFTRACE_PROGRAM: &str = r#"tracepoint:sock:inet_sock_set_state /args->protocol == 6/ { printf("%llu %d %s %d %d %d %d %d\n", nsecs, pid, comm, args->family, args->sport, args->dport, args->oldstate, args->newstate); }"#;

/// The control socket of the daemon under test.
pub(crate) const SERVE_SOCKET: &str = "/run/enetstat-bench/churn.sock";

/// Where `enetstat serve --metrics` listens in the benchmarks.
pub(crate) const METRICS_ADDR: &str = "127.0.0.1:9781";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tracer {
    None,
    Enetstat,
    /// `watch --events all`: the health programs beside the transition probe.
    EnetstatAllEvents,
    Serve,
    ServeMetrics,
    Tcpstates,
    Bpftrace,
}

impl Tracer {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Tracer::None => "nothing attached",
            Tracer::Enetstat => "enetstat watch > file",
            Tracer::EnetstatAllEvents => "enetstat watch --events all > file",
            Tracer::Serve => "enetstat serve (daemon)",
            Tracer::ServeMetrics => "enetstat serve --metrics",
            Tracer::Tcpstates => "libbpf-tools tcpstates > file",
            Tracer::Bpftrace => "bpftrace one-liner > file",
        }
    }

    pub(crate) fn is_daemon(self) -> bool {
        matches!(self, Tracer::Serve | Tracer::ServeMetrics)
    }

    fn command(self, enetstat: &Path) -> Option<Command> {
        let mut cmd = match self {
            Tracer::None => return None,
            Tracer::Enetstat => {
                let mut cmd = Command::new(enetstat);
                cmd.arg("watch");
                cmd
            }
            Tracer::EnetstatAllEvents => {
                let mut cmd = Command::new(enetstat);
                cmd.args(["watch", "--events", "all"]);
                cmd
            }
            Tracer::Serve | Tracer::ServeMetrics => {
                let mut cmd = Command::new(enetstat);
                cmd.args(["serve", "--socket", SERVE_SOCKET]);
                if self == Tracer::ServeMetrics {
                    cmd.args(["--metrics", METRICS_ADDR]);
                }
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
            Tracer::None | Tracer::Serve | Tracer::ServeMetrics => false,
            Tracer::Enetstat => !line.starts_with("TIME "),
            Tracer::EnetstatAllEvents => !line.starts_with("EVENT "),
            Tracer::Tcpstates => !line.starts_with("SKADDR"),
            Tracer::Bpftrace => line.starts_with(|c: char| c.is_ascii_digit()),
        }
    }

    /// Records the tracer itself says it lost (its ring or perf buffer was full), from its own
    /// messages.
    pub(crate) fn reported_lost(self, output: &str) -> u64 {
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
                Tracer::None | Tracer::Serve | Tracer::ServeMetrics => None,
                Tracer::Enetstat => number_before(line, " transition records lost"),
                Tracer::EnetstatAllEvents => number_before(line, " event records lost"),
                Tracer::Tcpstates => number_after(line, "lost "),
                Tracer::Bpftrace => number_after(line, "Lost "),
            })
            .sum()
    }

    /// Starts the tracer (none for [`Tracer::None`]) with output into `scratch`, and returns once
    /// it has loaded its BPF program and had a second more to attach it.
    pub(crate) fn start(
        self,
        enetstat: &Path,
        scratch: &Path,
    ) -> anyhow::Result<Option<RunningTracer>> {
        let Some(cmd) = self.command(enetstat) else {
            return Ok(None);
        };
        let out = scratch.join("out");
        let err = scratch.join("err");
        let mut process = TracerProcess::spawn(cmd, self.label(), &out, &err)?;
        let pid = process.child.id();
        // Output to a file may be buffered and tell nothing: wait until it holds a BPF program
        // (the host's count of programs would not do: other work loads and unloads them), then
        // a second more for the attach to complete.
        process.wait_until("loaded a BPF program", || holds_program(pid), &err)?;
        std::thread::sleep(Duration::from_secs(1));
        if self.is_daemon() {
            // Its table is built once it answers.
            process.wait_until("answered status", || daemon_counts(enetstat).is_ok(), &err)?;
        }
        Ok(Some(RunningTracer {
            tracer: self,
            process,
            out,
            err,
        }))
    }
}

/// A started [`Tracer`] and where its output goes.
pub(crate) struct RunningTracer {
    tracer: Tracer,
    pub(crate) process: TracerProcess,
    out: PathBuf,
    err: PathBuf,
}

/// What a tracer wrote and lost, once stopped.
pub(crate) struct TracerCounts {
    /// Records written (the daemon: events received).
    pub(crate) written: u64,
    /// Records it says it lost because its buffer was full (the daemon: all causes but
    /// recursion, which the benchmarks read from the kernel).
    pub(crate) lost: u64,
    /// Its CPU time since it started, all threads ([`cpu_seconds`]), after the catch-up.
    pub(crate) cpu_seconds: f64,
}

impl RunningTracer {
    pub(crate) fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Lets the tracer catch up, stops it, and counts what it wrote and lost.
    pub(crate) fn finish(self, enetstat: &Path) -> anyhow::Result<TracerCounts> {
        // The daemon has applied everything once its ring is drained (20 ms at most).
        std::thread::sleep(Duration::from_millis(200));
        let daemon = self
            .tracer
            .is_daemon()
            .then(|| daemon_counts(enetstat))
            .transpose()?;
        let cpu = cpu_seconds(self.pid());
        self.process.stop()?;
        if let Some(counts) = daemon {
            return Ok(TracerCounts {
                cpu_seconds: cpu,
                ..counts
            });
        }
        let output = std::fs::read_to_string(&self.out)?;
        let messages = std::fs::read_to_string(&self.err)? + &output;
        Ok(TracerCounts {
            written: output.lines().filter(|l| self.tracer.is_record(l)).count() as u64,
            lost: self.tracer.reported_lost(&messages),
            cpu_seconds: cpu,
        })
    }
}

/// (events received, ring-full losses) from the daemon's status.
fn daemon_counts(enetstat: &Path) -> anyhow::Result<TracerCounts> {
    let out = util::output_of(Command::new(enetstat).args([
        "status",
        "--json",
        "--socket",
        SERVE_SOCKET,
    ]))?;
    let status: serde_json::Value = serde_json::from_str(&out)?;
    let count = |k: &str| status[k].as_u64();
    Ok(TracerCounts {
        written: count("events_received").unwrap_or(0),
        lost: count("events_lost_ring_full")
            .or_else(|| count("events_lost"))
            .unwrap_or(0),
        cpu_seconds: 0.0,
    })
}

/// A process's CPU time over all its threads, in seconds: the sum of the threads' schedstat
/// (nanoseconds on a CPU) when the kernel has it, else utime + stime of /proc/PID/stat (ticks).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    schedstat_seconds(pid).unwrap_or_else(|| stat_seconds(pid))
}

fn schedstat_seconds(pid: u32) -> Option<f64> {
    let mut total_ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total_ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total_ns as f64 / 1e9)
}

fn stat_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), counted from state = field 3.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

/// Classic tracepoints (tcpstates, bpftrace, enetstat's fallback) attach through tracefs.
pub(crate) fn ensure_tracefs() -> anyhow::Result<()> {
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

/// A scratch network namespace with loopback up, and a scratch directory; both removed on drop.
pub(crate) struct Scratch {
    pub(crate) ns: String,
    pub(crate) dir: PathBuf,
}

impl Scratch {
    pub(crate) fn create(name: &str) -> anyhow::Result<Self> {
        let ns = format!("enetstat-{name}-{}", std::process::id());
        util::check_status(Command::new("ip").args(["netns", "add", &ns]))?;
        let scratch = Scratch {
            dir: std::env::temp_dir().join(&ns),
            ns,
        };
        util::check_status(Command::new("ip").args([
            "-n",
            &scratch.ns,
            "link",
            "set",
            "lo",
            "up",
        ]))?;
        std::fs::create_dir_all(&scratch.dir)?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) struct TracerProcess {
    pub(crate) child: Child,
}

impl TracerProcess {
    /// Starts `cmd` with stdout and stderr going to `out` and `err`.
    pub(crate) fn spawn(
        mut cmd: Command,
        label: &str,
        out: &Path,
        err: &Path,
    ) -> anyhow::Result<Self> {
        let child = cmd
            .stdout(std::fs::File::create(out)?)
            .stderr(std::fs::File::create(err)?)
            .spawn()
            .with_context(|| format!("starting {label}"))?;
        Ok(TracerProcess { child })
    }

    /// Polls `ready` until it holds; fails with the tracer's stderr (`err`) if it exits first,
    /// or after 60 s.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        mut ready: impl FnMut() -> bool,
        err: &Path,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "tracer exited early ({status}): {}",
                    std::fs::read_to_string(err).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("tracer had not {what} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C, then wait for it to flush and exit.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        self.interrupt_and_wait()
    }

    fn interrupt_and_wait(&mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("tracer did not exit within 60 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for TracerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.interrupt_and_wait();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
