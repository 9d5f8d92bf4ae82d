//! Interface probe overhead: bulk throughput over loopback and over a veth pair between two
//! scratch namespaces, with `enetstat watch --interfaces` attached and not, in turn (off, on,
//! on with BPF run-time statistics; several rounds) in one run. Also: the probes' cost per run and
//! per packet from the kernel's run-time statistics, and whether enetstat's totals agree with the
//! kernel's interface counters once the traffic has stopped.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use super::{
    bpf_stats::{Runs, program_runs},
    report,
    tracer::TracerProcess,
};
use crate::util;

#[derive(Args)]
pub(crate) struct InterfacesArgs {
    /// Seconds of traffic per measurement.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Rounds: every variant (off, on, on with run-time statistics) is measured once per round,
    /// in turn.
    #[arg(long, default_value_t = 6)]
    rounds: u32,
    /// What to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Medium::ALL)]
    media: Vec<Medium>,
    /// Do not update BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
}

/// The target for bulk TCP: throughput with the probes attached over throughput without.
const TARGET: f64 = 0.98;

/// The target for 64-byte UDP, the per-packet worst case.
const UDP_TARGET: f64 = 0.95;

/// Kernel run time per packet per enetstat on loopback (BPF run-time statistics).
const NS_PER_PACKET_TARGET: f64 = 120.0;

/// Seconds between enetstat's counter lines: short, so a line after the traffic comes soon.
const INTERVAL: &str = "0.5";

const SENDER_ADDR: &str = "192.0.2.1";
const RECEIVER_ADDR: &str = "192.0.2.2";
const PORT: u16 = 9100;

/// Parallel TCP streams: with one, this 2-CPU machine's throughput is bound by wakeups rather
/// than CPU (a single stream kept 0.4–0.6 of a CPU busy), so the probes' CPU cost would not
/// show.
const TCP_STREAMS: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Medium {
    TcpLo,
    TcpVeth,
    UdpLo,
    UdpVeth,
}

impl Medium {
    const ALL: [Medium; 4] = [
        Medium::TcpLo,
        Medium::TcpVeth,
        Medium::UdpLo,
        Medium::UdpVeth,
    ];

    fn label(self) -> &'static str {
        match self {
            Medium::TcpLo => "TCP bulk, loopback",
            Medium::TcpVeth => "TCP bulk, veth",
            Medium::UdpLo => "UDP 64 B, loopback",
            Medium::UdpVeth => "UDP 64 B, veth",
        }
    }

    fn is_tcp(self) -> bool {
        matches!(self, Medium::TcpLo | Medium::TcpVeth)
    }

    fn is_veth(self) -> bool {
        matches!(self, Medium::TcpVeth | Medium::UdpVeth)
    }

    /// enetstat-bulk's arguments.
    fn bulk_args(self, seconds: f64, ns: &Namespaces) -> Vec<String> {
        let mode = if self.is_tcp() {
            format!("tcp:{TCP_STREAMS}")
        } else {
            "udp".to_string()
        };
        let mut args = vec![mode, seconds.to_string()];
        if self.is_veth() {
            args.extend([
                format!("{RECEIVER_ADDR}:{PORT}"),
                "veth-b".to_string(),
                ns.receiver.clone(),
            ]);
        } else {
            args.extend([format!("127.0.0.1:{PORT}"), "lo".to_string()]);
        }
        args
    }

    /// Where enetstat runs, and the interfaces whose totals are checked there: each end of the
    /// traffic is watched in its own namespace.
    fn watched(self, ns: &Namespaces) -> Vec<(&'static str, &str, &'static str)> {
        if self.is_veth() {
            vec![
                ("sender's", ns.sender.as_str(), "veth-a"),
                ("receiver's", ns.receiver.as_str(), "veth-b"),
            ]
        } else {
            vec![("sender's", ns.sender.as_str(), "lo")]
        }
    }

    /// Packets that crossed the link, each counted once: on loopback every packet is both sent
    /// and received by lo; on veth, veth-b receives the data and sends the acknowledgements.
    fn packets(self, bulk: &Bulk) -> u64 {
        if self.is_veth() {
            bulk.rx_packets + bulk.tx_packets
        } else {
            bulk.rx_packets
        }
    }

    /// The work compared: bytes delivered (TCP) or datagrams sent (UDP, where the receiver may
    /// drop what it cannot take).
    fn work(self, bulk: &Bulk) -> f64 {
        if self.is_tcp() {
            bulk.bytes as f64
        } else {
            bulk.sent as f64
        }
    }

    fn throughput(self, bulk: &Bulk) -> f64 {
        self.work(bulk) / bulk.seconds
    }

    fn format_throughput(self, per_second: f64) -> String {
        if self.is_tcp() {
            format!("{:.2} Gbit/s", per_second * 8.0 / 1e9)
        } else {
            format!("{per_second:.0} datagrams/s")
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Off,
    On,
    /// On, with the kernel timing every BPF program run (which costs time of its own).
    OnStats,
}

impl Variant {
    /// In declaration order, so `variant as usize` indexes it.
    const ALL: [Variant; 3] = [Variant::Off, Variant::On, Variant::OnStats];

    fn label(self) -> &'static str {
        match self {
            Variant::Off => "not attached",
            Variant::On => "enetstat watch --interfaces",
            Variant::OnStats => "the same, BPF run-time statistics on",
        }
    }
}

