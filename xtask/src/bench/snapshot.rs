//! Snapshot latency: `enetstat -tan` / `-tanp` against `netstat` and `ss -tan` / `ss -tanp`, at
//! 10,000 and 100,000 TCP sockets held open in a scratch namespace. Tools run in turn, several
//! rounds; the table reports medians.

use std::{
    fs::File,
    io::{BufRead as _, BufReader},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Args;

use super::report;
use crate::util;

#[derive(Args)]
pub(crate) struct SnapshotArgs {
    /// Socket counts to measure at (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    sizes: Vec<usize>,
    /// Rounds: every tool runs once per round, in turn.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Do not update BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
    /// Instead: `enetstat -tan --netns all` over this many namespaces (each with
    /// --per-netns sockets), against `ip netns exec NS ss -tan` summed over them.
    #[arg(long, value_name = "COUNT")]
    netns: Option<usize>,
    /// TCP sockets in each namespace, with --netns.
    #[arg(long, default_value_t = 1_000)]
    per_netns: usize,
}

/// (label, program, args); the program "enetstat" means the freshly built binary.
const TOOLS: &[(&str, &str, &[&str])] = &[
    ("netstat -tan", "netstat", &["-tan"]),
    ("ss -tan", "ss", &["-tan"]),
    ("enetstat -tan", "enetstat", &["-tan"]),
    ("netstat -tanp", "netstat", &["-tanp"]),
    ("ss -tanp", "ss", &["-tanp"]),
    ("enetstat -tanp", "enetstat", &["-tanp"]),
    (
        "enetstat -tan from the daemon",
        "enetstat",
        &["--source", "daemon", "--socket", DAEMON_SOCKET, "-tan"],
    ),
    (
        "enetstat -tanp from the daemon",
        "enetstat",
        &["--source", "daemon", "--socket", DAEMON_SOCKET, "-tanp"],
    ),
];

/// The benchmark daemon's control socket (one namespace at a time).
const DAEMON_SOCKET: &str = "/run/enetstat-bench/enetstat.sock";

/// `enetstat serve` in the namespace; stopped (SIGINT) on drop.
struct Daemon {
    child: Child,
}

impl Daemon {
    /// In namespace `ns`, or in this process's when None.
    fn start(enetstat: &Path, ns: Option<&str>) -> anyhow::Result<Self> {
        let mut command = match ns {
            Some(ns) => {
                let mut ip = Command::new("ip");
                ip.args(["netns", "exec", ns]).arg(enetstat);
                ip
            }
            None => Command::new(enetstat),
        };
        let mut child = command
            .args(["serve", "--socket", DAEMON_SOCKET])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting enetstat serve")?;
        // Other lines (such as a tracefs mount) may come first.
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut seen = Vec::new();
        for line in stderr.lines() {
            let line = line?;
            if line.contains("serving on") {
                return Ok(Daemon { child });
            }
            seen.push(line);
        }
        bail!("enetstat serve did not start: {}", seen.join("\n"))
    }

    /// The daemon's status (resident memory, sockets tracked, ...).
    fn status(enetstat: &Path) -> anyhow::Result<serde_json::Value> {
        let out = util::output_of(Command::new(enetstat).args([
            "status",
            "--json",
            "--socket",
            DAEMON_SOCKET,
        ]))?;
        Ok(serde_json::from_str(&out)?)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// Resident bytes per tracked socket, from two daemon statuses.
fn bytes_per_socket(before: &serde_json::Value, after: &serde_json::Value) -> Option<f64> {
    let rss = |v: &serde_json::Value| v["rss_bytes"].as_f64();
    let tracked = |v: &serde_json::Value| v["sockets_tracked"].as_f64();
    let sockets = tracked(after)? - tracked(before)?;
    let grown = rss(after)? - rss(before)?;
    (sockets > 0.0).then_some(grown / sockets)
}

/// Sockets one holder process keeps (its fd limit is the machine's hard limit).
fn sockets_per_holder() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let usable = (limit.rlim_max as usize).saturating_sub(256).min(30_000);
    usable - usable % 2
}

struct Holders {
    children: Vec<Child>,
}

impl Holders {
    /// Starts holder processes in `ns` until `total` sockets are open.
    fn start(holder: &Path, ns: &str, total: usize) -> anyhow::Result<Self> {
        let per = sockets_per_holder();
        let mut holders = Holders {
            children: Vec::new(),
        };
        let mut left = total;
        // Below the ephemeral range, so no connect() can take a listener's port first.
        let mut port = 5_000;
        while left > 0 {
            let count = left.min(per);
            let mut child = Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(holder)
                .args([count.to_string(), port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("starting a socket holder")?;
            let stdout = child.stdout.take().expect("piped");
            holders.children.push(child);
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            if !line.starts_with("ready") {
                bail!("socket holder failed: {line:?}");
            }
            left -= count;
            port += 1;
        }
        Ok(holders)
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        for child in &mut self.children {
            drop(child.stdin.take()); // EOF: the holder exits
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// Wall time, and the child's own user and system CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Timing {
    wall: Duration,
    user: Duration,
    system: Duration,
}

/// Runs `program args` with this thread inside the namespace (children inherit it), output to
/// /dev/null.
fn time_once(program: &Path, args: &[&str]) -> anyhow::Result<Timing> {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdout(File::create("/dev/null")?)
        .stderr(Stdio::null())
        .spawn()?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, which std will not reap; both pointers are to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if pid < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!(
            "{} {} failed (wait status {status})",
            program.display(),
            args.join(" ")
        );
    }
    let cpu = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Timing {
        wall,
        user: cpu(usage.ru_utime),
        system: cpu(usage.ru_stime),
    })
}

/// The run with the median wall time.
fn median(mut values: Vec<Timing>) -> Timing {
    values.sort();
    values[values.len() / 2]
}

pub(crate) fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    if let Some(count) = args.netns {
        return run_namespaces(&args, count);
    }
    let enetstat = util::build_enetstat()?;
    let holder = util::build_test_binary("enetstat-hold-sockets")?;
    let program = |name: &str| -> PathBuf {
        if name == "enetstat" {
            enetstat.clone()
        } else {
            PathBuf::from(name)
        }
    };

    let mut rows = Vec::new();
    let mut memory = Vec::new();
    for &size in &args.sizes {
        let ns = format!("enetstat-snap-{}-{size}", std::process::id());
        util::check_status(Command::new("ip").args(["netns", "add", &ns]))?;
        let result = (|| -> anyhow::Result<Vec<(usize, &str, Timing)>> {
            util::check_status(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
            util::check_status(Command::new("ip").args([
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_local_port_range=10000 65000",
            ]))?;
            // The daemon starts in the empty namespace and learns the sockets from events.
            let _daemon = Daemon::start(&enetstat, Some(&ns))?;
            let empty = Daemon::status(&enetstat)?;
            let _holders = Holders::start(&holder, &ns, size)?;
            std::thread::sleep(Duration::from_secs(1));
            let full = Daemon::status(&enetstat)?;
            memory.push((
                size,
                full["sockets_tracked"].clone(),
                bytes_per_socket(&empty, &full),
            ));
            let ns_file = File::open(format!("/run/netns/{ns}"))?;
            // Measure from a thread that entered the namespace, so no `ip netns exec` wrapper
            // is timed.
            let measured = std::thread::scope(|scope| {
                scope
                    .spawn(|| -> anyhow::Result<Vec<Vec<Timing>>> {
                        // SAFETY: a valid netns fd; only this thread moves.
                        if unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                            bail!("setns: {}", std::io::Error::last_os_error());
                        }
                        let mut times = vec![Vec::new(); TOOLS.len()];
                        for (_, name, tool_args) in TOOLS {
                            time_once(&program(name), tool_args)?; // warm-up, not counted
                        }
                        for _ in 0..args.rounds {
                            for (i, (_, name, tool_args)) in TOOLS.iter().enumerate() {
                                times[i].push(time_once(&program(name), tool_args)?);
                            }
                        }
                        Ok(times)
                    })
                    .join()
                    .map_err(|_| anyhow::anyhow!("measuring thread panicked"))?
            })?;
            Ok(TOOLS
                .iter()
                .zip(measured)
                .map(|((label, _, _), times)| (size, *label, median(times)))
                .collect())
        })();
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        rows.extend(result?);
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let lookup = |size: usize, label: &str| {
        rows.iter()
            .find(|(s, l, _)| *s == size && *l == label)
            .map(|(_, _, t)| t.wall)
            .expect("measured")
    };
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(size, label, t)| {
            let d = &t.wall;
            let columns = if label.contains("-tanp") {
                ("netstat -tanp", "ss -tanp")
            } else {
                ("netstat -tan", "ss -tan")
            };
            vec![
                size.to_string(),
                label.to_string(),
                format!("{:.1}", ms(*d)),
                format!("{:.2}×", ms(*d) / ms(lookup(*size, columns.0))),
                format!("{:.2}×", ms(*d) / ms(lookup(*size, columns.1))),
                format!("{:.0} / {:.0}", ms(t.user), ms(t.system)),
            ]
        })
        .collect();
    let table = report::markdown_table(
        &[
            "TCP sockets",
            "command",
            "median ms",
            "vs netstat",
            "vs ss",
            "CPU ms user / system",
        ],
        &table_rows,
    );
    println!("{table}");
    let memory_rows: Vec<Vec<String>> = memory
        .iter()
        .map(|(size, tracked, per_socket)| {
            vec![
                size.to_string(),
                tracked.to_string(),
                per_socket.map_or("-".to_string(), |b| format!("{b:.0}")),
            ]
        })
        .collect();
    let memory_table = report::markdown_table(
        &[
            "TCP sockets held",
            "tracked by the daemon",
            "resident bytes per tracked socket",
        ],
        &memory_rows,
    );
    println!("{memory_table}");
    if !args.no_write {
        let body = format!(
            "## Snapshot latency\n\n`cargo xtask bench snapshot --rounds {}`: established loopback pairs held open in a scratch namespace, each command run in turn {} times after a warm-up, output to /dev/null; medians.\n\n{}\nTargets: enetstat at least as fast as ss (≤ 1.00× ss) and ≥ 10× faster than netstat (≤ 0.10× netstat), for -tan and -tanp; from the daemon, ≤ 0.5× ss.\n\nDaemon memory: `enetstat serve` started in the empty namespace, resident memory read from its status before and after the sockets were made (target ≤ 200 B per tracked socket).\n\n{}",
            args.rounds, args.rounds, table, memory_table
        );
        report::update_section(
            &util::workspace_root().join("BENCHMARKS.md"),
            "snapshot",
            &body,
        )?;
    }
    Ok(())
}

/// Scratch namespaces, deleted on drop.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// `enetstat -tan --netns all` (one process entering each namespace in turn) against what a
/// user does without it, `ip netns exec NS ss -tan` for each namespace, summed; and the
/// daemon's memory per socket it tracks across the namespaces.
fn run_namespaces(args: &SnapshotArgs, count: usize) -> anyhow::Result<()> {
    let enetstat = util::build_enetstat()?;
    let holder = util::build_test_binary("enetstat-hold-sockets")?;
    // The daemon runs in this namespace and follows the others from their start.
    let _daemon = Daemon::start(&enetstat, None)?;
    let empty = Daemon::status(&enetstat)?;
    let mut namespaces = Namespaces(Vec::new());
    let mut holders = Vec::new();
    for i in 0..count {
        let ns = format!("enetstat-snapns-{}-{i}", std::process::id());
        util::check_status(Command::new("ip").args(["netns", "add", &ns]))?;
        namespaces.0.push(ns.clone());
        util::check_status(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
        holders.push(Holders::start(&holder, &ns, args.per_netns)?);
    }
    std::thread::sleep(Duration::from_secs(2));
    let full = Daemon::status(&enetstat)?;

    let ip = PathBuf::from("ip");
    let sum_of_ss = || -> anyhow::Result<Timing> {
        let mut sum = Timing::default();
        for ns in &namespaces.0 {
            let t = time_once(&ip, &["netns", "exec", ns, "ss", "-tan"])?;
            sum.wall += t.wall;
            sum.user += t.user;
            sum.system += t.system;
        }
        Ok(sum)
    };
    // The kernel's part: ss run from a thread already inside each namespace (no exec of
    // `ip netns exec`, no mount namespace), whose system time is mostly the dump. The dump walks
    // the host's whole established hash (shared by every namespace unless it was created with
    // net.ipv4.tcp_child_ehash_entries), so each namespace's costs what all sockets cost.
    let sum_of_ss_inside = || -> anyhow::Result<Timing> {
        let mut sum = Timing::default();
        for ns in &namespaces.0 {
            let file = File::open(format!("/run/netns/{ns}"))?;
            let t = std::thread::scope(|scope| {
                scope
                    .spawn(|| -> anyhow::Result<Timing> {
                        // SAFETY: a valid netns fd; only this thread moves.
                        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                            bail!("setns: {}", std::io::Error::last_os_error());
                        }
                        time_once(Path::new("ss"), &["-tan"])
                    })
                    .join()
                    .map_err(|_| anyhow::anyhow!("measuring thread panicked"))?
            })?;
            sum.wall += t.wall;
            sum.user += t.user;
            sum.system += t.system;
        }
        Ok(sum)
    };
    let ours = || time_once(&enetstat, &["-tan", "--netns", "all", "--source", "proc"]);
    sum_of_ss()?; // warm-up
    ours()?;
    let (mut ss_times, mut inside_times, mut our_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        ss_times.push(sum_of_ss()?);
        inside_times.push(sum_of_ss_inside()?);
        our_times.push(ours()?);
    }
    let (ss, inside, ours) = (median(ss_times), median(inside_times), median(our_times));
    drop(holders);
    drop(namespaces);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let cpu = |t: &Timing| ms(t.user + t.system);
    let rows = vec![
        vec![
            format!("`ip netns exec NS ss -tan`, summed over the {count}"),
            format!("{:.1}", ms(ss.wall)),
            format!("{:.0} / {:.0}", ms(ss.user), ms(ss.system)),
            "1.00×".to_string(),
            "1.00×".to_string(),
        ],
        vec![
            format!("`ss -tan` from a thread inside each namespace, summed over the {count}"),
            format!("{:.1}", ms(inside.wall)),
            format!("{:.0} / {:.0}", ms(inside.user), ms(inside.system)),
            format!("{:.2}×", ms(inside.wall) / ms(ss.wall)),
            format!("{:.2}×", cpu(&inside) / cpu(&ss)),
        ],
        vec![
            "`enetstat -tan --netns all`".to_string(),
            format!("{:.1}", ms(ours.wall)),
            format!("{:.0} / {:.0}", ms(ours.user), ms(ours.system)),
            format!("{:.2}×", ms(ours.wall) / ms(ss.wall)),
            format!("{:.2}×", cpu(&ours) / cpu(&ss)),
        ],
    ];
    let table = report::markdown_table(
        &[
            "command",
            "median ms",
            "CPU ms user / system",
            "wall vs ss",
            "CPU vs ss",
        ],
        &rows,
    );
    println!("{table}");
    let per_socket = bytes_per_socket(&empty, &full);
    let memory = format!(
        "Daemon memory: `enetstat serve` in the host's namespace, started before the namespaces were made; {} sockets tracked in {} namespaces at the end, {} resident bytes per tracked socket (target ≤ 200).\n",
        full["sockets_tracked"],
        full["namespaces_tracked"],
        per_socket.map_or("-".to_string(), |b| format!("{b:.0}"))
    );
    println!("{memory}");
    if !args.no_write {
        let body = format!(
            "## Snapshot of every namespace\n\n`cargo xtask bench snapshot --netns {count} --per-netns {} --rounds {}`: {count} scratch namespaces, each with {} TCP sockets (established loopback pairs) held open; `--netns all` also reads the host's own namespace and any other on the machine. Medians of {} rounds, output to /dev/null. Target: ≤ 0.3× the sum of `ip netns exec NS ss -tan`.\n\n{table}\n{memory}",
            args.per_netns, args.rounds, args.per_netns, args.rounds
        );
        report::update_section(
            &util::workspace_root().join("BENCHMARKS.md"),
            "snapshot-netns",
            &body,
        )?;
    }
    Ok(())
}
