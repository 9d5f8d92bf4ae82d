//! `enetstat watch` with the real probe loaded. Every connection is made inside a scratch network
//! namespace; each test asserts the exact transitions of the sockets it made.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpListener},
    process::{Command, Stdio},
    time::Duration,
};

use enetstat_integration_tests::{
    enetstat::{self, Finished, Running, loaded_program_ids},
    netns::Netns,
    wait, workload,
};
use serde_json::Value;

/// (oldstate, newstate) pairs.
type Sequence = Vec<(String, String)>;

fn seq(pairs: &[(&str, &str)]) -> Sequence {
    pairs
        .iter()
        .map(|(o, n)| (o.to_string(), n.to_string()))
        .collect()
}

/// Transitions grouped per socket, in time order, keeping only records that touch `port`.
fn per_socket(records: &[Value], port: u16) -> BTreeMap<String, Vec<Value>> {
    let mut sockets: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.get("newstate").is_some()) {
        if r["lport"] == port || r["rport"] == port {
            sockets
                .entry(r["skaddr"].as_str().unwrap().to_string())
                .or_default()
                .push(r.clone());
        }
    }
    for list in sockets.values_mut() {
        list.sort_by(|a, b| a["ts"].as_str().cmp(&b["ts"].as_str()));
    }
    sockets
}

