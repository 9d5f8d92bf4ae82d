//! `--tcp-info`: on connections in a scratch namespace, idle after an exchange, enetstat's
//! tcp_info fields are `ss -tin`'s for the same sockets: the counters (cwnd, total retransmits,
//! lost, unacked, bytes acked and received) exactly, RTT and RTTVAR within `RTT_TOLERANCE`; in
//! JSON and text, read in the namespace and through `--netns`, from sock_diag rows and from /proc
//! rows (-o). Without the option, `-tanp` is still netstat's, byte for byte.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::HashMap,
    io::{Read as _, Write as _},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    path::Path,
    sync::mpsc,
    time::Duration,
};

use enetstat_integration_tests::{
    compare::run_in,
    enetstat,
    netns::{Netns, spawn_in},
    prerequisite,
};
use serde_json::Value;

/// RTT and RTTVAR (µs) may differ from ss's by this many µs, or by `RTT_TOLERANCE_RATIO` of
/// ss's value, whichever is more. ss prints them in ms with `%g` (exact to the µs below 1 s), and
/// an idle socket takes no RTT sample between the two dumps; the slack covers one that does.
const RTT_TOLERANCE_US: u64 = 20;
const RTT_TOLERANCE_RATIO: f64 = 0.1;

/// The counters compared exactly, by their JSON keys.
const COUNTERS: [&str; 6] = [
    "cwnd",
    "total_retrans",
    "lost",
    "unacked",
    "bytes_acked",
    "bytes_received",
];

/// A socket, by its two endpoints (a listener's remote port is 0).
type Key = (SocketAddr, SocketAddr);

/// What ss showed of one socket, with its fields by our JSON keys, in µs and counts. ss leaves a
/// zero counter out: absent is 0.
#[derive(Debug, Default)]
struct SsInfo {
    fields: HashMap<&'static str, u64>,
}

impl SsInfo {
    fn get(&self, key: &str) -> u64 {
        self.fields.get(key).copied().unwrap_or(0)
    }
}

/// An endpoint as ss -n prints it: `127.0.0.1:80`, `[::1]:80`, `0.0.0.0:*`.
fn ss_endpoint(text: &str) -> Option<SocketAddr> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.split('%').next()?;
    let port = if port == "*" { 0 } else { port.parse().ok()? };
    Some(SocketAddr::new(host.parse().ok()?, port))
}

/// `ss -tainH`: a socket's line, then its details on lines that start with white space.
fn parse_ss(text: &str) -> HashMap<Key, SsInfo> {
    let mut sockets = HashMap::new();
    let mut current: Option<Key> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            current = match fields.as_slice() {
                [_, _, _, local, peer, ..] => ss_endpoint(local).zip(ss_endpoint(peer)),
                _ => None,
            };
            continue;
        }
        let Some(key) = current else { continue };
        let info: &mut SsInfo = sockets.entry(key).or_default();
        for word in line.split_whitespace() {
            let Some((name, value)) = word.split_once(':') else {
                continue;
            };
            let ms = |v: &str| (v.parse::<f64>().unwrap() * 1000.0).round() as u64;
            match name {
                "rtt" => {
                    let (rtt, var) = value.split_once('/').unwrap();
                    info.fields.insert("rtt_us", ms(rtt));
                    info.fields.insert("rttvar_us", ms(var));
                }
                "retrans" => {
                    let (_, total) = value.split_once('/').unwrap();
                    info.fields.insert("total_retrans", total.parse().unwrap());
                }
                "cwnd" | "lost" | "unacked" | "bytes_acked" | "bytes_received" => {
                    let key = COUNTERS.into_iter().find(|k| *k == name).unwrap();
                    info.fields.insert(key, value.parse().unwrap());
                }
                _ => {}
            }
        }
    }
    sockets
}

#[test]
fn ss_output_is_parsed() {
    let text = "ESTAB 0 0 127.0.0.1:41234 127.0.0.1:8080\n\t cubic wscale:7,7 rto:201 rtt:0.041/0.02 ato:40 mss:32768 cwnd:10 retrans:0/3 bytes_sent:5 bytes_acked:6 bytes_received:1234 lost:2\nLISTEN 2 4096 [::1]:8080 [::]:*\n\t cubic cwnd:10 unacked:2\n";
    let parsed = parse_ss(text);
    let v4: SocketAddr = "127.0.0.1:41234".parse().unwrap();
    let info = &parsed[&(v4, "127.0.0.1:8080".parse().unwrap())];
    assert_eq!(info.get("rtt_us"), 41);
    assert_eq!(info.get("rttvar_us"), 20);
    assert_eq!(info.get("total_retrans"), 3);
    assert_eq!(info.get("bytes_acked"), 6);
    assert_eq!(info.get("bytes_received"), 1234);
    assert_eq!(info.get("lost"), 2);
    assert_eq!(info.get("unacked"), 0);
    let listener = &parsed[&("[::1]:8080".parse().unwrap(), "[::]:0".parse().unwrap())];
    assert_eq!((listener.get("cwnd"), listener.get("unacked")), (10, 2));
}

