//! `--netns` and a daemon that follows every network namespace: twenty scratch namespaces, each
//! with its own sockets and some with churn, against netstat run inside each; namespaces made
//! and deleted while the daemon runs; metrics per namespace; bad specs.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::unix::fs::MetadataExt as _,
    path::Path,
    process::Command,
    time::Duration,
};

use enetstat_integration_tests::{
    compare::run_in,
    enetstat::{self, Running, TempDir},
    exposition::Exposition,
    http,
    netns::{Netns, spawn_in},
    wait, workload,
};

const SERVING: &str = "enetstat: serving on";

/// (local, foreign, state) as netstat -n prints them.
type Rows = BTreeSet<(String, String, String)>;

/// The TCP rows of `netstat -tan` output.
fn netstat_rows(text: &str) -> Rows {
    text.lines()
        .filter(|line| line.starts_with("tcp"))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 6, "{line}");
            (
                fields[3].to_string(),
                fields[4].to_string(),
                fields[5].to_string(),
            )
        })
        .collect()
}

/// An address of the daemon's table (`127.0.0.1:80`, `[::1]:80`) as netstat -n writes it.
fn as_netstat(addr: &str) -> String {
    let addr: SocketAddr = addr.parse().unwrap();
    match addr.port() {
        0 => format!("{}:*", addr.ip()),
        port => format!("{}:{port}", addr.ip()),
    }
}

fn netstat_in(ns: &Netns) -> String {
    let out = run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tan"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Namespace `ns`'s rows in the daemon's live table.
fn daemon_rows(socket: &Path, ns: &Netns) -> Rows {
    let out = Command::new(enetstat::binary())
        .args(["status", "--table", "--netns", ns.name(), "--socket"])
        .arg(socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = |k: &str| row[k].as_str().unwrap().to_string();
            (
                as_netstat(&text("local")),
                as_netstat(&text("remote")),
                text("state"),
            )
        })
        .collect()
}

fn inode_of(ns: &Netns) -> u64 {
    std::fs::metadata(format!("/run/netns/{}", ns.name()))
        .unwrap()
        .ino()
}

/// Each namespace's fixture: listeners (v4, v6), an established pair, a connection left in
/// TIME_WAIT, and UDP sockets. Held until dropped.
fn fixture(ns: &Netns, port: u16) -> Box<dyn Send> {
    let held = ns
        .run(move || {
            let listener = TcpListener::bind(("127.0.0.1", port))?;
            let listener6 = TcpListener::bind(("::1", port + 1))?;
            let client = TcpStream::connect(("127.0.0.1", port))?;
            let (server, _) = listener.accept()?;
            workload::active_close_by_client(&listener)?;
            let udp = UdpSocket::bind(("127.0.0.1", port + 2))?;
            let udp6 = UdpSocket::bind(("::1", port + 3))?;
            Ok((listener, listener6, client, server, udp, udp6))
        })
        .unwrap();
    Box::new(held)
}

/// The sections of `--netns` text output, by the namespace name in each heading.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        if let Some(heading) = line.strip_prefix("Network namespace ") {
            if let Some((name, body)) = current.take() {
                sections.insert(name, body);
            }
            let name = heading
                .trim_end()
                .split_once(" (")
                .map_or(String::new(), |(_, name)| name.trim_end_matches(')').into());
            current = Some((name, String::new()));
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
        }
    }
    if let Some((name, body)) = current {
        sections.insert(name, body);
    }
    // Sections after the first are set off by an empty line, which belongs to none.
    sections
        .into_iter()
        .map(|(name, body)| {
            let body = body
                .strip_suffix("\n\n")
                .map_or(body.clone(), |b| format!("{b}\n"));
            (name, body)
        })
        .collect()
}