fn states(list: &[Value]) -> Sequence {
    list.iter()
        .map(|r| {
            (
                r["oldstate"].as_str().unwrap().to_string(),
                r["newstate"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The socket whose transitions start with `first`.
fn socket_starting<'a>(
    sockets: &'a BTreeMap<String, Vec<Value>>,
    first: (&str, &str),
) -> &'a [Value] {
    let matching: Vec<_> = sockets
        .values()
        .filter(|list| list[0]["oldstate"] == first.0 && list[0]["newstate"] == first.1)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one socket starting {first:?}, got {sockets:#?}"
    );
    matching[0]
}

fn assert_no_losses(finished: &Finished) {
    let lost: Vec<_> = finished
        .json_lines()
        .unwrap()
        .into_iter()
        .filter(|r| r.get("lost").is_some())
        .collect();
    assert!(
        lost.is_empty(),
        "lost records: {lost:?}; stderr: {}",
        finished.stderr
    );
    assert!(!finished.stderr.contains("lost"), "{}", finished.stderr);
}

/// Runs `workload` in a fresh namespace with a listener on `addr`, under `enetstat watch --json`.
fn watch_workload(
    addr: &str,
    workload: impl FnOnce(&TcpListener) -> anyhow::Result<()> + Send + 'static,
) -> Finished {
    watch_workload_with(&["watch", "--json"], addr, workload)
}

/// [`watch_workload`] under `enetstat ARGS`.
fn watch_workload_with(
    args: &[&str],
    addr: &str,
    workload: impl FnOnce(&TcpListener) -> anyhow::Result<()> + Send + 'static,
) -> Finished {
    let ns = Netns::new("watch").unwrap();
    let running = Running::start(args).unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    ns.run(move || {
        let listener = TcpListener::bind(addr)?;
        workload(&listener)
    })
    .unwrap();
    // The probe records synchronously; a stop delivers everything recorded before it.
    let finished = running.stop().unwrap();
    assert!(
        finished.status.success(),
        "{}: {}",
        finished.status,
        finished.stderr
    );
    assert_no_losses(&finished);
    finished
}

const ACTIVE_CLOSE_CLIENT: &[(&str, &str)] = &[
    ("CLOSE", "SYN_SENT"),
    ("SYN_SENT", "ESTABLISHED"),
    ("ESTABLISHED", "FIN_WAIT1"),
    ("FIN_WAIT1", "FIN_WAIT2"),
    ("FIN_WAIT2", "CLOSE"),
];

const PASSIVE_CLOSE_SERVER: &[(&str, &str)] = &[
    ("LISTEN", "SYN_RECV"),
    ("SYN_RECV", "ESTABLISHED"),
    ("ESTABLISHED", "CLOSE_WAIT"),
    ("CLOSE_WAIT", "LAST_ACK"),
    ("LAST_ACK", "CLOSE"),
];

#[test]
fn active_close_client() {
    let finished = watch_workload("127.0.0.1:7001", workload::active_close_by_client);
    let sockets = per_socket(&finished.json_lines().unwrap(), 7001);
    let client = socket_starting(&sockets, ("CLOSE", "SYN_SENT"));
    assert_eq!(states(client), seq(ACTIVE_CLOSE_CLIENT));
    let me = std::process::id();
    for r in client {
        assert_eq!(
            r["pid"], me,
            "the connecting process owns every transition: {r}"
        );
        assert_eq!(r["family"], "inet");
        assert_eq!(r["raddr"], "127.0.0.1");
        assert_eq!(r["rport"], 7001);
    }
    assert_eq!(
        client[0]["ms"],
        Value::Null,
        "no time in CLOSE before connect()"
    );
    assert!(
        client[1..]
            .iter()
            .all(|r| r["ms"].as_f64().is_some_and(|ms| ms >= 0.0))
    );
}

#[test]
fn passive_close_server() {
    let finished = watch_workload("127.0.0.1:7002", workload::active_close_by_client);
    let sockets = per_socket(&finished.json_lines().unwrap(), 7002);
    let server = socket_starting(&sockets, ("LISTEN", "SYN_RECV"));
    assert_eq!(states(server), seq(PASSIVE_CLOSE_SERVER));
    // Born and established in softirq: the owner is unknown until it closes in process context.
    assert_eq!(server[0]["pid"], Value::Null);
    assert_eq!(server[1]["pid"], Value::Null);
    assert_eq!(server[2]["pid"], Value::Null);
    assert_eq!(server[3]["pid"], std::process::id());
    assert_eq!(server[4]["pid"], std::process::id());
    assert_eq!(server[0]["lport"], 7002);
}

#[test]
fn listener_open_and_close() {
    let finished = watch_workload("127.0.0.1:7003", |_| Ok(()));
    let sockets = per_socket(&finished.json_lines().unwrap(), 7003);
    assert_eq!(sockets.len(), 1, "{sockets:#?}");
    let listener = sockets.values().next().unwrap();
    assert_eq!(
        states(listener),
        seq(&[("CLOSE", "LISTEN"), ("LISTEN", "CLOSE")])
    );
    assert!(listener.iter().all(|r| r["pid"] == std::process::id()));
    assert_eq!(listener[0]["laddr"], "127.0.0.1");
    assert_eq!(listener[0]["raddr"], "0.0.0.0");
}

#[test]
fn refused_connect() {
    let finished = watch_workload("127.0.0.1:7004", |_| {
        workload::refused_connect("127.0.0.1:7005".parse()?)
    });
    let sockets = per_socket(&finished.json_lines().unwrap(), 7005);
    assert_eq!(sockets.len(), 1, "{sockets:#?}");
    let client = sockets.values().next().unwrap();
    assert_eq!(
        states(client),
        seq(&[("CLOSE", "SYN_SENT"), ("SYN_SENT", "CLOSE")])
    );
    assert!(
        client.iter().all(|r| r["pid"] == std::process::id()),
        "the RST arrives in softirq, but the owner is remembered"
    );
}

#[test]
fn rst_abort() {
    let finished = watch_workload("127.0.0.1:7006", workload::rst_abort_by_client);
    let sockets = per_socket(&finished.json_lines().unwrap(), 7006);
    let client = socket_starting(&sockets, ("CLOSE", "SYN_SENT"));
    assert_eq!(
        states(client),
        seq(&[
            ("CLOSE", "SYN_SENT"),
            ("SYN_SENT", "ESTABLISHED"),
            ("ESTABLISHED", "CLOSE")
        ])
    );
    let server = socket_starting(&sockets, ("LISTEN", "SYN_RECV"));
    assert_eq!(
        states(server),
        seq(&[
            ("LISTEN", "SYN_RECV"),
            ("SYN_RECV", "ESTABLISHED"),
            ("ESTABLISHED", "CLOSE")
        ])
    );
}

#[test]
fn ipv6_connection() {
    let finished = watch_workload("[::1]:7007", workload::active_close_by_client);
    let sockets = per_socket(&finished.json_lines().unwrap(), 7007);
    let client = socket_starting(&sockets, ("CLOSE", "SYN_SENT"));
    assert_eq!(states(client), seq(ACTIVE_CLOSE_CLIENT));
    let server = socket_starting(&sockets, ("LISTEN", "SYN_RECV"));
    assert_eq!(states(server), seq(PASSIVE_CLOSE_SERVER));
    for r in client.iter().chain(server) {
        assert_eq!(r["family"], "inet6");
        assert_eq!(r["laddr"], "::1");
        assert_eq!(r["raddr"], "::1");
    }
}

#[test]
fn burst_of_10000_connections_yields_every_record() {
    const CONNECTIONS: usize = 10_000;
    let finished = watch_workload("127.0.0.1:7008", |listener| {
        for _ in 0..CONNECTIONS {
            workload::active_close_by_client(listener)?;
        }
        Ok(())
    });
    let records = finished.json_lines().unwrap();
    let ours = records
        .iter()
        .filter(|r| r.get("newstate").is_some() && (r["lport"] == 7008 || r["rport"] == 7008))
        .count();
    // 5 per side per connection, plus the listener's open and close.
    assert_eq!(ours, CONNECTIONS * 10 + 2);
}

#[test]
fn kernel_filters_family_and_ports() {
    let ns = Netns::new("filter").unwrap();
    let running = Running::start(&["watch", "--json", "-6", "--lport", "7010"]).unwrap();
    ns.run(|| {
        for addr in ["127.0.0.1:7010", "[::1]:7010", "[::1]:7011"] {
            let listener = TcpListener::bind(addr)?;
            workload::active_close_by_client(&listener)?;
        }
        Ok(())
    })
    .unwrap();
    let finished = running.stop().unwrap();
    let records = finished.json_lines().unwrap();
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(r["family"], "inet6", "{r}");
        assert_eq!(r["lport"], 7010, "{r}");
    }
    // Listener open, then the server side of one connection: LISTEN->SYN_RECV .. LAST_ACK->CLOSE.
    // (The client's lport is ephemeral; the listener's close comes at the end.)
    let states: Vec<_> = records
        .iter()
        .map(|r| r["newstate"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "LISTEN",
            "SYN_RECV",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSE",
            "CLOSE"
        ]
    );
}

#[test]
fn state_filter_is_applied() {
    let ns = Netns::new("state").unwrap();
    let running = Running::start(&["watch", "--json", "--state", "TIME_WAIT,FIN_WAIT2"]).unwrap();
    ns.run(|| workload::active_close_by_client(&TcpListener::bind("127.0.0.1:7012")?))
        .unwrap();
    let finished = running.stop().unwrap();
    let ours: Vec<_> = finished
        .json_lines()
        .unwrap()
        .into_iter()
        .filter(|r| r["rport"] == 7012)
        .map(|r| {
            (
                r["oldstate"].as_str().unwrap().to_string(),
                r["newstate"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ours,
        seq(&[("FIN_WAIT1", "FIN_WAIT2"), ("FIN_WAIT2", "CLOSE")])
    );
}

#[test]
fn hostile_process_names_are_escaped() {
    let hostile = b"\x1b[2J\nevil\\";
    for json in [true, false] {
        let ns = Netns::new("comm").unwrap();
        let args: &[&str] = if json {
            &["watch", "--json", "--rport", "7013"]
        } else {
            &["watch", "--rport", "7013"]
        };
        let running = Running::start(args).unwrap();
        ns.run(move || {
            let listener = TcpListener::bind("127.0.0.1:7013")?;
            workload::set_thread_comm(hostile)?;
            workload::active_close_by_client(&listener)
        })
        .unwrap();
        let finished = running.stop().unwrap();
        assert!(
            !finished.stdout.contains('\x1b'),
            "raw escape byte in output: {:?}",
            finished.stdout
        );
        if json {
            let records = finished.json_lines().unwrap();
            assert_eq!(records.len(), 5, "{records:?}");
            for r in &records {
                assert_eq!(r["comm"], "\\x1b[2J\\x0aevil\\\\");
            }
        } else {
            let lines: Vec<_> = finished.stdout.lines().collect();
            assert_eq!(
                lines.len(),
                6,
                "a header and 5 rows, no injected line breaks: {lines:?}"
            );
            assert!(
                lines[1..]
                    .iter()
                    .all(|l| l.contains("\\x1b[2J\\x0aevil\\\\")),
                "{lines:?}"
            );
        }
    }
}

#[test]
fn sigint_and_sigterm_detach_the_probe() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // Programs of an earlier test's enetstat may still be on their way out (the kernel frees
        // a program once its last link and fd are released), so follow this run's own.
        let before = loaded_program_ids("enetstat_");
        let running = Running::start(&["watch"]).unwrap();
        let ours: Vec<u32> = loaded_program_ids("enetstat_")
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(ours.len(), 1, "one probe attached: {before:?} -> {ours:?}");
        let finished = running.stop_with(signal).unwrap();
        assert!(
            finished.status.success(),
            "signal {signal}: {}",
            finished.status
        );
        let freed = wait::until_true("the program to be freed", Duration::from_secs(5), || {
            Ok(!loaded_program_ids("enetstat_").contains(&ours[0]))
        });
        assert!(freed.is_ok(), "signal {signal} left {ours:?} loaded");
    }
}

#[test]
fn a_tiny_ring_reports_its_losses() {
    let ns = Netns::new("lost").unwrap();
    // Pause the reader so the 4 KiB ring (about 30 records of 128 bytes plus a header) overflows, then let it go.
    let running =
        Running::start(&["watch", "--json", "--ring-size", "4K", "--rport", "7014"]).unwrap();
    // SAFETY: pausing and resuming our own child.
    unsafe { libc::kill(running.pid() as i32, libc::SIGSTOP) };
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:7014")?;
        for _ in 0..200 {
            workload::active_close_by_client(&listener)?;
        }
        Ok(())
    })
    .unwrap();
    // SAFETY: resuming our own child.
    unsafe { libc::kill(running.pid() as i32, libc::SIGCONT) };
    running
        .wait_for_stdout("the losses", Duration::from_secs(10), |out| {
            out.contains("\"lost\":")
        })
        .unwrap();
    let finished = running.stop().unwrap();
    let records = finished.json_lines().unwrap();
    let delivered = records
        .iter()
        .filter(|r| r.get("newstate").is_some())
        .count();
    let lost: u64 = records
        .iter()
        .filter_map(|r| r.get("lost"))
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(lost > 0, "nothing lost? {delivered} delivered");
    assert_eq!(
        delivered as u64 + lost,
        200 * 5,
        "every record is delivered or counted as lost"
    );
    assert!(
        records
            .iter()
            .filter(|r| r.get("lost").is_some())
            .all(|r| r.get("newstate").is_none())
    );
    assert!(
        finished
            .stderr
            .contains(&format!("{lost} transition records lost")),
        "{}",
        finished.stderr
    );
}

#[test]
fn closed_stdout_ends_quietly() {
    let ns = Netns::new("pipe").unwrap();
    let mut child = Command::new(enetstat::binary())
        .args(["watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the header, then close our end, like `| head -1`.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:7015")?;
        for _ in 0..50 {
            workload::active_close_by_client(&listener)?;
        }
        Ok(())
    })
    .unwrap();
    let out = wait_with_timeout(child, Duration::from_secs(20));
    assert!(out.status.success(), "{}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

fn wait_with_timeout(mut child: std::process::Child, timeout: Duration) -> std::process::Output {
    let deadline = std::time::Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("enetstat still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn errors_are_one_clear_line() {
    // Unknown flag: a usage error, exit 2.
    let out = Command::new(enetstat::binary())
        .args(["watch", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));

    // Not root: one line naming what is needed, no backtrace. The binary is copied somewhere
    // world-readable first: the checkout may sit below a directory only root can enter.
    let dir = enetstat::TempDir::new().unwrap();
    std::fs::set_permissions(
        &dir.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let copy = dir.path.join("enetstat");
    std::fs::copy(enetstat::binary(), &copy).unwrap();
    let out = Command::new(&copy)
        .args(["watch"])
        .env("RUST_BACKTRACE", "1")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("needs root") && stderr.contains("CAP_BPF"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

use std::os::unix::process::CommandExt as _;

#[test]
fn transitions_are_tagged_with_their_network_namespace() {
    use std::os::unix::fs::MetadataExt as _;
    let finished = watch_workload("127.0.0.1:7016", workload::active_close_by_client);
    let records = finished.json_lines().unwrap();
    let ours: Vec<_> = records
        .iter()
        .filter(|r| r["rport"] == 7016 || r["lport"] == 7016)
        .collect();
    assert!(!ours.is_empty());
    let namespaces: std::collections::BTreeSet<_> = ours
        .iter()
        .map(|r| r["netns"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(namespaces.len(), 1, "one namespace: {namespaces:?}");
    let root = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    assert_ne!(
        ours[0]["netns"], root,
        "the scratch namespace is not the test's own"
    );
    assert!(ours[0]["netns"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn tracefs_is_mounted_when_missing() {
    // A fresh machine has no tracefs mounted. Recreate that in a private mount namespace (the
    // host's mount stays), then start watching there: on the BTF tracepoint enetstat needs no
    // tracefs and leaves it unmounted; on the classic tracepoint it mounts it itself.
    let without_tracefs = |hook: &'static str| {
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "env",
            hook,
            "sh",
            "-c",
            "umount /sys/kernel/tracing 2>/dev/null; \
             if mountpoint -q /sys/kernel/tracing; then echo 'tracefs still mounted' >&2; exit 1; fi; \
             exec \"$0\" \"$@\"",
        ]
    };
    for (hook, mounted) in [
        ("ENETSTAT_TCP_HOOK=tp_btf", false),
        ("ENETSTAT_TCP_HOOK=tracepoint", true),
    ] {
        let running =
            Running::start_under(&without_tracefs(hook), &["watch"], enetstat::READY).unwrap();
        // unshare, env and sh exec, so the child is enetstat, in its own mount namespace.
        let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", running.pid())).unwrap();
        let finished = running.stop().unwrap();
        assert!(finished.status.success(), "{hook}: {}", finished.stderr);
        let tracefs = mounts
            .lines()
            .any(|line| line.contains(" /sys/kernel/tracing ") && line.contains(" - tracefs "));
        assert_eq!(tracefs, mounted, "{hook}: tracefs mounted: {mounts}");
    }
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let finished = watch_workload("127.0.0.1:7017", workload::simultaneous_close);
    let sockets = per_socket(&finished.json_lines().unwrap(), 7017);
    let sequences: Vec<Sequence> = sockets.values().map(|list| states(list)).collect();
    assert!(
        sequences
            .iter()
            .any(|s| s.contains(&("FIN_WAIT1".to_string(), "CLOSING".to_string()))),
        "no FIN_WAIT1 -> CLOSING: {sequences:#?}"
    );
}

/// `watch --lifetimes --json` lines of the connections to or from `port`.
fn lifetimes_of(finished: &Finished, port: u16) -> Vec<Value> {
    let lines = finished.json_lines().unwrap();
    for line in &lines {
        assert!(
            line.get("newstate").is_none(),
            "a transition in --lifetimes: {line}"
        );
    }
    lines
        .into_iter()
        .filter(|r| r.get("lost").is_none() && (r["lport"] == port || r["rport"] == port))
        .collect()
}

/// The one line whose `field` is `port`.
fn side(lines: &[Value], field: &str, port: u16) -> Value {
    let matching: Vec<_> = lines.iter().filter(|r| r[field] == port).collect();
    assert_eq!(
        matching.len(),
        1,
        "one line with {field} {port}: {lines:#?}"
    );
    matching[0].clone()
}

/// Payload bytes sent and received, as a line of `watch --lifetimes --json` gives them.
fn payload(line: &Value) -> (Value, Value) {
    (line["tx_bytes"].clone(), line["rx_bytes"].clone())
}

const LIFETIME: Duration = Duration::from_millis(200);

/// The client's and the server's lines for one [`workload::exchange`] of 10,000 bytes up and
/// 3,000 down on `addr`, ended after [`LIFETIME`] by the client's close (or reset).
fn exchange_lifetimes(addr: &'static str, reset: bool) -> (Value, Value) {
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let finished =
        watch_workload_with(&["watch", "--lifetimes", "--json"], addr, move |listener| {
            workload::exchange(listener, 10_000, 3_000, LIFETIME, reset)
        });
    let lines = lifetimes_of(&finished, port);
    assert_eq!(
        lines.len(),
        2,
        "one line per socket, none for the listener: {lines:#?}"
    );
    (side(&lines, "rport", port), side(&lines, "lport", port))
}

#[test]
fn lifetimes_count_each_sides_payload_and_duration() {
    let (client, server) = exchange_lifetimes("127.0.0.1:7020", false);
    let me = std::process::id();
    for (r, tx, rx, closed_from) in [
        (&client, 10_000, 3_000, "FIN_WAIT2"),
        (&server, 3_000, 10_000, "LAST_ACK"),
    ] {
        assert_eq!(r["pid"], me, "{r}");
        assert_eq!(r["family"], "inet", "{r}");
        assert_eq!(
            (&r["laddr"], &r["raddr"]),
            (&Value::from("127.0.0.1"), &Value::from("127.0.0.1"))
        );
        assert_eq!(payload(r), (tx.into(), rx.into()), "{r}");
        assert_eq!(r["partial"], false, "{r}");
        assert_eq!(r["closed_from"], closed_from, "{r}");
        let ms = r["ms"].as_f64().unwrap();
        assert!(ms >= LIFETIME.as_secs_f64() * 1e3 && ms < 10_000.0, "{r}");
        assert!(r["netns"].as_u64().is_some_and(|n| n > 0), "{r}");
    }
    assert_eq!(client["lport"], server["rport"]);
}

#[test]
fn lifetimes_of_a_reset_connection_and_its_unknown_passive_owner() {
    let (client, server) = exchange_lifetimes("[::1]:7021", true);
    assert_eq!(client["family"], "inet6");
    assert_eq!(payload(&client), (10_000.into(), 3_000.into()));
    assert_eq!(payload(&server), (3_000.into(), 10_000.into()));
    for r in [&client, &server] {
        assert_eq!(r["closed_from"], "ESTABLISHED", "{r}");
        assert!(
            r["ms"].as_f64().unwrap() >= LIFETIME.as_secs_f64() * 1e3,
            "{r}"
        );
    }
    assert_eq!(client["pid"], std::process::id(), "the connect() named it");
    // The accepted socket was reset in softirq before its owner ever closed it.
    assert_eq!(server["pid"], Value::Null);
    assert_eq!(server["comm"], Value::Null);
}

#[test]
fn lifetimes_take_the_family_and_port_filters() {
    let ns = Netns::new("lifefilter").unwrap();
    let running =
        Running::start(&["watch", "--lifetimes", "--json", "-6", "--lport", "7022"]).unwrap();
    ns.run(|| {
        for addr in ["127.0.0.1:7022", "[::1]:7022", "[::1]:7023"] {
            let listener = TcpListener::bind(addr)?;
            workload::exchange(&listener, 100, 10, Duration::ZERO, false)?;
        }
        Ok(())
    })
    .unwrap();
    let finished = running.stop().unwrap();
    let lines = finished.json_lines().unwrap();
    // Only the IPv6 server side on 7022: the clients' local ports are ephemeral.
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["family"], "inet6");
    assert_eq!(lines[0]["lport"], 7022);
    assert_eq!(lines[0]["rx_bytes"], 100);
}

#[test]
fn a_connection_open_before_watching_is_partial() {
    let ns = Netns::new("partial").unwrap();
    let (client, server) = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:7024")?;
            let client = std::net::TcpStream::connect(listener.local_addr()?)?;
            let (server, _) = listener.accept()?;
            Ok((client, server))
        })
        .unwrap();
    std::thread::sleep(LIFETIME);
    let running = Running::start(&["watch", "--lifetimes", "--json"]).unwrap();
    let running_table = Running::start(&["watch", "--lifetimes", "--rport", "7024"]).unwrap();
    workload::exchange_on(client, server, 10_000, 3_000, Duration::ZERO, false).unwrap();
    let finished = running.stop().unwrap();
    let table = running_table.stop().unwrap();
    let lines = lifetimes_of(&finished, 7024);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let client = &side(&lines, "rport", 7024);
    let server = &side(&lines, "lport", 7024);
    assert_eq!(server["partial"], true, "{server}");
    assert_eq!(payload(server), (3_000.into(), 10_000.into()));
    assert_eq!(client["partial"], true, "{client}");
    assert!(
        client["ms"].as_f64().unwrap() < LIFETIME.as_secs_f64() * 1e3,
        "from first sight: {client}"
    );
    assert_eq!(client["rx_bytes"], 3_000);
    // Its connect() was not seen, so its SYN stays in the kernel's count (README).
    assert_eq!(client["tx_bytes"], 10_001);
    assert_eq!(client["pid"], std::process::id());

    let rows: Vec<_> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "a header and one row: {rows:?}");
    assert!(
        rows[0].starts_with("TIME ")
            && rows[0].ends_with("TX_BYTES   RX_BYTES   RETRANS SRTT_MS  MS"),
        "{rows:?}"
    );
    let fields: Vec<_> = rows[1].split_whitespace().collect();
    assert_eq!(fields[7..9], ["10001", "3000"], "{rows:?}");
    assert_eq!(fields[9], "0", "no retransmits on loopback: {rows:?}");
    assert!(fields[11].starts_with('>'), "a lower bound: {rows:?}");
}

#[test]
fn without_btf_bytes_are_unknown_and_said_to_be() {
    // Hide the kernel's BTF from enetstat alone: a private mount namespace with an empty file
    // bound over it.
    let hide_btf = [
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --bind /dev/null /sys/kernel/btf/vmlinux && exec \"$0\" \"$@\"",
    ];
    let running = Running::start_under(
        &hide_btf,
        &["watch", "--lifetimes", "--json", "--rport", "7025"],
        enetstat::READY,
    )
    .unwrap();
    let ns = Netns::new("nobtf").unwrap();
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:7025")?;
        workload::exchange(&listener, 100, 10, Duration::ZERO, false)
    })
    .unwrap();
    let finished = running.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("enetstat: byte counts, retransmits and RTT unknown, shown as - (JSON null)"),
        "{}",
        finished.stderr
    );
    let lines = lifetimes_of(&finished, 7025);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(payload(&lines[0]), (Value::Null, Value::Null));
    assert_eq!(
        (&lines[0]["retransmits"], &lines[0]["srtt_us"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(lines[0]["pid"], std::process::id(), "owners need no BTF");
    assert_eq!(
        std::fs::read("/sys/kernel/btf/vmlinux").unwrap()[..2],
        [0x9f, 0xeb],
        "the host still sees its BTF"
    );
}