/// The sockets under test, held open on a thread in the namespace until `release` is sent:
/// three connections, idle after an exchange of different sizes, and a listener per family with
/// two connections it has not accepted (a listener's `unacked` is its accept queue). Returns
/// each connection's client endpoint key with the bytes each way.
struct Workload {
    connections: Vec<(Key, usize, usize)>,
    listeners: Vec<SocketAddr>,
    release: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

fn start_workload(ns: &Netns) -> Workload {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let thread = spawn_in(ns.name(), move || {
        let mut held = Vec::new();
        let mut connections = Vec::new();
        for (i, addr) in ["127.0.0.1:0", "127.0.0.1:0", "[::1]:0"].iter().enumerate() {
            let listener = TcpListener::bind(addr)?;
            let mut client = TcpStream::connect(listener.local_addr()?)?;
            let (mut server, _) = listener.accept()?;
            let (up, down) = (1000 + 777 * i, 5000 + 13_131 * i);
            client.write_all(&vec![b'c'; up])?;
            server.read_exact(&mut vec![0; up])?;
            server.write_all(&vec![b's'; down])?;
            client.read_exact(&mut vec![0; down])?;
            connections.push(((client.local_addr()?, client.peer_addr()?), up, down));
            held.push((listener, client, server));
        }
        let mut listeners = Vec::new();
        let mut pending = Vec::new();
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let listener = TcpListener::bind(addr)?;
            for _ in 0..2 {
                pending.push(TcpStream::connect(listener.local_addr()?)?);
            }
            listeners.push(listener);
        }
        let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        ready_tx.send((connections, addrs)).unwrap();
        let _ = release_rx.recv();
        drop((held, listeners, pending));
        Ok(())
    })
    .unwrap();
    let (connections, listeners) = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the workload's sockets");
    Workload {
        connections,
        listeners,
        release,
        thread,
    }
}

fn stdout_of(ns: &Netns, program: &Path, args: &[&str]) -> String {
    let out = run_in(ns.name(), program, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A JSON row's endpoints.
fn json_key(row: &Value) -> Key {
    let addr = |a: &str, p: &str| {
        SocketAddr::new(
            row[a].as_str().unwrap().parse::<IpAddr>().unwrap(),
            row[p].as_u64().unwrap() as u16,
        )
    };
    (addr("laddr", "lport"), addr("raddr", "rport"))
}

/// The TCP rows' tcp_info objects, by socket.
fn json_infos(text: &str) -> HashMap<Key, Value> {
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|row| row["proto"] == "tcp")
        .map(|row| (json_key(&row), row["tcp_info"].clone()))
        .collect()
}

/// Every socket the workload made: its connections' two ends, the listeners' pending
/// connections are not known by port, so the listeners themselves.
fn keys(workload: &Workload) -> Vec<Key> {
    let mut keys = Vec::new();
    for &((client, server), _, _) in &workload.connections {
        keys.push((client, server));
        keys.push((server, client));
    }
    for &listener in &workload.listeners {
        let any: IpAddr = if listener.is_ipv4() {
            "0.0.0.0".parse().unwrap()
        } else {
            "::".parse().unwrap()
        };
        keys.push((listener, SocketAddr::new(any, 0)));
    }
    keys
}

/// Our tcp_info of every socket the workload made equals ss's, as the module says.
fn assert_matches_ss(ours: &HashMap<Key, Value>, ss: &HashMap<Key, SsInfo>, workload: &Workload) {
    let keys = keys(workload);
    for key in &keys {
        let info = ours
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} is not listed: {ours:?}"));
        let theirs = ss
            .get(key)
            .unwrap_or_else(|| panic!("ss does not list {key:?}"));
        assert!(info.is_object(), "{key:?}: tcp_info {info}");
        for counter in COUNTERS {
            assert_eq!(
                info[counter].as_u64(),
                Some(theirs.get(counter)),
                "{key:?} {counter}: ours {info}, ss {theirs:?}"
            );
        }
        for rtt in ["rtt_us", "rttvar_us"] {
            let (a, b) = (info[rtt].as_u64().unwrap(), theirs.get(rtt));
            let slack = RTT_TOLERANCE_US.max((b as f64 * RTT_TOLERANCE_RATIO) as u64);
            assert!(
                a.abs_diff(b) <= slack,
                "{key:?} {rtt}: ours {a}, ss {b} (tolerance {slack} µs)"
            );
        }
        for key in enetstat_keys() {
            assert!(info.get(key).is_some(), "{key} missing from {info}");
        }
    }
    // The right sockets: each end received what the other sent, and the listeners' queues.
    for &((client, server), up, down) in &workload.connections {
        assert_eq!(ours[&(client, server)]["bytes_received"], down as u64);
        assert_eq!(ours[&(server, client)]["bytes_received"], up as u64);
        assert!(ours[&(client, server)]["rtt_us"].as_u64().unwrap() > 0);
    }
    for key in &keys[keys.len() - workload.listeners.len()..] {
        assert_eq!(ours[key]["unacked"], 2, "{key:?}: two connections queued");
    }
}

