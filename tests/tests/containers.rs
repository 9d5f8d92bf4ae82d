//! Owners in containers: processes that this test moves into scratch cgroups named as docker,
//! containerd under Kubernetes' systemd driver, and Kubernetes' cgroupfs driver name theirs,
//! each holding sockets in a scratch namespace, are attributed to those containers by
//! `-tanp --json` (owner.container) and `-tanp --containers` (the CONTAINER column), while
//! `-tanp` stays netstat's bytes. Runs as root: it creates cgroups and namespaces.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
};

use enetstat_integration_tests::{
    cgroup::ScratchCgroups,
    compare::{difference, escape_controls, run_in},
    enetstat::{self, Running, TempDir},
    exposition::Exposition,
    http,
    netns::Netns,
};
use serde_json::{Value, json};

const NETSTAT: &str = "/usr/bin/netstat";

/// One fake container: where its cgroup is under the scratch root, and what enetstat must say.
struct Case {
    cgroup: String,
    port: u16,
    runtime: &'static str,
    id: String,
    pod_uid: Option<String>,
}

fn cases() -> Vec<Case> {
    let pid = std::process::id();
    let id = |n: u32| format!("{:016x}", u64::from(pid) << 8 | u64::from(n)).repeat(4);
    let uid = format!("5e1a7c3b-0d2f-4a6e-9b8c-{:012x}", pid);
    vec![
        Case {
            cgroup: format!("system.slice/docker-{}.scope", id(1)),
            port: 21001,
            runtime: "docker",
            id: id(1),
            pod_uid: None,
        },
        Case {
            cgroup: format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{}.scope",
                uid.replace('-', "_"),
                id(2)
            ),
            port: 21002,
            runtime: "containerd",
            id: id(2),
            pod_uid: Some(uid.clone()),
        },
        Case {
            cgroup: format!("kubepods/besteffort/pod{uid}/{}", id(3)),
            port: 21003,
            runtime: "cri",
            id: id(3),
            pod_uid: Some(uid),
        },
    ]
}

/// A process holding a listener and an established pair on `port` inside `ns`, until dropped.
struct Holder {
    child: Child,
}

impl Holder {
    fn start(ns: &Netns, port: u16) -> Holder {
        Self::holding(ns, port, 2)
    }