#[test]
fn twenty_namespaces_with_churn_match_netstat_inside_each_with_and_without_a_daemon() {
    const NAMESPACES: usize = 20;
    const CHURNING: usize = 5;
    const CONNECTIONS: usize = 300;
    const METRICS: &str = "127.0.0.1:19474";
    let namespaces: Vec<Netns> = (0..NAMESPACES)
        .map(|_| Netns::new("many").unwrap())
        .collect();
    // Half the fixtures before the daemon starts, half after.
    let mut held: Vec<Box<dyn Send>> = namespaces[..NAMESPACES / 2]
        .iter()
        .map(|ns| fixture(ns, 9200))
        .collect();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = Running::start_in(
        None,
        &[
            "serve",
            "--socket",
            socket.to_str().unwrap(),
            "--metrics",
            METRICS,
        ],
        SERVING,
    )
    .unwrap();
    held.extend(
        namespaces[NAMESPACES / 2..]
            .iter()
            .map(|ns| fixture(ns, 9200)),
    );
    // Churn in several namespaces at once, each leaving TIME_WAIT sockets behind.
    let churn: Vec<_> = namespaces[..CHURNING]
        .iter()
        .map(|ns| {
            spawn_in(ns.name(), || {
                let listener = TcpListener::bind("127.0.0.1:9300")?;
                for i in 0..CONNECTIONS {
                    if i % 2 == 0 {
                        workload::active_close_by_client(&listener)?;
                    } else {
                        workload::active_close_by_server(&listener)?;
                    }
                }
                Ok(listener)
            })
            .unwrap()
        })
        .collect();
    for thread in churn {
        held.push(Box::new(thread.join().unwrap().unwrap()));
    }

    // The daemon's table of each namespace equals netstat's rows there.
    let mut mismatches = Vec::new();
    for ns in &namespaces {
        let mut last = (Rows::new(), Rows::new());
        let same = wait::until_true(
            format!("{}'s table", ns.name()),
            Duration::from_secs(15),
            || {
                let netstat = netstat_rows(&netstat_in(ns));
                let table = daemon_rows(&socket, ns);
                let same = netstat == table;
                last = (netstat, table);
                Ok(same)
            },
        );
        if same.is_err() {
            let (netstat, table) = &last;
            mismatches.push(format!(
                "{}: missing {:?}, extra {:?}",
                ns.name(),
                netstat.difference(table).take(5).collect::<Vec<_>>(),
                table.difference(netstat).take(5).collect::<Vec<_>>()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let churned = netstat_rows(&netstat_in(&namespaces[0]));
    assert!(
        churned
            .iter()
            .filter(|(_, _, state)| state == "TIME_WAIT")
            .count()
            >= CONNECTIONS / 2,
        "the churn left TIME_WAIT sockets: {churned:?}"
    );

    // Snapshots: without a daemon, and from it, one section per namespace, each netstat's bytes
    // there. `all` also holds namespaces of others; only the test's are compared.
    for source in ["proc", "daemon"] {
        let out = Command::new(enetstat::binary())
            .args(["-tan", "--netns", "all", "--source", source, "--socket"])
            .arg(&socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let found = sections(&String::from_utf8(out.stdout).unwrap());
        let mut differ = Vec::new();
        for ns in &namespaces {
            let netstat = netstat_in(ns);
            match found.get(ns.name()) {
                Some(section) if *section == netstat => {}
                Some(section) => differ.push(format!(
                    "{}:\n--- netstat\n{netstat}--- enetstat\n{section}",
                    ns.name()
                )),
                None => differ.push(format!("{}: no section", ns.name())),
            }
        }
        assert!(
            differ.is_empty(),
            "--source {source}: {}",
            differ.join("\n")
        );
    }

    // Metrics: each namespace's series, labelled with its name, count what netstat counts.
    let response = http::get_accepting(
        METRICS.parse().unwrap(),
        "/metrics",
        http::ACCEPT_OPENMETRICS,
    )
    .unwrap();
    assert_eq!(response.status, 200);
    let exposition = Exposition::parse(&response.body).unwrap();
    for ns in &namespaces {
        let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (local, _, state) in netstat_rows(&netstat_in(ns)) {
            let family = if local.starts_with("127.") {
                "inet"
            } else {
                "inet6"
            };
            *expected.entry((family.into(), state)).or_default() += 1;
        }
        let exported: BTreeMap<(String, String), u64> = exposition
            .samples("enetstat_connections")
            .filter(|s| s.value != 0.0 && s.labels["netns"] == ns.name())
            .map(|s| {
                (
                    (s.labels["family"].clone(), s.labels["state"].clone()),
                    s.value as u64,
                )
            })
            .collect();
        assert_eq!(exported, expected, "{}", ns.name());
    }

    drop(held);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        !finished.stderr.contains("lost"),
        "the daemon lost events: {}",
        finished.stderr
    );
}

/// The daemon's `status` entry for namespace `inode`, if it tracks it.
fn tracked(socket: &Path, inode: u64) -> Option<serde_json::Value> {
    let out = Command::new(enetstat::binary())
        .args(["status", "--json", "--socket"])
        .arg(socket)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ns| ns["inode"].as_u64() == Some(inode))
        .cloned()
}

#[test]
fn a_namespace_made_after_the_daemon_is_tracked_and_one_deleted_is_freed() {
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = Running::start_in(
        None,
        &["serve", "--socket", socket.to_str().unwrap()],
        SERVING,
    )
    .unwrap();
    let ns = Netns::new("later").unwrap();
    let inode = inode_of(&ns);
    let held = fixture(&ns, 9400);
    wait::until_true("the new namespace tracked", Duration::from_secs(15), || {
        Ok(tracked(&socket, inode).is_some_and(|entry| entry["read"] == true))
    })
    .unwrap();
    assert_eq!(daemon_rows(&socket, &ns), netstat_rows(&netstat_in(&ns)));
    assert_eq!(
        tracked(&socket, inode).unwrap()["name"].as_str(),
        Some(ns.name())
    );
    // Gone: its sockets closed and its name deleted, nothing holds it.
    drop(held);
    drop(ns);
    wait::until_true(
        "the deleted namespace freed",
        Duration::from_secs(20),
        || Ok(tracked(&socket, inode).is_none()),
    )
    .unwrap();
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn bad_specs_get_one_line_and_exit_2() {
    let dead = {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    for (spec, says) in [
        ("enetstat-no-such-namespace", "no such network namespace"),
        (&dead.to_string(), "no such process"),
        ("/etc/hostname", "not a network namespace"),
        ("4294967295", "no network namespace has inode"),
        ("", "an empty namespace"),
    ] {
        for args in [&["-tan"][..], &["watch"], &["status", "--table"]] {
            let out = Command::new(enetstat::binary())
                .args(args)
                .args(["--netns", spec])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {spec:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{args:?} {spec:?}: {stderr}");
            assert!(stderr.contains(says), "{args:?} {spec:?}: {stderr}");
            assert!(out.stdout.is_empty());
        }
    }
    let out = Command::new(enetstat::binary())
        .args(["serve", "--netns", "all"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `watch --netns NAME` (filtered in the probe) and `-tanc --netns NAME` show the named
/// namespace's transitions and no other's, the listing under that namespace's heading.
#[test]
fn watch_and_the_continuous_listing_follow_only_the_namespace_named() {
    let followed = Netns::new("followed").unwrap();
    let ignored = Netns::new("ignored").unwrap();
    let (inode, other) = (inode_of(&followed), inode_of(&ignored));
    let watch = Running::start(&["watch", "--json", "--netns", followed.name()]).unwrap();
    let listing = Running::start_in(None, &["-tanc", "--netns", followed.name()], "").unwrap();
    listing
        .wait_for_stdout("the listing's table", Duration::from_secs(10), |out| {
            out.contains("Foreign Address")
        })
        .unwrap();
    for ns in [&followed, &ignored] {
        ns.run(|| {
            let listener = TcpListener::bind("127.0.0.1:9500")?;
            workload::connect_accept_close(&listener)
        })
        .unwrap();
    }
    // The followed namespace's last transition: its listener closing.
    let closed = |out: &str| out.lines().filter(|l| l.contains(":9500 ")).count() >= 8;
    listing
        .wait_for_stdout("the followed connection", Duration::from_secs(10), closed)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let watched = watch.stop().unwrap();
    let listed = listing.stop().unwrap();

    let netns_of = |line: &str| -> Option<u64> {
        serde_json::from_str::<serde_json::Value>(line).unwrap()["netns"].as_u64()
    };
    let lines: Vec<&str> = watched.stdout.lines().collect();
    let ours = lines.iter().filter(|l| netns_of(l) == Some(inode)).count();
    assert!(ours >= 8, "{}", watched.stdout);
    assert_eq!(ours, lines.len(), "another namespace's: {}", watched.stdout);
    assert!(lines.iter().all(|l| netns_of(l) != Some(other)));

    let heading = format!("Network namespace {inode} ({})\n", followed.name());
    assert!(listed.stdout.starts_with(&heading), "{}", listed.stdout);
    assert_eq!(listed.stdout.matches("Network namespace").count(), 1);
    let rows = listed
        .stdout
        .lines()
        .filter(|l| l.contains(":9500 "))
        .count();
    assert_eq!(rows, ours, "-c shows what watch shows: {}", listed.stdout);
}

/// A namespace pinned by a bind mount outside /run/netns, with no process in it (as container
/// runtimes pin theirs), is found by `--netns all` and read by its path.
#[test]
fn a_pinned_namespace_no_process_is_in_is_found() {
    let dir = TempDir::new().unwrap();
    let pin = dir.path.join("pinned");
    std::fs::write(&pin, b"").unwrap();
    let status = Command::new("unshare")
        .arg(format!("--net={}", pin.display()))
        .arg("true")
        .status()
        .unwrap();
    assert!(status.success(), "unshare --net=FILE");
    let inode = std::fs::metadata(&pin).unwrap().ino();
    let all = Command::new(enetstat::binary())
        .args(["-tan", "--netns", "all", "--source", "proc"])
        .output()
        .unwrap();
    let by_path = Command::new(enetstat::binary())
        .args(["-tan", "--source", "proc", "--netns"])
        .arg(&pin)
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&pin).status();
    let all = String::from_utf8_lossy(&all.stdout);
    let heading = format!("Network namespace {inode}\n");
    assert!(all.contains(&heading), "{all}");
    let by_path = String::from_utf8_lossy(&by_path.stdout);
    assert!(by_path.starts_with(&heading), "{by_path}");
    assert!(by_path.contains("Active Internet connections"), "{by_path}");
}
