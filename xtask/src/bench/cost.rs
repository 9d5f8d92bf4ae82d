//! Tracing cost per connection with both cores busy: the kernel's BPF run time of each tracer's
//! programs (run-time statistics) plus the tracer process's own CPU time, per connection and per
//! transition, and as a share of the workload's CPU. Two workloads: two loopback churn loops, and
//! nginx (one worker) under wrk with `Connection: close`, each in a scratch namespace. Every
//! tracer is measured in turn, several rounds; the throughput ratios against nothing attached are
//! kept beside the cost, which decides. Also the resident memory of an idle `enetstat serve`.

use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use clap::Args;

use super::{
    bpf_stats::{TracerRuns, tracer_runs},
    churn::parse_churn,
    report,
    tracer::{METRICS_ADDR, Scratch, Tracer, cpu_seconds, ensure_tracefs},
};
use crate::{setup, util};

#[derive(Args)]
pub(crate) struct CostArgs {
    /// Seconds of each workload per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Rounds: every tracer is measured once per round and workload, in turn.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Do not update BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
    /// `all`: also measure `watch --events all` (retransmit, reset and drop programs beside
    /// the transition probe) against `watch` alone.
    #[arg(long, value_name = "LIST", value_parser = ["all"])]
    events: Option<String>,
}

/// The tracers compared, in the order measured.
const TRACERS: [Tracer; 6] = [
    Tracer::None,
    Tracer::Enetstat,
    Tracer::Serve,
    Tracer::ServeMetrics,
    Tracer::Tcpstates,
    Tracer::Bpftrace,
];

/// Scrapes of `serve --metrics` spread over each of its measurements.
const SCRAPES: u32 = 5;

/// TCP state transitions per loopback connection: five on each side.
const TRANSITIONS_PER_CONNECTION: u64 = 10;

/// Where nginx listens inside the scratch namespace.
const NGINX_PORT: u16 = 8080;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Two churn loops (connect/accept/close), one per core.
    Churn,
    /// nginx with one worker, and wrk with one thread and 32 connections, each request on a
    /// connection of its own.
    Nginx,
}

impl Workload {
    const ALL: [Workload; 2] = [Workload::Churn, Workload::Nginx];

    fn label(self) -> &'static str {
        match self {
            Workload::Churn => "two churn loops",
            Workload::Nginx => "nginx + wrk, Connection: close",
        }
    }
}

/// One tracer over one workload run.
#[derive(Default)]
struct Measurement {
    connections: u64,
    seconds: f64,
    /// CPU time of the workload's processes over the run (it includes the probes' kernel time,
    /// which runs in their context).
    workload_cpu: f64,
    /// The tracer's BPF programs over the run.
    kernel: TracerRuns,
    /// The tracer's CPU time, all threads, from the run's start until it caught up.
    user_cpu: f64,
    /// Records the tracer says its buffer could not take.
    ring_lost: u64,
}

/// Each tracer's measurements on one workload, in the order of [`TRACERS`].
type WorkloadResults = (Workload, Vec<(Tracer, Vec<Measurement>)>);

/// What the tools of one run print and cost.
struct WorkloadRun {
    connections: u64,
    seconds: f64,
    cpu: f64,
}