/// The JSON keys, in the text columns' order.
fn enetstat_keys() -> [&'static str; 12] {
    [
        "rtt_us",
        "rttvar_us",
        "cwnd",
        "total_retrans",
        "lost",
        "unacked",
        "bytes_acked",
        "bytes_received",
        "delivery_rate",
        "busy_us",
        "rwnd_limited_us",
        "sndbuf_limited_us",
    ]
}

#[test]
fn tcp_info_equals_ss_for_idle_connections_in_json_text_netns_and_proc_rows() {
    let ss = prerequisite::require("ss", "iproute2");
    let netstat = prerequisite::require("netstat", "net-tools");
    let ns = Netns::new("tcpinfo").unwrap();
    let workload = start_workload(&ns);
    // Past the delayed ACKs: no segment moves, so no RTT sample lands between the dumps.
    ns.wait_until_idle(Duration::from_millis(500)).unwrap();
    let bin = enetstat::binary();

    let ours = json_infos(&stdout_of(&ns, &bin, &["-tanp", "--tcp-info", "--json"]));
    let theirs = parse_ss(&stdout_of(&ns, &ss, &["-tainH"]));
    assert_matches_ss(&ours, &theirs, &workload);

    // /proc's rows (-o reads them) joined with a dump of their own: the same values.
    let from_proc = json_infos(&stdout_of(&ns, &bin, &["-tano", "--tcp-info", "--json"]));
    assert_matches_ss(&from_proc, &theirs, &workload);

    // From the host's namespace, through --netns.
    let out = std::process::Command::new(&bin)
        .args(["-tan", "--tcp-info", "--json", "--netns", ns.name()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.contains("\"netns\":")), "{text}");
    assert_matches_ss(&json_infos(&text), &theirs, &workload);

    // Text: netstat's line, then the columns, each the JSON field (or `-`).
    let plain = stdout_of(&ns, &bin, &["-tanp"]);
    assert_eq!(
        plain,
        stdout_of(&ns, &netstat, &["-tanp"]),
        "without --tcp-info"
    );
    let with = stdout_of(&ns, &bin, &["-tanp", "--tcp-info"]);
    let (plain_lines, with_lines): (Vec<&str>, Vec<&str>) =
        (plain.lines().collect(), with.lines().collect());
    assert_eq!(plain_lines.len(), with_lines.len(), "{with}");
    let headings: Vec<String> = enetstat_keys().iter().map(|k| k.to_uppercase()).collect();
    assert_eq!(
        with_lines[1],
        format!("{} {}", plain_lines[1], headings.join(" "))
    );
    for (line, plain_line) in with_lines[2..].iter().zip(&plain_lines[2..]) {
        let rest = line
            .strip_prefix(plain_line)
            .unwrap_or_else(|| panic!("{line:?} does not start with netstat's {plain_line:?}"));
        let columns: Vec<&str> = rest.split_whitespace().collect();
        assert_eq!(columns.len(), 12, "{line:?}");
        let fields: Vec<&str> = plain_line.split_whitespace().collect();
        let key = (
            ss_endpoint(fields[3]).unwrap(),
            ss_endpoint(fields[4]).unwrap(),
        );
        if let Some(info) = ours.get(&key).filter(|_| keys(&workload).contains(&key)) {
            for (column, name) in columns.iter().zip(enetstat_keys()) {
                if matches!(name, "rtt_us" | "rttvar_us" | "delivery_rate") {
                    continue; // may move between two runs of ours
                }
                assert_eq!(*column, info[name].to_string(), "{line:?} {name}");
            }
        }
    }

    workload.release.send(()).unwrap();
    workload.thread.join().unwrap().unwrap();
}

#[test]
fn tcp_info_without_a_tcp_listing_or_with_the_daemon_is_a_usage_error() {
    for args in [
        &["-s", "--tcp-info"][..],
        &["-r", "--tcp-info"],
        &["-i", "--tcp-info"],
        &["-uan", "--tcp-info"],
        &["-tan", "--tcp-info", "--source", "daemon"],
        &["watch", "--tcp-info"],
    ] {
        let out = std::process::Command::new(enetstat::binary())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