/// Two scratch namespaces joined by a veth pair (veth-a 192.0.2.1 in the sender's, veth-b
/// 192.0.2.2 in the receiver's), IPv6 off so no neighbour discovery adds packets. Deleted on drop.
struct Namespaces {
    sender: String,
    receiver: String,
}

impl Namespaces {
    fn create() -> anyhow::Result<Self> {
        let tag = std::process::id();
        // Dropped on any failure below: deletes whichever namespaces were made.
        let ns = Namespaces {
            sender: format!("enetstat-ifbench-{tag}-a"),
            receiver: format!("enetstat-ifbench-{tag}-b"),
        };
        let ip = |args: &[&str]| util::check_status(Command::new("ip").args(args));
        let (a, b) = (ns.sender.as_str(), ns.receiver.as_str());
        for name in [a, b] {
            ip(&["netns", "add", name])?;
            ip(&[
                "netns",
                "exec",
                name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])?;
            ip(&["-n", name, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b,
        ])?;
        ip(&[
            "-n",
            a,
            "addr",
            "add",
            &format!("{SENDER_ADDR}/24"),
            "dev",
            "veth-a",
        ])?;
        ip(&[
            "-n",
            b,
            "addr",
            "add",
            &format!("{RECEIVER_ADDR}/24"),
            "dev",
            "veth-b",
        ])?;
        ip(&["-n", a, "link", "set", "veth-a", "up"])?;
        ip(&["-n", b, "link", "set", "veth-b", "up"])?;
        Ok(ns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.sender, &self.receiver] {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// One run of enetstat-bulk.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Bulk {
    bytes: u64,
    sent: u64,
    received: u64,
    seconds: f64,
    /// CPU seconds both sides used.
    cpu: f64,
    rx_packets: u64,
    tx_packets: u64,
}

fn parse_bulk(out: &str) -> Option<Bulk> {
    Some(Bulk {
        bytes: util::field(out, "bytes")?,
        sent: util::field(out, "sent")?,
        received: util::field(out, "received")?,
        seconds: util::field(out, "seconds")?,
        cpu: util::field(out, "cpu")?,
        rx_packets: util::field(out, "rx_packets")?,
        tx_packets: util::field(out, "tx_packets")?,
    })
}

/// Packet and byte totals of one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    rx_packets: u64,
    rx_bytes: u64,
    tx_packets: u64,
    tx_bytes: u64,
}

impl Totals {
    fn fields(self) -> [(&'static str, u64); 4] {
        [
            ("rx_packets", self.rx_packets),
            ("rx_bytes", self.rx_bytes),
            ("tx_packets", self.tx_packets),
            ("tx_bytes", self.tx_bytes),
        ]
    }
}

/// Packets (rx + tx) enetstat's resyncs found the kernel had counted beyond the probes.
fn sample_unseen(sample: &serde_json::Value, interface: &str) -> u64 {
    sample["interfaces"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["iface"] == interface))
        .map(|entry| {
            let n = |k: &str| entry["unseen"][k].as_u64().unwrap_or(0);
            n("rx_packets") + n("tx_packets")
        })
        .unwrap_or(0)
}

/// An interface's totals in enetstat's JSON counter line (and whether its baseline was exact).
fn sample_totals(sample: &serde_json::Value, interface: &str) -> Option<(Totals, bool)> {
    let entry = sample["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["iface"] == interface)?;
    let n = |k: &str| entry[k].as_u64();
    Some((
        Totals {
            rx_packets: n("rx_packets")?,
            rx_bytes: n("rx_bytes")?,
            tx_packets: n("tx_packets")?,
            tx_bytes: n("tx_bytes")?,
        },
        entry["exact"].as_bool().unwrap_or(false),
    ))
}

/// The kernel's own totals of an interface (`ip -s -j link`: dev_get_stats, the counters
/// /proc/net/dev prints).
fn kernel_totals(ns: &str, interface: &str) -> anyhow::Result<Totals> {
    let out = util::output_of(
        Command::new("ip").args(["-n", ns, "-s", "-j", "link", "show", "dev", interface]),
    )?;
    let links: serde_json::Value = serde_json::from_str(&out)?;
    let stats = &links[0]["stats64"];
    let n = |dir: &str, k: &str| {
        stats[dir][k]
            .as_u64()
            .with_context(|| format!("ip -s -j link: no {dir} {k} for {interface}"))
    };
    Ok(Totals {
        rx_packets: n("rx", "packets")?,
        rx_bytes: n("rx", "bytes")?,
        tx_packets: n("tx", "packets")?,
        tx_bytes: n("tx", "bytes")?,
    })
}

/// Adds up `enetstat: 12 events held back ...` lines: what -> total.
fn add_reported(totals: &mut BTreeMap<String, u64>, stderr: &str) {
    for line in stderr.lines() {
        let Some((count, what)) = line
            .strip_prefix("enetstat: ")
            .and_then(|rest| rest.split_once(' '))
        else {
            continue;
        };
        if let Ok(count) = count.parse::<u64>() {
            *totals.entry(what.to_string()).or_default() += count;
        }
    }
}

/// `enetstat watch --interfaces --json` in one namespace, output to files.
struct Watcher {
    process: TracerProcess,
    out: PathBuf,
    err: PathBuf,
}

impl Watcher {
    fn start(enetstat: &Path, ns: &str, scratch: &Path, index: usize) -> anyhow::Result<Self> {
        let out = scratch.join(format!("watch-{index}.out"));
        let err = scratch.join(format!("watch-{index}.err"));
        let mut cmd = Command::new("ip");
        // `ip netns exec` execs the program: the child's pid is enetstat's.
        cmd.args(["netns", "exec", ns])
            .arg(enetstat)
            .args(["watch", "--interfaces", "--json", "--interval", INTERVAL])
            .stdin(std::process::Stdio::null());
        let mut process = TracerProcess::spawn(cmd, "enetstat watch --interfaces", &out, &err)?;
        // The first counter line comes once the probes are attached and the baseline is read.
        process.wait_until(
            "printed its first counters",
            || !samples(&out).is_empty(),
            &err,
        )?;
        Ok(Watcher { process, out, err })
    }

    fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Waits for two more counter lines: the second was taken after this call began.
    fn next_sample_after_now(&mut self) -> anyhow::Result<serde_json::Value> {
        let seen = samples(&self.out).len();
        let out = self.out.clone();
        self.process.wait_until(
            "printed new counters",
            || samples(&out).len() >= seen + 2,
            &self.err,
        )?;
        Ok(samples(&self.out).pop().expect("waited for it"))
    }

    /// Stops enetstat; returns what it said on stderr.
    fn stop(self) -> anyhow::Result<String> {
        self.process.stop()?;
        Ok(std::fs::read_to_string(&self.err)?)
    }
}

/// enetstat's counter lines so far.
fn samples(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["type"] == "interfaces")
        .collect()
}

/// How one interface's totals compared over the rounds.
#[derive(Default)]
struct Agreement {
    /// Per round with enetstat attached: packets the kernel counted in it (rx + tx), the
    /// difference enetstat − kernel in packets (rx + tx), and the packets enetstat's resyncs
    /// found the probes had not run for (rx + tx, over the round).
    each: Vec<(u64, i64, u64)>,
    rounds: u32,
    equal: u32,
    inexact_baselines: u32,
    /// Per counter: the largest difference enetstat - kernel over the rounds, and how much the
    /// kernel's counter grew in that round.
    largest: BTreeMap<&'static str, (i64, u64)>,
}

impl Agreement {
    fn add(
        &mut self,
        enetstat: Totals,
        kernel: Totals,
        kernel_before: Totals,
        exact: bool,
        unseen: u64,
    ) {
        self.each.push((
            kernel.rx_packets + kernel.tx_packets
                - kernel_before.rx_packets
                - kernel_before.tx_packets,
            (enetstat.rx_packets + enetstat.tx_packets) as i64
                - (kernel.rx_packets + kernel.tx_packets) as i64,
            unseen,
        ));
        self.rounds += 1;
        self.equal += u32::from(enetstat == kernel);
        self.inexact_baselines += u32::from(!exact);
        let fields = enetstat
            .fields()
            .into_iter()
            .zip(kernel.fields())
            .zip(kernel_before.fields());
        for (((name, ours), (_, theirs)), (_, before)) in fields {
            let diff = ours as i64 - theirs as i64;
            let largest = self.largest.entry(name).or_default();
            if diff.abs() > largest.0.abs() {
                *largest = (diff, theirs - before);
            }
        }
    }

    fn describe(&self) -> String {
        let differences: Vec<String> = self
            .largest
            .iter()
            .filter(|(_, (diff, _))| *diff != 0)
            .map(|(name, (diff, moved))| format!("{name} {diff:+} (of {moved} in the round)"))
            .collect();
        if differences.is_empty() {
            "none".to_string()
        } else {
            differences.join(", ")
        }
    }
}

/// Everything one medium's rounds produced.
#[derive(Default)]
struct MediumResults {
    /// Per variant (in Variant::ALL's order), per round.
    runs: [Vec<Bulk>; 3],
    /// Over the statistics rounds: (namespace label, tracepoint) -> runs during the traffic.
    program_runs: BTreeMap<(&'static str, String), Runs>,
    /// Packets carried during the statistics rounds.
    stats_packets: u64,
    /// (interface, namespace label) -> agreement.
    agreement: BTreeMap<(&'static str, &'static str), Agreement>,
    /// What enetstat reported on stderr: what -> total.
    reported: BTreeMap<String, u64>,
}

struct Context<'a> {
    enetstat: &'a Path,
    bulk: &'a Path,
    ns: &'a Namespaces,
    scratch: &'a Path,
    seconds: f64,
}

fn measure(
    cx: &Context,
    medium: Medium,
    variant: Variant,
    results: &mut MediumResults,
) -> anyhow::Result<Bulk> {
    let watched = medium.watched(cx.ns);
    let mut watchers = Vec::new();
    let mut kernel_before = Vec::new();
    if variant != Variant::Off {
        for (index, (_, ns, interface)) in watched.iter().enumerate() {
            kernel_before.push(kernel_totals(ns, interface)?);
            watchers.push(Watcher::start(cx.enetstat, ns, cx.scratch, index)?);
        }
    }
    // BPF_ENABLE_STATS: the descriptor form of `sysctl kernel.bpf_stats_enabled=1`. Statistics
    // stay on while it is open, so nothing needs restoring, even if this process dies.
    let stats = (variant == Variant::OnStats)
        .then(|| aya::sys::enable_stats(aya::sys::Stats::RunTime))
        .transpose()
        .context("enabling BPF run-time statistics (BPF_ENABLE_STATS)")?;
    let before = watchers
        .iter()
        .map(|w| program_runs(w.pid()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // At nice -20 the traffic takes the CPU from other work on the machine, which otherwise
    // decides the throughput more than anything measured here.
    let out = util::output_of(
        Command::new("nice")
            .args(["-n", "-20", "ip", "netns", "exec", &cx.ns.sender])
            .arg(cx.bulk)
            .args(medium.bulk_args(cx.seconds, cx.ns)),
    )?;
    let bulk = parse_bulk(&out).with_context(|| format!("enetstat-bulk printed {out:?}"))?;
    if stats.is_some() {
        for ((label, _, _), (watcher, before)) in watched.iter().zip(watchers.iter().zip(&before)) {
            for (tp, runs) in program_runs(watcher.pid())? {
                let since = runs.since(before.get(&tp).copied().unwrap_or_default());
                results
                    .program_runs
                    .entry((*label, tp))
                    .or_default()
                    .add(since);
            }
        }
        results.stats_packets += medium.packets(&bulk);
    }
    drop(stats);
    for (((label, ns, interface), mut watcher), before) in
        watched.iter().copied().zip(watchers).zip(kernel_before)
    {
        let sample = watcher.next_sample_after_now()?;
        let kernel = kernel_totals(ns, interface)?;
        let (ours, exact) = sample_totals(&sample, interface)
            .with_context(|| format!("enetstat's counter line lacks {interface}"))?;
        results
            .agreement
            .entry((interface, label))
            .or_default()
            .add(
                ours,
                kernel,
                before,
                exact,
                sample_unseen(&sample, interface),
            );
        add_reported(&mut results.reported, &watcher.stop()?);
    }
    Ok(bulk)
}

/// kernel.bpf_stats_enabled: 1 while anyone has statistics on.
fn bpf_stats_sysctl() -> String {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub(crate) fn run(args: InterfacesArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.seconds.is_nan() || args.seconds <= 0.0 {
        bail!("--rounds and --seconds must be positive");
    }
    let enetstat = util::build_enetstat()?;
    let bulk = util::build_test_binary("enetstat-bulk")?;
    let stats_before = bpf_stats_sysctl();
    let scratch = std::env::temp_dir().join(format!("enetstat-ifbench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let all = (|| -> anyhow::Result<Vec<(Medium, MediumResults)>> {
        let ns = Namespaces::create()?;
        let cx = Context {
            enetstat: &enetstat,
            bulk: &bulk,
            ns: &ns,
            scratch: &scratch,
            seconds: args.seconds,
        };
        let mut all = Vec::new();
        for &medium in &args.media {
            let mut results = MediumResults::default();
            for round in 1..=args.rounds {
                // Each round starts with the next variant, so none always runs first or last.
                for turn in 0..Variant::ALL.len() {
                    let v = (turn + round as usize - 1) % Variant::ALL.len();
                    let variant = &Variant::ALL[v];
                    let b = measure(&cx, medium, *variant, &mut results)?;
                    eprintln!(
                        "xtask: {} round {round}: {:<36} {:>20}, {:>8.0} packets/s",
                        medium.label(),
                        variant.label(),
                        medium.format_throughput(medium.throughput(&b)),
                        medium.packets(&b) as f64 / b.seconds,
                    );
                    results.runs[v].push(b);
                }
            }
            all.push((medium, results));
        }
        Ok(all)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let all = all?;
    let stats_after = bpf_stats_sysctl();

    let text = render(&all, &stats_before, &stats_after);
    println!("{text}");
    if !args.no_write {
        let command = format!(
            "cargo xtask bench interfaces --seconds {} --rounds {}{}",
            args.seconds,
            args.rounds,
            if args.media == Medium::ALL {
                String::new()
            } else {
                format!(
                    " --media {}",
                    args.media
                        .iter()
                        .map(|m| m.to_possible_value().expect("named").get_name().to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        );
        let body = format!(
            "## Interface probe overhead\n\n`{command}` on {}: {}\n\n{text}",
            report::machine_summary(),
            method(&args)
        );
        report::update_section(
            &util::workspace_root().join("BENCHMARKS.md"),
            "interfaces",
            &body,
        )?;
    }
    Ok(())
}

fn method(args: &InterfacesArgs) -> String {
    format!(
        "enetstat-bulk ({TCP_STREAMS} TCP streams of 128 KiB writes, or 64-byte UDP datagrams \
         from one socket), run at nice -20 so that other work on the machine takes less of its \
         CPU, over loopback in a scratch namespace and over a veth pair between two scratch \
         namespaces (192.0.2.1 → 192.0.2.2). Three variants, {} rounds of {} s each, each round \
         starting with the next variant: nothing attached; `enetstat watch --interfaces --json \
         --interval {INTERVAL} > file` in the traffic's namespace (over veth, one in each \
         namespace, so both ends are counted); the same with the kernel's BPF run-time \
         statistics on (BPF_ENABLE_STATS, what `sysctl kernel.bpf_stats_enabled=1` sets, held \
         only during the traffic), which the run times below come from. Throughput is bytes \
         delivered (TCP) or datagrams sent (UDP), pooled over the rounds (total over total \
         time); the per-round column is the ratio to the round's run with nothing attached; \
         per CPU second divides the same work by the CPU time (user + system) the generator \
         used. Packets per second come from /proc/net/dev of the receiving interface.",
        args.rounds, args.seconds
    )
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Pooled over rounds: work per second and per CPU second (total over total).
fn pooled(medium: Medium, runs: &[Bulk]) -> (f64, f64) {
    let work: f64 = runs.iter().map(|b| medium.work(b)).sum();
    (
        work / runs.iter().map(|b| b.seconds).sum::<f64>(),
        work / runs.iter().map(|b| b.cpu).sum::<f64>(),
    )
}

/// One line per medium: the ratios, and the probes' own run time as a share of the CPU time the
/// traffic used (what the throughput would lose if CPU were the only limit).
fn verdict(
    medium: Medium,
    ratio: f64,
    median: f64,
    cpu_ratio: f64,
    results: &MediumResults,
) -> String {
    let run_time: u64 = results.program_runs.values().map(|r| r.run_time_ns).sum();
    let cpu: f64 = results.runs[Variant::OnStats as usize]
        .iter()
        .map(|b| b.cpu)
        .sum();
    let target = if medium.is_tcp() { TARGET } else { UDP_TARGET };
    let judged = if ratio >= target { " MET" } else { " NOT MET" };
    format!(
        "{}: {ratio:.3}× (median of rounds {median:.3}×){judged}; per CPU second {cpu_ratio:.3}×; \
         the probes ran {:.1}% of the CPU time the traffic used in the statistics rounds.",
        medium.label(),
        run_time as f64 / 1e9 / cpu * 100.0
    )
}

fn render(all: &[(Medium, MediumResults)], stats_before: &str, stats_after: &str) -> String {
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for (medium, results) in all {
        let off = &results.runs[0];
        let (rate_off, per_cpu_off) = pooled(*medium, off);
        for (v, variant) in Variant::ALL.iter().enumerate() {
            let runs = &results.runs[v];
            let (rate, per_cpu) = pooled(*medium, runs);
            let packets: f64 = runs.iter().map(|b| medium.packets(b) as f64).sum();
            let seconds: f64 = runs.iter().map(|b| b.seconds).sum();
            let mut each: Vec<f64> = runs
                .iter()
                .zip(off)
                .map(|(on, off)| medium.throughput(on) / medium.throughput(off))
                .collect();
            each.sort_by(f64::total_cmp);
            let per_round = if *variant == Variant::Off {
                "-".to_string()
            } else {
                format!(
                    "{:.3} ({:.2}–{:.2})",
                    median(&each),
                    each[0],
                    each[each.len() - 1]
                )
            };
            if *variant == Variant::On {
                verdicts.push(verdict(
                    *medium,
                    rate / rate_off,
                    median(&each),
                    per_cpu / per_cpu_off,
                    results,
                ));
            }
            rows.push(vec![
                medium.label().to_string(),
                variant.label().to_string(),
                medium.format_throughput(rate),
                format!("{:.0}", packets / seconds),
                format!("{:.3}×", rate / rate_off),
                per_round,
                medium
                    .format_throughput(per_cpu)
                    .replace("/s", " per CPU-s"),
                format!("{:.3}×", per_cpu / per_cpu_off),
            ]);
        }
    }
    let mut text = report::markdown_table(
        &[
            "traffic",
            "variant",
            "throughput",
            "packets/s",
            "ratio",
            "per-round ratio: median (range)",
            "per CPU second",
            "ratio",
        ],
        &rows,
    );
    let _ = writeln!(
        text,
        "\nTargets: throughput with the probes attached ≥ {TARGET:.2}× of without for bulk TCP, \
         ≥ {UDP_TARGET:.2}× for 64-byte UDP datagrams, the per-packet worst case (the pooled \
         ratio decides).\n"
    );
    for line in verdicts {
        let _ = writeln!(text, "- {line}");
    }
    text += "\n";

    let mut run_rows = Vec::new();
    let mut packet_rows = Vec::new();
    let mut idle = std::collections::BTreeSet::new();
    for (medium, results) in all {
        let packets = results.stats_packets.max(1) as f64;
        let mut total = Runs::default();
        for ((label, tp), runs) in &results.program_runs {
            total.add(*runs);
            if runs.run_cnt == 0 {
                idle.insert(tp.clone());
                continue;
            }
            run_rows.push(vec![
                medium.label().to_string(),
                (*label).to_string(),
                tp.clone(),
                runs.run_cnt.to_string(),
                format!("{:.2}", runs.run_cnt as f64 / packets),
                format!("{:.0}", runs.run_time_ns as f64 / runs.run_cnt as f64),
                runs.recursion_misses.to_string(),
            ]);
        }
        let instances = results
            .program_runs
            .keys()
            .map(|(label, _)| *label)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            .max(1) as f64;
        let per_enetstat = total.run_time_ns as f64 / packets / instances;
        // Each program runs for every packet of the host: runs beyond one per packet carried are
        // other traffic's (at this program's mean cost), and are left out here.
        let own: f64 = results
            .program_runs
            .values()
            .filter(|r| r.run_cnt > 0)
            .map(|r| {
                r.run_time_ns as f64 / r.run_cnt as f64 * (r.run_cnt as f64).min(packets) / packets
            })
            .sum::<f64>()
            / instances;
        let judged = match medium {
            Medium::TcpLo | Medium::UdpLo if own <= NS_PER_PACKET_TARGET => " (met)",
            Medium::TcpLo | Medium::UdpLo => " (NOT met)",
            _ => "",
        };
        packet_rows.push(vec![
            medium.label().to_string(),
            results.stats_packets.to_string(),
            total.run_cnt.to_string(),
            format!("{:.2}", total.run_cnt as f64 / packets),
            format!("{:.0}", total.run_time_ns as f64 / packets),
            format!("{per_enetstat:.0}"),
            format!("{own:.0}{judged}"),
        ]);
    }
    text += "Run time of each attached program during the traffic of the statistics rounds, per \
             enetstat (each runs on every packet of the host, and counts those of its own \
             namespace; other work on the machine adds runs too):\n\n";
    text += &report::markdown_table(
        &[
            "traffic",
            "enetstat in the",
            "tracepoint",
            "runs",
            "runs per packet",
            "ns per run",
            "recursion misses",
        ],
        &run_rows,
    );
    if !idle.is_empty() {
        let _ = writeln!(
            text,
            "\nAttached, and not run by this traffic in some namespace: {}.",
            idle.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    text += "\nPer packet carried (all programs of all enetstat instances):\n\n";
    text += &report::markdown_table(
        &[
            "traffic",
            "packets",
            "program runs",
            "runs per packet",
            "BPF ns per packet",
            "per enetstat",
            "per enetstat, own runs only",
        ],
        &packet_rows,
    );
    let _ = writeln!(
        text,
        "\nTarget: at most {NS_PER_PACKET_TARGET:.0} ns per packet per enetstat on loopback, judged \
         on the last column: every program runs for every packet of the host, and runs of a \
         program beyond one per packet carried (other work's traffic) are left out there, at \
         that program's mean cost per run. The \
         statistics themselves cost: the kernel reads the clock before and after every run, and \
         a program that returns at once measured 32 ns per run on this kind of machine, so two \
         runs per packet cannot measure below about 64 ns."
    );

    let mut agreement_rows = Vec::new();
    for (medium, results) in all {
        for ((interface, label), a) in &results.agreement {
            agreement_rows.push(vec![
                medium.label().to_string(),
                format!("{interface} ({label} namespace)"),
                a.rounds.to_string(),
                a.equal.to_string(),
                a.describe(),
                a.inexact_baselines.to_string(),
            ]);
        }
    }
    text += "\nenetstat's totals (its last JSON counter line, taken after the traffic stopped) \
             against the kernel's counters read right after (`ip -s -j link`, the numbers \
             /proc/net/dev shows), in every round with enetstat attached:\n\n";
    text += &report::markdown_table(
        &[
            "traffic",
            "interface",
            "rounds",
            "rounds equal",
            "largest differences (enetstat − kernel)",
            "inexact baselines",
        ],
        &agreement_rows,
    );
    text += "\nEvery round with enetstat attached, in order: packets the kernel counted in the \
             round (rx + tx), enetstat − kernel at the end (rx + tx), and the packets the kernel \
             counted that the probes never ran for (rx + tx), which enetstat's resync to \
             /proc/net/dev at a quiet sample added back:\n\n";
    let mut round_rows = Vec::new();
    for (medium, results) in all {
        for ((interface, label), a) in &results.agreement {
            let rounds: Vec<String> = a
                .each
                .iter()
                .map(|(moved, diff, unseen)| format!("{moved} / {diff:+} / {unseen}"))
                .collect();
            round_rows.push(vec![
                medium.label().to_string(),
                format!("{interface} ({label} namespace)"),
                rounds.join("; "),
            ]);
        }
    }
    text += &report::markdown_table(
        &[
            "traffic",
            "interface",
            "per round: kernel packets / enetstat − kernel / unseen by the probes",
        ],
        &round_rows,
    );
    let reported: Vec<String> = all
        .iter()
        .flat_map(|(medium, results)| {
            results
                .reported
                .iter()
                .map(move |(what, n)| format!("{}: {n} {what}", medium.label()))
        })
        .collect();
    text += &format!(
        "\nenetstat's own reports on stderr: {}.\n",
        if reported.is_empty() {
            "none".to_string()
        } else {
            reported.join("; ")
        }
    );
    if stats_before != "0" || stats_after != "0" {
        let _ = writeln!(
            text,
            "\nkernel.bpf_stats_enabled read {stats_before} before and {stats_after} after the \
             run: something else had statistics on, so the rounds without them may have paid \
             for them too."
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[1.0]), 1.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 9.0]), 2.5);
    }

    #[test]
    fn parses_bulk_output() {
        let b = parse_bulk(
            "bytes=4726912 sent=131968 received=73858 seconds=2.007 cpu=3.5 rx_packets=131968 tx_packets=131968\n",
        )
        .unwrap();
        assert_eq!(b.sent, 131_968);
        assert_eq!(b.seconds, 2.007);
        assert_eq!(Medium::UdpLo.packets(&b), 131_968);
        assert_eq!(Medium::UdpVeth.packets(&b), 263_936);
        assert_eq!(parse_bulk("bytes=1 seconds=2"), None);
    }

    #[test]
    fn compares_totals() {
        let kernel = Totals {
            rx_packets: 10,
            rx_bytes: 1000,
            tx_packets: 10,
            tx_bytes: 1000,
        };
        let before = Totals {
            rx_packets: 5,
            rx_bytes: 500,
            ..kernel
        };
        let mut a = Agreement::default();
        a.add(kernel, kernel, before, true, 0);
        a.add(
            Totals {
                rx_packets: 9,
                rx_bytes: 900,
                ..kernel
            },
            kernel,
            before,
            false,
            3,
        );
        assert_eq!((a.rounds, a.equal, a.inexact_baselines), (2, 1, 1));
        assert_eq!(a.each, vec![(5, 0, 0), (5, -1, 3)]);
        assert_eq!(
            a.describe(),
            "rx_bytes -100 (of 500 in the round), rx_packets -1 (of 5 in the round)"
        );
    }

    #[test]
    fn sums_enetstats_reports() {
        let stderr = "enetstat: watching interfaces (Ctrl-C to stop)\nenetstat: 3 events held back by the rate limit (still counted)\nenetstat: 4 events held back by the rate limit (still counted)\n";
        let mut totals = BTreeMap::new();
        add_reported(&mut totals, stderr);
        add_reported(
            &mut totals,
            "enetstat: 1 events held back by the rate limit (still counted)\n",
        );
        assert_eq!(
            totals.into_iter().collect::<Vec<_>>(),
            vec![(
                "events held back by the rate limit (still counted)".to_string(),
                8
            )]
        );
    }

    #[test]
    fn reads_a_counter_line() {
        let line: serde_json::Value = serde_json::from_str(r#"{"type":"interfaces","ts":"x","interfaces":[{"iface":"lo","ifindex":1,"rx_packets":5,"rx_bytes":50,"tx_packets":6,"tx_bytes":60,"exact":true}]}"#).unwrap();
        assert_eq!(
            sample_totals(&line, "lo"),
            Some((
                Totals {
                    rx_packets: 5,
                    rx_bytes: 50,
                    tx_packets: 6,
                    tx_bytes: 60
                },
                true
            ))
        );
        assert_eq!(sample_totals(&line, "veth-a"), None);
    }
}
