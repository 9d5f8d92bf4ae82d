//! `enetstat -tan FILTER` against `ss -tan FILTER` in a scratch namespace: the same rows, compared
//! as sets of (local, remote, state) after normalising the two tools' spellings.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream, UdpSocket};

use enetstat_integration_tests::{compare::run_in, enetstat, netns::Netns, workload};

const SS: &str = "/usr/bin/ss";

type Row = (String, String, String);

/// Sockets kept open for the comparison's length.
type Held = (Vec<TcpListener>, Vec<TcpStream>, Vec<UdpSocket>);

fn fixture(ns: &Netns) -> Held {
    ns.run(|| {
        let mut listeners = Vec::new();
        let mut streams = Vec::new();
        for addr in [
            "127.0.0.1:2222",
            "127.0.0.1:8080",
            "127.0.0.1:22",
            "[::1]:2222",
            "[::1]:8080",
            "127.0.0.2:443",
        ] {
            listeners.push(TcpListener::bind(addr)?);
        }
        listeners.push(TcpListener::bind("[::]:9090")?);
        for listener in &listeners[..5] {
            let client = TcpStream::connect(listener.local_addr()?)?;
            let (server, _) = listener.accept()?;
            streams.push(client);
            streams.push(server);
        }
        let tw = TcpListener::bind("127.0.0.1:7070")?;
        workload::active_close_by_client(&tw)?;
        listeners.push(tw);
        let mut udp = vec![
            UdpSocket::bind("127.0.0.1:5353")?,
            UdpSocket::bind("[::1]:5353")?,
        ];
        let connected = UdpSocket::bind("127.0.0.1:6000")?;
        connected.connect("127.0.0.1:5353")?;
        udp.push(connected);
        let connected6 = UdpSocket::bind("[::1]:6001")?;
        connected6.connect("[::1]:5353")?;
        udp.push(connected6);
        Ok((listeners, streams, udp))
    })
    .expect("fixture")
}

/// `ADDR:PORT` as either tool spells it, as (address, port): ss's `[v6]`, `*` for the dual-stack
/// any-address and `*` for port 0; netstat's bare v6.
fn endpoint(text: &str) -> String {
    let (addr, port) = text.rsplit_once(':').expect("ADDR:PORT");
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr = match addr {
        "*" => "::",
        a => a.split('%').next().unwrap(),
    };
    let port = if port == "*" { "0" } else { port };
    format!("{addr} {port}")
}

fn ss_state(state: &str) -> String {
    match state {
        "ESTAB" => "ESTABLISHED".into(),
        "UNCONN" => String::new(),
        "FIN-WAIT-1" => "FIN_WAIT1".into(),
        "FIN-WAIT-2" => "FIN_WAIT2".into(),
        s => s.replace('-', "_"),
    }
}

/// ss's rows, and whether it printed a State column (it leaves it out when one state is asked for;
/// then states are not compared, only which sockets were selected).
fn ss_rows(out: &str) -> (BTreeSet<Row>, bool) {
    let with_state = out.starts_with("State");
    let rows = out
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            match with_state {
                true => (endpoint(f[3]), endpoint(f[4]), ss_state(f[0])),
                false => (endpoint(f[2]), endpoint(f[3]), String::new()),
            }
        })
        .collect();
    (rows, with_state)
}

fn netstat_rows(out: &str) -> BTreeSet<Row> {
    out.lines()
        .skip(2)
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (
                endpoint(f[3]),
                endpoint(f[4]),
                f.get(5).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

const TCP: &[&str] = &[
    "",
    "state established",
    "state listening",
    "state time-wait",
    "state connected",
    "state synchronized",
    "state bucket",
    "state big",
    "state all",
    "exclude listening",
    "state established state listening",
    "state all exclude time-wait",
    "sport = :2222",
    "sport == 2222",
    "dport = :8080",
    "sport eq :ssh",
    "sport != :2222",
    "sport neq 8080",
    "sport ne 8080",
    "sport > :2222",
    "sport gt 2222",
    "sport < :8080",
    "sport lt 8080",
    "sport >= :8080",
    "sport ge 8080",
    "dport <= :2222",
    "dport le 2222",
    "( dport = :8080 or sport = :ssh )",
    "state established ( dport = :8080 or sport = :2222 )",
    "sport = :2222 dport > :1024",
    "sport = :2222 and not dport = :0",
    "sport = :2222 && dport != :0",
    "sport = :8080 || dport = :8080",
    "not ( sport = :8080 or not ( dport = :2222 ) )",
    "! sport = :8080",
    "src 127.0.0.0/8",
    "src 127.0.0.2",
    "src [::1]",
    "src [::1]:8080",
    "dst [::1]:2222",
    "src 127.0.0.1:2222",
    "src :9090",
    "src *:9090",
    "dst 127.0.0.1",
    "src 0.0.0.0/0",
    "not dst 127.0.0.1",
    "src = 127.0.0.1:*",
    "state listening src [::]",
    "exclude listening not src 127.0.0.0/8",
];

const UDP: &[&str] = &[
    "",
    "state established",
    "state closed",
    "state connected",
    "sport = :5353",
    "dport = :5353",
    "src [::1]",
    "src 127.0.0.1 or dport = :5353",
];

fn compare(ns: &Netns, flags: &str, expression: &str) -> Option<String> {
    let words: Vec<&str> = std::iter::once(flags)
        .chain(expression.split_whitespace())
        .collect();
    let ss = run_in(ns.name(), SS.as_ref(), &words);
    let ours = run_in(ns.name(), &enetstat::binary(), &words);
    assert!(
        ss.status.success(),
        "ss {words:?}: {}",
        String::from_utf8_lossy(&ss.stderr)
    );
    assert!(
        ours.status.success(),
        "enetstat {words:?}: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let (expected, with_state) = ss_rows(&String::from_utf8_lossy(&ss.stdout));
    let mut actual = netstat_rows(&String::from_utf8_lossy(&ours.stdout));
    if !with_state {
        actual = actual
            .into_iter()
            .map(|(l, r, _)| (l, r, String::new()))
            .collect();
    }
    (expected != actual).then(|| format!("{words:?}:\n ss: {expected:?}\n enetstat: {actual:?}"))
}

#[test]
fn filters_select_the_rows_ss_selects() {
    let ns = Netns::new("filters").expect("namespace");
    let _held = fixture(&ns);
    let mut failures = Vec::new();
    for expression in TCP {
        failures.extend(compare(&ns, "-tan", expression));
    }
    for expression in UDP {
        failures.extend(compare(&ns, "-uan", expression));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_expressions_fail_in_both_and_name_the_token() {
    let ns = Netns::new("filters").expect("namespace");
    for (expression, token) in [
        ("sport = :no-such-service-here", ":no-such-service-here"),
        ("bogus", "bogus"),
        ("sport ~ 22", "~"),
        ("state nosuchstate", "nosuchstate"),
        ("src ::1", "::1"),
        ("dst != 127.0.0.1", "!="),
    ] {
        let words: Vec<&str> = std::iter::once("-tan")
            .chain(expression.split_whitespace())
            .collect();
        let ss = run_in(ns.name(), SS.as_ref(), &words);
        assert!(!ss.status.success(), "ss accepted {expression}");
        let ours = run_in(ns.name(), &enetstat::binary(), &words);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(ours.status.code(), Some(2), "{expression}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{expression}: {stderr}");
        assert!(
            stderr.contains(&format!("'{token}'")),
            "{expression}: {stderr}"
        );
    }
}
