//! The systemd unit in dist/, checked without a running systemd: `systemd-analyze verify` accepts
//! it, and the daemon, run under the unit's capability bounding set (setpriv), answers like a
//! full-root read of the kernel, while every system call and socket family it uses is one the
//! unit's filters allow (strace, with the filters expanded by systemd-analyze). A missing tool
//! fails the test.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader},
    net::{Shutdown, TcpListener, TcpStream},
    os::unix::fs::PermissionsExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use enetstat_integration_tests::{
    compare::{difference, run_in},
    enetstat::{self, Running, TempDir},
    netns::Netns,
    prerequisite::require,
    unit_file::{self, UnitFile},
    wait, workload,
};

const SERVING: &str = "enetstat: serving on";

#[test]
fn systemd_analyze_verifies_the_unit() {
    require("systemd-analyze", "systemd");
    // verify checks that ExecStart's program exists and that the Documentation= man pages open:
    // give it the binary under test and the man pages it writes.
    let dir = TempDir::new().unwrap();
    let text = std::fs::read_to_string(unit_file::path()).unwrap();
    let exec_start = format!("ExecStart={} serve", enetstat::binary().display());
    let text: String = text
        .lines()
        .map(|line| match line.starts_with("ExecStart=") {
            true => format!("{exec_start}\n"),
            false => format!("{line}\n"),
        })
        .collect();
    let unit = dir.path.join("enetstat.service");
    std::fs::write(&unit, text).unwrap();
    let man = dir.path.join("man");
    let out = Command::new(enetstat::binary())
        .arg("man")
        .arg(man.join("man8"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", &man)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 on unknown keys and bad values, only warning: a warning fails too.
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {}\n{complaints}",
        out.status
    );
}

/// Starts enetstat-hold-sockets as nobody in `ns`: an established pair and a listener on `port`,
/// owned by another user than the daemon's. Returns once they are open.
fn hold_sockets_as_nobody(ns: &Netns, dir: &Path, port: u16) -> Child {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("enetstat-hold-sockets");
    std::fs::copy(env!("CARGO_BIN_EXE_enetstat-hold-sockets"), &copy).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "setpriv"])
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&copy)
        .args(["2", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready 2");
    child
}

/// `local remote state` of each TCP row of `enetstat -tan` text.
fn kernel_rows(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with("tcp"))
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            format!("{} {} {}", f[3], f[4], f[5])
        })
        .collect()
}

/// The same from the daemon's live table (`status --table`), in netstat's spelling.
fn table_rows(json_lines: &str) -> BTreeSet<String> {
    json_lines
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let remote = v["remote"].as_str().unwrap();
            let remote = match remote.strip_suffix(":0") {
                Some(host) => format!("{host}:*"),
                None => remote.to_string(),
            };
            format!(
                "{} {remote} {}",
                v["local"].as_str().unwrap(),
                v["state"].as_str().unwrap()
            )
        })
        .collect()
}

/// The system calls a filter list allows: names as they are, `@groups` expanded by
/// systemd-analyze (groups name other groups).
fn allowed_system_calls(filter: &[&str]) -> BTreeSet<String> {
    fn add(item: &str, allowed: &mut BTreeSet<String>) {
        if !item.starts_with('@') {
            allowed.insert(item.to_string());
            return;
        }
        let out = Command::new("systemd-analyze")
            .args(["syscall-filter", item])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze syscall-filter {item}"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        for word in text.lines().skip(1).map(str::trim) {
            if !word.is_empty() && !word.starts_with('#') && !allowed.contains(word) {
                add(word, allowed);
            }
        }
    }
    let mut allowed = BTreeSet::new();
    for item in filter {
        add(item, &mut allowed);
    }
    allowed
}

/// What the traced program did after exec'ing `binary` (`strace -f` output): its system calls,
/// and the address families of the sockets it made.
fn traced_calls(trace: &str, binary: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let exec = format!("execve(\"{}\"", binary.display());
    let start = trace
        .find(&exec)
        .expect("the trace shows the exec of enetstat");
    let mut calls = BTreeSet::new();
    let mut families = BTreeSet::new();
    for line in trace[start..].lines() {
        // `PID  name(args) = result`; resumed calls, signals and exits start otherwise.
        let Some(call) = line.split_whitespace().nth(1) else {
            continue;
        };
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        calls.insert(name.to_string());
        if name == "socket" || name == "socketpair" {
            families.insert(args.split(',').next().unwrap().to_string());
        }
    }
    (calls, families)
}