pub(crate) fn run(args: CostArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.seconds.is_nan() || args.seconds < 1.0 {
        bail!("--rounds must be positive and --seconds at least 1");
    }
    setup::ensure_debian_packages(&[
        ("tcpstates", "libbpf-tools"),
        ("bpftrace", "bpftrace"),
        ("nginx", "nginx-light"),
        ("wrk", "wrk"),
    ])?;
    let enetstat = util::build_enetstat()?;
    let churn = util::build_test_binary("enetstat-churn")?;
    ensure_tracefs()?;
    let scratch = Scratch::create("cost")?;

    let memory = idle_serve_memory(&enetstat, &scratch.dir)?;
    eprintln!("xtask: idle serve: {}", memory.describe());

    let stats = BpfStatsSysctl::enable()?;
    let mut results: Vec<WorkloadResults> = Vec::new();
    for workload in Workload::ALL {
        let nginx = (workload == Workload::Nginx)
            .then(|| Nginx::start(&scratch))
            .transpose()?;
        let mut per_tracer: Vec<(Tracer, Vec<Measurement>)> = TRACERS
            .iter()
            .copied()
            .chain(args.events.is_some().then_some(Tracer::EnetstatAllEvents))
            .map(|t| (t, Vec::new()))
            .collect();
        for round in 1..=args.rounds {
            for (tracer, measurements) in &mut per_tracer {
                let m = measure(
                    *tracer,
                    workload,
                    &enetstat,
                    &churn,
                    nginx.as_ref(),
                    &scratch,
                    args.seconds,
                )?;
                eprintln!(
                    "xtask: {} round {round}: {:<30} {:>7.0} conn/s, {} runs, {:.0} ns/run, user {:.3} s, workload {:.2} s",
                    workload.label(),
                    tracer.label(),
                    m.connections as f64 / m.seconds,
                    m.kernel.transitions.run_cnt,
                    m.kernel.transitions.run_time_ns as f64
                        / m.kernel.transitions.run_cnt.max(1) as f64,
                    m.user_cpu,
                    m.workload_cpu,
                );
                measurements.push(m);
            }
        }
        drop(nginx);
        results.push((workload, per_tracer));
    }
    let stats_state = stats.restore()?;
    drop(scratch);

    let body = render(&args, &results, &memory, &stats_state);
    println!("{body}");
    if !args.no_write {
        report::update_section(&util::workspace_root().join("BENCHMARKS.md"), "cost", &body)?;
    }
    Ok(())
}

fn measure(
    tracer: Tracer,
    workload: Workload,
    enetstat: &Path,
    churn: &Path,
    nginx: Option<&Nginx>,
    scratch: &Scratch,
    seconds: f64,
) -> anyhow::Result<Measurement> {
    let running = tracer.start(enetstat, &scratch.dir)?;
    let before = running
        .as_ref()
        .map(|r| anyhow::Ok((tracer_runs(r.pid())?, cpu_seconds(r.pid()))))
        .transpose()?;
    let scraper = (tracer == Tracer::ServeMetrics).then(|| {
        let pause = Duration::from_secs_f64(seconds / f64::from(SCRAPES + 1));
        std::thread::spawn(move || scrape_metrics(pause))
    });
    let run = match workload {
        Workload::Churn => run_churn(churn, &scratch.ns, seconds)?,
        Workload::Nginx => nginx
            .expect("nginx runs for its workload")
            .run_wrk(&scratch.ns, seconds)?,
    };
    if let Some(scraper) = scraper {
        let scraped = scraper.join().expect("the scraper does not panic")?;
        if scraped == 0 {
            bail!("no scrape of {METRICS_ADDR} succeeded");
        }
    }
    let mut m = Measurement {
        connections: run.connections,
        seconds: run.seconds,
        workload_cpu: run.cpu,
        ..Measurement::default()
    };
    if let (Some(running), Some((runs_before, cpu_before))) = (running, before) {
        m.kernel = tracer_runs(running.pid())?.since(runs_before);
        if m.kernel.transitions.run_cnt == 0 {
            bail!(
                "{}'s transition probe counted no run over {} connections: statistics off?",
                tracer.label(),
                m.connections
            );
        }
        let counts = running.finish(enetstat)?;
        m.user_cpu = counts.cpu_seconds - cpu_before;
        m.ring_lost = counts.lost;
    }
    Ok(m)
}

/// GETs /metrics `SCRAPES` times, `pause` apart; returns how many answered 200.
fn scrape_metrics(pause: Duration) -> anyhow::Result<u32> {
    let mut ok = 0;
    for _ in 0..SCRAPES {
        std::thread::sleep(pause);
        let mut stream = std::net::TcpStream::connect(METRICS_ADDR)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
            ok += 1;
        }
    }
    Ok(ok)
}