    /// A listener on `port` and `sockets` established ends (`sockets / 2` pairs).
    fn holding(ns: &Netns, port: u16, sockets: usize) -> Holder {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(env!("CARGO_BIN_EXE_enetstat-hold-sockets"))
            .args([&sockets.to_string(), &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting enetstat-hold-sockets");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("ready {sockets}"),
            "enetstat-hold-sockets did not start"
        );
        Holder { child }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn enetstat_in(ns: &Netns, args: &[&str]) -> String {
    let out = run_in(ns.name(), &enetstat::binary(), args);
    assert!(
        out.status.success(),
        "enetstat {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn owners_in_container_cgroups_are_attributed() {
    let ns = Netns::new("containers").unwrap();
    let mut cgroups = ScratchCgroups::new().expect("scratch cgroups on the cgroup v2 mount");
    let cases = cases();
    // Declared after the cgroups, so dropped (and reaped) before them.
    let mut holders = Vec::new();
    for case in &cases {
        let path = cgroups.make(&case.cgroup).unwrap();
        let holder = Holder::start(&ns, case.port);
        ScratchCgroups::enter(&path, holder.child.id()).unwrap();
        let seen = ScratchCgroups::path_of(holder.child.id()).unwrap();
        assert!(
            seen.ends_with(&case.cgroup),
            "the holder's cgroup is {seen}, not …/{}",
            case.cgroup
        );
        holders.push(holder);
    }

    // JSON: every socket of each holder names its container.
    let json = enetstat_in(&ns, &["--source", "proc", "-tanp", "--json"]);
    let rows: Vec<Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for (case, holder) in cases.iter().zip(&holders) {
        let pid = u64::from(holder.child.id());
        let owned: Vec<&Value> = rows
            .iter()
            .filter(|row| row["owner"]["pid"].as_u64() == Some(pid))
            .collect();
        assert_eq!(
            owned.len(),
            3,
            "the listener and both ends of the pair on {}:\n{json}",
            case.port
        );
        for row in owned {
            assert_eq!(
                row["owner"]["container"],
                json!({"runtime": case.runtime, "id": case.id, "pod_uid": case.pod_uid}),
                "{row}"
            );
        }
    }
    // Our own sockets (none here) aside, nothing else in the namespace is in a container.
    assert!(
        rows.iter()
            .filter(|row| !holders
                .iter()
                .any(|h| row["owner"]["pid"].as_u64() == Some(u64::from(h.child.id()))))
            .all(|row| row["owner"].is_null() || row["owner"]["container"].is_null()),
        "{json}"
    );

    // Text: netstat's -tanp with one more column, RUNTIME:short id.
    let netstat = run_in(ns.name(), NETSTAT.as_ref(), &["-tanp"]);
    assert!(netstat.status.success());
    let netstat_text = String::from_utf8(escape_controls(&netstat.stdout)).unwrap();
    let with_column = enetstat_in(&ns, &["--source", "proc", "-tanp", "--containers"]);
    let lines: Vec<&str> = with_column.lines().collect();
    assert!(lines[1].ends_with(" CONTAINER"), "{with_column}");
    let mut stripped = vec![
        lines[0].to_string(),
        lines[1].trim_end_matches(" CONTAINER").to_string(),
    ];
    for line in &lines[2..] {
        let (row, container) = line.rsplit_once(' ').unwrap();
        let pid = row
            .split_whitespace()
            .nth(6)
            .and_then(|owner| owner.split('/').next());
        let case = holders
            .iter()
            .position(|h| Some(h.child.id().to_string().as_str()) == pid)
            .map(|i| &cases[i]);
        match case {
            Some(case) => assert_eq!(
                container,
                format!("{}:{}", case.runtime, &case.id[..12]),
                "{line}"
            ),
            None => assert_eq!(container, "-", "{line}"),
        }
        stripped.push(row.to_string());
    }
    let stripped = stripped.join("\n") + "\n";
    if let Some(diff) = difference(netstat_text.as_bytes(), stripped.as_bytes()) {
        panic!("-tanp --containers less its column is not netstat -tanp: {diff}");
    }

    // Without the option, netstat's bytes.
    let plain = run_in(ns.name(), &enetstat::binary(), &["-tanp"]);
    if let Some(diff) = difference(netstat_text.as_bytes(), &plain.stdout) {
        panic!("-tanp: {diff}");
    }
    drop(holders);
    drop(cgroups);
}

#[test]
fn containers_needs_p() {
    let out = Command::new(enetstat::binary())
        .args(["-tan", "--containers"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--containers needs -p"), "{stderr}");
}

/// `serve --metrics-container-label --metrics-max-containers 1`: the container with the most
/// sockets gets series of its own, the other is counted as container="other", and
/// enetstat_containers_folded says one was folded. Without the option, no series has the label.
#[test]
fn metrics_label_containers_up_to_the_cap() {
    let ns = Netns::new("containermetrics").unwrap();
    let mut cgroups = ScratchCgroups::new().expect("scratch cgroups on the cgroup v2 mount");
    let cases = cases();
    // Held before the daemon starts, so that its snapshot finds their owners.
    let big = Holder::holding(&ns, cases[0].port, 4);
    let small = Holder::holding(&ns, cases[1].port, 2);
    for (case, holder) in cases.iter().zip([&big, &small]) {
        let path = cgroups.make(&case.cgroup).unwrap();
        ScratchCgroups::enter(&path, holder.child.id()).unwrap();
    }
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let scrape = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--socket",
            socket.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:21464",
        ];
        args.extend_from_slice(extra);
        let daemon = Running::start_in(Some(ns.name()), &args, "enetstat: serving on").unwrap();
        let addr = "127.0.0.1:21464".parse().unwrap();
        let response = ns
            .run(move || http::get_accepting(addr, "/metrics", http::ACCEPT_OPENMETRICS))
            .unwrap();
        let finished = daemon.stop().unwrap();
        assert_eq!(response.status, 200, "{response:?}\n{}", finished.stderr);
        Exposition::parse(&response.body).unwrap_or_else(|err| panic!("{err:#}\n{}", response.body))
    };
    let by_container = |exposition: &Exposition, container: &str| -> (u64, u64) {
        let count = |state: &str| {
            exposition
                .samples("enetstat_connections")
                .filter(|s| {
                    s.labels.get("container").map(String::as_str) == Some(container)
                        && s.labels["state"] == state
                })
                .map(|s| s.value as u64)
                .sum::<u64>()
        };
        (count("LISTEN"), count("ESTABLISHED"))
    };

    let labelled = scrape(&["--metrics-container-label", "--metrics-max-containers", "1"]);
    let big_label = format!("{}:{}", cases[0].runtime, &cases[0].id[..12]);
    assert_eq!(
        by_container(&labelled, &big_label),
        (1, 4),
        "the 5 sockets of {big_label}"
    );
    assert_eq!(
        by_container(&labelled, "other"),
        (1, 2),
        "the 3 sockets folded"
    );
    let small_label = format!("{}:{}", cases[1].runtime, &cases[1].id[..12]);
    assert_eq!(by_container(&labelled, &small_label), (0, 0));
    assert_eq!(
        labelled.value("enetstat_containers_folded", &[]),
        Some(1.0),
        "one container folded"
    );
    // Every socket is still counted once: the sum over containers is the sum without them.
    let plain = scrape(&[]);
    let total = |exposition: &Exposition| -> u64 {
        exposition
            .samples("enetstat_connections")
            .filter(|s| s.labels["state"] == "LISTEN" || s.labels["state"] == "ESTABLISHED")
            .map(|s| s.value as u64)
            .sum()
    };
    assert!(
        plain
            .samples("enetstat_connections")
            .all(|s| !s.labels.contains_key("container")),
        "the label is opt-in"
    );
    assert!(plain.family("enetstat_containers_folded").is_none());
    // Both daemons see the holders' 8 sockets and their own listener; the scrape's connection
    // differs by at most its two ends.
    let (with, without) = (total(&labelled), total(&plain));
    assert!(
        with >= 9 && without >= 9 && with.abs_diff(without) <= 2,
        "{with} vs {without}"
    );
    drop((big, small));
    drop(cgroups);
}

/// The daemon answers `--containers` and `--json` with the same containers as /proc: its owners
/// come from the same scan, once at start and per process its events name.
#[test]
fn the_daemon_attributes_containers_too() {
    let ns = Netns::new("containerdaemon").unwrap();
    let mut cgroups = ScratchCgroups::new().expect("scratch cgroups on the cgroup v2 mount");
    let cases = cases();
    let mut holders = Vec::new();
    for case in &cases {
        let path = cgroups.make(&case.cgroup).unwrap();
        let holder = Holder::start(&ns, case.port);
        ScratchCgroups::enter(&path, holder.child.id()).unwrap();
        holders.push(holder);
    }
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let socket = socket.to_str().unwrap();
    let daemon = Running::start_in(
        Some(ns.name()),
        &["serve", "--socket", socket],
        "enetstat: serving on",
    )
    .unwrap();
    let ask = |args: &[&str]| {
        let mut all = vec!["--socket", socket, "--source", "daemon"];
        all.extend_from_slice(args);
        enetstat_in(&ns, &all)
    };
    let containers_of = |json: &str| -> Vec<(u64, u64, Value)> {
        let mut rows: Vec<(u64, u64, Value)> = json
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|row| !row["owner"].is_null())
            .map(|row| {
                (
                    row["lport"].as_u64().unwrap(),
                    row["rport"].as_u64().unwrap(),
                    row["owner"]["container"].clone(),
                )
            })
            .collect();
        rows.sort_by_key(|&(l, r, _)| (l, r));
        rows
    };
    let from_daemon = containers_of(&ask(&["-tanp", "--json"]));
    let from_proc = containers_of(&enetstat_in(&ns, &["--source", "proc", "-tanp", "--json"]));
    let daemon_text = ask(&["-tanp", "--containers"]);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    // The daemon's own sockets (its control connection is hidden) aside, the same rows.
    let holders_only = |rows: &[(u64, u64, Value)]| -> Vec<(u64, u64, Value)> {
        rows.iter()
            .filter(|(l, r, _)| {
                cases
                    .iter()
                    .any(|c| u64::from(c.port) == *l || u64::from(c.port) == *r)
            })
            .cloned()
            .collect()
    };
    assert_eq!(holders_only(&from_daemon), holders_only(&from_proc));
    assert_eq!(holders_only(&from_daemon).len(), 3 * cases.len());
    for case in &cases {
        let cell = format!(" {}:{}\n", case.runtime, &case.id[..12]);
        assert_eq!(
            daemon_text.matches(&cell).count(),
            3,
            "{cell:?} in\n{daemon_text}"
        );
    }
    drop(holders);
    drop(cgroups);
}