#[test]
fn the_daemon_works_within_the_units_capabilities_and_filters() {
    let unit = UnitFile::read().unwrap();
    require("setpriv", "util-linux");
    require("strace", "strace");
    require("systemd-analyze", "systemd");
    let ns = Netns::new("service").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let trace = dir.path.join("trace");
    let socket_arg = socket.to_str().unwrap();

    // Before the daemon: sockets of another user (their owners need CAP_SYS_PTRACE and
    // CAP_DAC_READ_SEARCH)...
    let holder_dir = TempDir::new().unwrap();
    let mut holder = hold_sockets_as_nobody(&ns, &holder_dir.path, 9400);
    // ...and a pair that changes state once the daemon runs: its events are matched to the
    // snapshot's rows by socket cookie, with no capability and no sysctl.
    let (listener, client, server) = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:9401")?;
            let client = TcpStream::connect("127.0.0.1:9401")?;
            let (server, _) = listener.accept()?;
            Ok((listener, client, server))
        })
        .unwrap();

    let kptr_before = std::fs::read_to_string("/proc/sys/kernel/kptr_restrict").unwrap();
    let bounding_set = unit.setpriv_bounding_set();
    let trace_arg = trace.to_str().unwrap();
    let wrapper = [
        "ip",
        "netns",
        "exec",
        ns.name(),
        "strace",
        "-f",
        "-qq",
        "-o",
        trace_arg,
        "setpriv",
        "--bounding-set",
        &bounding_set,
        "--",
    ];
    // With the metrics endpoint too (on an ephemeral loopback port), for its system calls.
    let serve = ["serve", "--socket", socket_arg, "--metrics", "0"];
    let daemon = Running::start_under(&wrapper, &serve, SERVING).unwrap();

    // FIN_WAIT2 facing CLOSE_WAIT, both sockets older than the daemon.
    client.shutdown(Shutdown::Write).unwrap();
    wait::until_true("FIN_WAIT2 on 9401", Duration::from_secs(10), || {
        let tan = run_in(
            ns.name(),
            &enetstat::binary(),
            &["--source", "proc", "-tan"],
        );
        Ok(String::from_utf8_lossy(&tan.stdout).contains("FIN_WAIT2"))
    })
    .unwrap();
    // Churn on a listener of its own: the table must follow it, time-wait sockets included.
    let churned = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:9402")?;
            for _ in 0..500 {
                workload::active_close_by_client(&listener)?;
            }
            Ok(listener)
        })
        .unwrap();

    let ours = run_in(
        ns.name(),
        &enetstat::binary(),
        &["--source", "daemon", "--socket", socket_arg, "-tanp"],
    );
    let kernel = run_in(
        ns.name(),
        &enetstat::binary(),
        &["--source", "proc", "-tanp"],
    );
    let kernel_text = String::from_utf8_lossy(&kernel.stdout).into_owned();
    assert!(
        kernel_text.contains("/enetstat-hold"),
        "the other user's sockets have owners: {kernel_text}"
    );
    let owners_differ = difference(&kernel.stdout, &ours.stdout);
    let table = run_in(
        ns.name(),
        &enetstat::binary(),
        &["status", "--table", "--socket", socket_arg],
    );
    let table = table_rows(&String::from_utf8_lossy(&table.stdout));

    // The daemon is strace's child.
    let children = format!("/proc/{0}/task/{0}/children", daemon.pid());
    let text = std::fs::read_to_string(children).unwrap();
    let pid: u32 = text.split_whitespace().next().unwrap().parse().unwrap();
    // Serving, it holds only what owners and entering namespaces need, and it mounted no tracefs (`ip netns exec` gave
    // it a fresh /sys without one).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap());
    const CAP_DAC_READ_SEARCH: u64 = 1 << 2;
    const CAP_SYS_PTRACE: u64 = 1 << 19;
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let tracefs: Vec<_> = mounts
        .lines()
        .filter(|l| l.contains(" - tracefs "))
        .collect();
    let finished = daemon.signal_and_wait(pid, libc::SIGINT).unwrap();
    drop((listener, client, server, churned));
    drop(holder.stdin.take());
    holder.wait().unwrap();

    assert!(owners_differ.is_none(), "-tanp: {}", owners_differ.unwrap());
    assert_eq!(table, kernel_rows(&kernel_text), "the live table");
    assert_eq!(
        effective,
        Some(CAP_DAC_READ_SEARCH | CAP_SYS_PTRACE | CAP_SYS_ADMIN),
        "capabilities kept"
    );
    assert!(tracefs.is_empty(), "tracefs mounted: {tracefs:?}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/kptr_restrict").unwrap(),
        kptr_before,
        "kptr_restrict"
    );
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        !finished.stderr.contains("warning"),
        "the daemon warned: {}",
        finished.stderr
    );

    let trace = std::fs::read_to_string(&trace).unwrap();
    let (calls, families) = traced_calls(&trace, &enetstat::binary());
    let allowed = allowed_system_calls(&unit.words("Service", "SystemCallFilter"));
    let denied: Vec<_> = calls.difference(&allowed).collect();
    assert!(
        denied.is_empty(),
        "system calls the unit denies: {denied:?}"
    );
    // The BTF tracepoint attaches through bpf(2) alone, and nothing is mounted.
    assert!(calls.contains("bpf"), "{calls:?}");
    for unneeded in ["mount", "perf_event_open"] {
        assert!(!calls.contains(unneeded), "{unneeded}: {calls:?}");
    }
    let restricted = unit.words("Service", "RestrictAddressFamilies");
    let outside: Vec<_> = families
        .iter()
        .filter(|f| !restricted.contains(&f.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "socket families the unit denies: {outside:?}"
    );
    assert!(families.contains("AF_NETLINK"), "{families:?}");
}