/// Two churn loops at once, on two ports.
fn run_churn(churn: &Path, ns: &str, seconds: f64) -> anyhow::Result<WorkloadRun> {
    let loops = ["127.0.0.1:9000", "127.0.0.1:9001"]
        .iter()
        .map(|addr| {
            spawn_piped(
                Command::new("ip")
                    .args(["netns", "exec", ns])
                    .arg(churn)
                    .arg(seconds.to_string())
                    .arg(addr),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut run = WorkloadRun {
        connections: 0,
        seconds: 0.0,
        cpu: 0.0,
    };
    for child in loops {
        let (out, cpu) = wait_with_cpu(child)?;
        let (connections, measured) =
            parse_churn(&out).with_context(|| format!("churn printed {out:?}"))?;
        run.connections += connections;
        // Rates add up: the loops ran side by side.
        run.seconds = run.seconds.max(measured);
        run.cpu += cpu;
    }
    Ok(run)
}

fn spawn_piped(cmd: &mut Command) -> anyhow::Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd:?}"))
}

/// Waits for a child that must succeed: its output, and the CPU seconds (user + system) it and
/// its waited-for descendants used, from wait4's rusage.
fn wait_with_cpu(mut child: Child) -> anyhow::Result<(String, f64)> {
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("spawned with piped stdout")
        .read_to_string(&mut out)?;
    let mut status = 0;
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which nothing else reaps; both pointers are valid.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    if waited < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("workload failed (wait status {status}): {out}");
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((out, seconds(usage.ru_utime) + seconds(usage.ru_stime)))
}

/// nginx-light with one worker in the scratch namespace, stopped on drop.
struct Nginx {
    master: Child,
}

impl Nginx {
    fn start(scratch: &Scratch) -> anyhow::Result<Self> {
        let dir = scratch.dir.join("nginx");
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
                 server {{ listen 127.0.0.1:{NGINX_PORT}; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
            ),
        )?;
        let master = Command::new("ip")
            .args(["netns", "exec", &scratch.ns, "nginx", "-e"])
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let mut nginx = Nginx { master };
        for _ in 0..250 {
            if nginx.master.try_wait()?.is_some() {
                bail!(
                    "nginx exited: {}",
                    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                );
            }
            if !nginx.workers().is_empty() {
                std::thread::sleep(Duration::from_millis(300));
                return Ok(nginx);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("nginx started no worker within 5 s")
    }

    /// The master's children (`ip netns exec` execs nginx: the child is the master).
    fn workers(&self) -> Vec<u32> {
        let pid = self.master.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(self.master.id()) + self.workers().into_iter().map(cpu_seconds).sum::<f64>()
    }

    fn run_wrk(&self, ns: &str, seconds: f64) -> anyhow::Result<WorkloadRun> {
        let nginx_before = self.cpu();
        let wrk = spawn_piped(
            Command::new("ip")
                .args(["netns", "exec", ns, "wrk", "-t1", "-c32"])
                .arg(format!("-d{}s", seconds.round() as u64))
                .args(["-H", "Connection: close"])
                .arg(format!("http://127.0.0.1:{NGINX_PORT}/")),
        )?;
        let (out, wrk_cpu) = wait_with_cpu(wrk)?;
        let (requests, measured) =
            parse_wrk(&out).with_context(|| format!("wrk printed {out:?}"))?;
        Ok(WorkloadRun {
            connections: requests,
            seconds: measured,
            cpu: wrk_cpu + self.cpu() - nginx_before,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: signalling our own child; SIGQUIT is nginx's graceful stop.
        unsafe { libc::kill(self.master.id() as libc::pid_t, libc::SIGQUIT) };
        for _ in 0..250 {
            if self.master.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// wrk's `  123456 requests in 5.00s, 18.2MB read` -> (123456, 5.0).
fn parse_wrk(out: &str) -> Option<(u64, f64)> {
    let line = out.lines().find(|l| l.contains(" requests in "))?;
    let mut words = line.split_whitespace();
    let requests = words.next()?.parse().ok()?;
    let seconds = words
        .nth(2)?
        .trim_end_matches(',')
        .strip_suffix('s')?
        .parse()
        .ok()?;
    Some((requests, seconds))
}

/// `kernel.bpf_stats_enabled` set to 1 for the measurements, and set back to what it was. A
/// BPF_ENABLE_STATS descriptor is held as well: the machine is shared, and another benchmark
/// writing 0 to the sysctl would otherwise turn the statistics off in the middle of a run (the
/// kernel counts each holder).
struct BpfStatsSysctl {
    before: String,
    restored: bool,
    _held: std::os::fd::OwnedFd,
}

const BPF_STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStatsSysctl {
    fn enable() -> anyhow::Result<Self> {
        let before = std::fs::read_to_string(BPF_STATS_SYSCTL)
            .with_context(|| format!("reading {BPF_STATS_SYSCTL}"))?
            .trim()
            .to_string();
        std::fs::write(BPF_STATS_SYSCTL, "1")
            .with_context(|| format!("writing 1 to {BPF_STATS_SYSCTL}"))?;
        let held = aya::sys::enable_stats(aya::sys::Stats::RunTime)
            .context("enabling BPF run-time statistics (BPF_ENABLE_STATS)")?;
        Ok(BpfStatsSysctl {
            before,
            restored: false,
            _held: held,
        })
    }

    /// Restores the value; returns "was X, restored to Y" for the report.
    fn restore(mut self) -> anyhow::Result<String> {
        std::fs::write(BPF_STATS_SYSCTL, &self.before)?;
        self.restored = true;
        let now = std::fs::read_to_string(BPF_STATS_SYSCTL)?;
        Ok(format!(
            "kernel.bpf_stats_enabled was {} before the run, set to 1 for it, and read {} after",
            self.before,
            now.trim()
        ))
    }
}

impl Drop for BpfStatsSysctl {
    fn drop(&mut self) {
        if !self.restored {
            let _ = std::fs::write(BPF_STATS_SYSCTL, &self.before);
        }
    }
}

/// An idle daemon's memory, from /proc/PID/status, in kB.
struct Memory {
    vm_rss: u64,
    rss_anon: u64,
    rss_file: u64,
    rss_shmem: u64,
    events_lost: u64,
}

impl Memory {
    fn describe(&self) -> String {
        format!(
            "VmRSS {:.1} MB (RssAnon {:.1}, RssFile {:.1}, RssShmem {:.1}), {} events lost",
            self.vm_rss as f64 / 1000.0,
            self.rss_anon as f64 / 1000.0,
            self.rss_file as f64 / 1000.0,
            self.rss_shmem as f64 / 1000.0,
            self.events_lost
        )
    }
}

/// Starts `enetstat serve` with its defaults, waits until it answers and three seconds more, and
/// reads its resident memory.
fn idle_serve_memory(enetstat: &Path, scratch: &Path) -> anyhow::Result<Memory> {
    let running = Tracer::Serve
        .start(enetstat, scratch)?
        .expect("serve is a tracer");
    std::thread::sleep(Duration::from_secs(3));
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.pid()))?;
    let kb = |key: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {key} in /proc/PID/status"))
    };
    let memory = Memory {
        vm_rss: kb("VmRSS")?,
        rss_anon: kb("RssAnon")?,
        rss_file: kb("RssFile")?,
        rss_shmem: kb("RssShmem")?,
        events_lost: 0,
    };
    let counts = running.finish(enetstat)?;
    Ok(Memory {
        events_lost: counts.lost,
        ..memory
    })
}

/// Totals of one tracer's measurements on one workload.
struct Summary {
    connections: u64,
    seconds: f64,
    workload_cpu: f64,
    kernel: TracerRuns,
    user_cpu: f64,
    ring_lost: u64,
}

fn summarize(ms: &[Measurement]) -> Summary {
    let mut kernel = TracerRuns::default();
    for m in ms {
        kernel.add(m.kernel);
    }
    Summary {
        connections: ms.iter().map(|m| m.connections).sum(),
        seconds: ms.iter().map(|m| m.seconds).sum(),
        workload_cpu: ms.iter().map(|m| m.workload_cpu).sum(),
        kernel,
        user_cpu: ms.iter().map(|m| m.user_cpu).sum(),
        ring_lost: ms.iter().map(|m| m.ring_lost).sum(),
    }
}

impl Summary {
    fn rate(&self) -> f64 {
        self.connections as f64 / self.seconds
    }

    /// Every program of the tracer: the transition probe and any others.
    fn kernel_seconds(&self) -> f64 {
        (self.kernel.transitions.run_time_ns + self.kernel.other.run_time_ns) as f64 / 1e9
    }

    fn transitions(&self) -> u64 {
        self.kernel.transitions.run_cnt.max(1)
    }

    fn kernel_ns_per_transition(&self) -> f64 {
        self.kernel.transitions.run_time_ns as f64 / self.transitions() as f64
    }

    fn user_us_per_transition(&self) -> f64 {
        self.user_cpu * 1e6 / self.transitions() as f64
    }

    /// The part of the transitions the tracer saw that this workload made: the machine is
    /// shared, and the tracer also pays for other work's connections.
    fn ours(&self) -> f64 {
        (self.connections as f64 * TRANSITIONS_PER_CONNECTION as f64 / self.transitions() as f64)
            .min(1.0)
    }

    /// The tracer's kernel and userspace CPU seconds spent on this workload's transitions.
    fn attributed(&self) -> (f64, f64) {
        (
            self.kernel_seconds() * self.ours(),
            self.user_cpu * self.ours(),
        )
    }

    /// Tracer CPU (kernel + userspace) for this workload over the workload's own CPU.
    fn share(&self) -> f64 {
        let (kernel, user) = self.attributed();
        (kernel + user) / self.workload_cpu * 100.0
    }

    fn per_million_transitions(&self, count: u64) -> f64 {
        count as f64 * 1e6 / self.transitions() as f64
    }
}

fn render(
    args: &CostArgs,
    results: &[WorkloadResults],
    memory: &Memory,
    stats_state: &str,
) -> String {
    let mut body = format!(
        "## Tracing cost per connection\n\n`cargo xtask bench cost --seconds {} --rounds {}` on {}: \
         each workload keeps both cores busy, in a scratch namespace; every tracer is measured in \
         turn (A-B-A-B), {} rounds of {} s.\n\n\
         - Kernel: the tracer's BPF programs' `run_time_ns`/`run_cnt`/`recursion_misses` from \
         /proc/PID/fdinfo of its program descriptors, before and after the workload. One run of \
         its transition probe is one transition (anywhere on the host: the machine is shared); \
         ns/transition counts that probe only, kernel µs/connection every program the tracer \
         holds (`serve --metrics` also runs the interface probes, on every packet).\n\
         - Userspace: the tracer's CPU time, all threads (schedstat), from the workload's start \
         until it has caught up.\n\
         - Share: the tracer's CPU for the workload (kernel + userspace) / the workload processes' CPU over the same \
         window (churn: both loops; nginx: master, worker and wrk; the probes' kernel time runs \
         in their context and is part of it).\n\
         - Ours: the workload's transitions (10 per connection) / the transitions the probe \
         ran for. The machine is shared with other work that makes connections too; the \
         tracer's CPU (kernel and userspace) is scaled by this part for the per-connection and \
         share columns, the per-transition columns need no scaling.\n\
         - Per connection: that tracer CPU / connections the workload made.\n\
         - Lost: records the tracer says its buffer could not take (`serve`: its \
         `events_lost_ring_full`), and runs the kernel skipped (recursion misses), per million \
         transitions.\n\n",
        args.seconds,
        args.rounds,
        report::machine_summary(),
        args.rounds,
        args.seconds,
    );
    let mut verdict_lines = Vec::new();
    for (workload, per_tracer) in results {
        let summaries: Vec<(Tracer, Summary)> = per_tracer
            .iter()
            .map(|(t, ms)| (*t, summarize(ms)))
            .collect();
        let baseline = summaries[0].1.rate();
        let rows: Vec<Vec<String>> = summaries
            .iter()
            .map(|(tracer, s)| {
                if *tracer == Tracer::None {
                    let mut row = vec![
                        tracer.label().to_string(),
                        format!("{:.0}", s.rate()),
                        "1.00×".to_string(),
                    ];
                    row.extend((0..9).map(|_| "-".to_string()));
                    return row;
                }
                let per_connection = |seconds: f64| seconds * 1e6 / s.connections.max(1) as f64;
                let (kernel, user) = s.attributed();
                vec![
                    tracer.label().to_string(),
                    format!("{:.0}", s.rate()),
                    format!("{:.2}×", s.rate() / baseline),
                    format!("{:.0}%", s.ours() * 100.0),
                    format!("{:.2}", per_connection(kernel + user)),
                    format!("{:.2}", per_connection(kernel)),
                    format!("{:.2}", per_connection(user)),
                    format!("{:.0}", s.kernel_ns_per_transition()),
                    format!("{:.3}", s.user_us_per_transition()),
                    format!("{:.1}%", s.share()),
                    format!(
                        "{:.1} ({})",
                        s.per_million_transitions(s.ring_lost),
                        s.ring_lost
                    ),
                    format!(
                        "{:.1} ({})",
                        s.per_million_transitions(s.kernel.transitions.recursion_misses),
                        s.kernel.transitions.recursion_misses
                    ),
                ]
            })
            .collect();
        let _ = write!(
            body,
            "### {}\n\n{}\n",
            workload.label(),
            report::markdown_table(
                &[
                    "tracer",
                    "connections/s",
                    "ratio",
                    "transitions ours",
                    "µs/connection",
                    "kernel µs/conn",
                    "user µs/conn",
                    "kernel ns/transition",
                    "user µs/transition",
                    "share of workload CPU",
                    "ring full per M (total)",
                    "recursion per M (total)",
                ],
                &rows,
            )
        );
        let _ = writeln!(
            body,
            "Transitions seen (program runs) per tracer: {}; the workload made about {} per run of it.\n",
            summaries
                .iter()
                .skip(1)
                .map(|(t, s)| format!("{} {}", t.label(), s.kernel.transitions.run_cnt))
                .collect::<Vec<_>>()
                .join(", "),
            summaries
                .iter()
                .skip(1)
                .map(|(_, s)| s.connections * TRANSITIONS_PER_CONNECTION)
                .sum::<u64>()
                / (summaries.len() as u64 - 1)
                / u64::from(args.rounds)
        );
        let of = |tracer: Tracer| {
            &summaries
                .iter()
                .find(|(t, _)| *t == tracer)
                .expect("every tracer is measured")
                .1
        };
        let (watch, serve) = (of(Tracer::Enetstat), of(Tracer::Serve));
        if let Some((_, all)) = summaries
            .iter()
            .find(|(t, _)| *t == Tracer::EnetstatAllEvents)
        {
            let cost = |s: &Summary| {
                let (kernel, user) = s.attributed();
                (kernel + user) * 1e6 / s.connections.max(1) as f64
            };
            verdict_lines.push(format!(
                "- {}: `watch --events all` {:.2} µs/connection against `watch` {:.2}: {:.2}× (target ≤ 1.3×); its health programs ran {} times, {:.0} ns/run.",
                workload.label(),
                cost(all),
                cost(watch),
                cost(all) / cost(watch).max(f64::MIN_POSITIVE),
                all.kernel.other.run_cnt,
                all.kernel.other.run_time_ns as f64 / all.kernel.other.run_cnt.max(1) as f64,
            ));
        }
        verdict_lines.push(format!(
            "- {}: kernel {:.0} ns/transition for watch, {:.0} for serve (target ≤ 150); userspace watch {:.3} µs/transition (≤ 0.4), serve {:.3} µs (≤ 0.05), serve --metrics {:.3} µs; share of the workload's CPU watch {:.1}%, serve {:.1}%{}.",
            workload.label(),
            watch.kernel_ns_per_transition(),
            serve.kernel_ns_per_transition(),
            watch.user_us_per_transition(),
            serve.user_us_per_transition(),
            of(Tracer::ServeMetrics).user_us_per_transition(),
            watch.share(),
            serve.share(),
            if *workload == Workload::Nginx {
                " (targets: serve ≤ 2%, watch ≤ 5%)"
            } else {
                ""
            },
        ));
    }
    let _ = write!(
        body,
        "### Idle `enetstat serve`\n\nDefault settings, three seconds after it first answered: {}.\n\n\
         ### Against the issue's targets\n\n{}\n- Idle serve: VmRSS {:.1} MB (target ≤ 24 MB, with 0 lost in this benchmark: the `serve` rows above).\n\n{stats_state}.\n",
        memory.describe(),
        verdict_lines.join("\n"),
        memory.vm_rss as f64 / 1000.0,
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let out = "Running 5s test @ http://127.0.0.1:8080/\n  1 threads and 32 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     2.10ms  300.00us   5.00ms   90.00%\n  64040 requests in 5.01s, 9.96MB read\nRequests/sec:  12782.43\n";
        assert_eq!(parse_wrk(out), Some((64040, 5.01)));
        assert_eq!(parse_wrk("garbage"), None);
    }
}
