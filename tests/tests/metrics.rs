//! `enetstat serve --metrics` with the real probe, inside a scratch namespace: the exposition
//! parses strictly, its socket counts equal netstat's, and its transitions and connection
//! lifetimes account for exactly the connections made. Scrapes go over the namespace's loopback.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use enetstat_integration_tests::{
    compare::run_in,
    enetstat::{self, Running, TempDir},
    exposition::Exposition,
    http::{self, Response},
    netns::{Netns, dev_counters_by_bytes_here, spawn_in},
    prometheus::{promtool, run_with_stdin},
    workload,
};

const SERVING: &str = "enetstat: serving on";

fn serve(ns: &Netns, socket: &Path, metrics: &str) -> Running {
    serve_with(ns, socket, metrics, &[])
}

fn serve_with(ns: &Netns, socket: &Path, metrics: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "serve",
        "--socket",
        socket.to_str().unwrap(),
        "--metrics",
        metrics,
    ];
    args.extend_from_slice(extra);
    Running::start_in(Some(ns.name()), &args, SERVING).unwrap()
}

/// Sends `request` to the endpoint from inside the namespace.
fn exchange(ns: &Netns, addr: SocketAddr, request: &[u8], head_only: bool) -> Response {
    let request = request.to_vec();
    ns.run(move || http::exchange(addr, &request, head_only))
        .unwrap()
}

/// One scrape in OpenMetrics, checked and parsed.
fn scrape(ns: &Netns, addr: SocketAddr) -> Exposition {
    let response = ns
        .run(move || http::get_accepting(addr, "/metrics", http::ACCEPT_OPENMETRICS))
        .unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let exposition = Exposition::parse(&response.body)
        .unwrap_or_else(|err| panic!("{err:#}\n{}", response.body));
    for family in &exposition.families {
        assert!(family.name.starts_with("enetstat_"), "{}", family.name);
        assert!(family.help.is_some(), "{} has no HELP", family.name);
        assert_ne!(family.kind, "unknown", "{} has no TYPE", family.name);
    }
    exposition
}

/// (family, state) -> TCP sockets, as `netstat -tan` shows them inside the namespace.
type Counts = BTreeMap<(String, String), u64>;

fn netstat_counts(ns: &Netns) -> Counts {
    let out = run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tan"]);
    assert!(out.status.success(), "{out:?}");
    let mut counts = Counts::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(2) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let family = match fields[0] {
            "tcp" => "inet",
            "tcp6" => "inet6",
            other => panic!("unexpected protocol {other}: {line}"),
        };
        *counts
            .entry((family.to_string(), fields[5].to_string()))
            .or_default() += 1;
    }
    counts
}

/// The non-zero `enetstat_connections` series of namespace `ns` (the daemon follows every
/// namespace on the host; the test's is labelled with its `ip netns` name).
fn exported_counts(exposition: &Exposition, ns: &Netns) -> Counts {
    exposition
        .samples("enetstat_connections")
        .filter(|s| s.value != 0.0 && s.labels["netns"] == ns.name())
        .map(|s| {
            (
                (s.labels["family"].clone(), s.labels["state"].clone()),
                s.value as u64,
            )
        })
        .collect()
}

/// Namespace `ns`'s transitions from `old` to `new`.
fn transitions(exposition: &Exposition, ns: &Netns, old: &str, new: &str) -> u64 {
    exposition
        .value(
            "enetstat_transitions_total",
            &[("old_state", old), ("new_state", new), ("netns", ns.name())],
        )
        .unwrap_or(0.0) as u64
}

fn counter(exposition: &Exposition, name: &str, labels: &[(&str, &str)]) -> u64 {
    exposition
        .value(name, labels)
        .unwrap_or_else(|| panic!("no {name}{labels:?}")) as u64
}

#[test]
fn the_exposition_matches_the_kernel_and_the_connections_made() {
    const CLOSED_V4: usize = 5;
    const CLOSED_V6: usize = 1;
    const HELD: usize = 3;
    const REFUSED: usize = 2;
    const CLOSED: u64 = (CLOSED_V4 + CLOSED_V6) as u64;
    const MADE: u64 = CLOSED + HELD as u64;

    let ns = Netns::new("metrics").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let addr: SocketAddr = "127.0.0.1:9464".parse().unwrap();
    let daemon = serve(&ns, &socket, "127.0.0.1:9464");

    // A first scrape: the only TCP the namespace has seen is the endpoint and this scrape.
    let first = scrape(&ns, addr);
    let mut expected = netstat_counts(&ns);
    // The scrape was open while it was answered: both its ends were established (its server
    // end is now in TIME_WAIT, having closed first).
    *expected
        .entry(("inet".into(), "ESTABLISHED".into()))
        .or_default() += 2;
    *expected
        .entry(("inet".into(), "TIME_WAIT".into()))
        .or_default() -= 1;
    expected.retain(|_, count| *count > 0);
    assert_eq!(exported_counts(&first, &ns), expected);

    // Known connections: closed by either side, on both families, refused, and held open.
    let held = ns
        .run(|| {
            let v4 = TcpListener::bind("127.0.0.1:9500")?;
            let v6 = TcpListener::bind("[::1]:9501")?;
            for i in 0..CLOSED_V4 {
                if i % 2 == 0 {
                    workload::active_close_by_client(&v4)?;
                } else {
                    workload::active_close_by_server(&v4)?;
                }
            }
            for _ in 0..CLOSED_V6 {
                workload::active_close_by_client(&v6)?;
            }
            for _ in 0..REFUSED {
                workload::refused_connect("127.0.0.1:9502".parse()?)?;
            }
            let mut held = Vec::new();
            for i in 0..HELD {
                let listener = if i == 0 { &v6 } else { &v4 };
                let client = TcpStream::connect(listener.local_addr()?)?;
                let (server, _) = listener.accept()?;
                held.push((client, server));
            }
            Ok((v4, v6, held))
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let mut expected = netstat_counts(&ns);
    let metrics = scrape(&ns, addr);
    *expected
        .entry(("inet".into(), "ESTABLISHED".into()))
        .or_default() += 2;
    assert_eq!(
        exported_counts(&metrics, &ns),
        expected,
        "exported vs netstat -tan plus the scrape in progress"
    );
    assert!(expected.contains_key(&("inet6".to_string(), "LISTEN".to_string())));
    assert!(expected.contains_key(&("inet".to_string(), "TIME_WAIT".to_string())));

    // Two scrapes so far: connections too, accepted by the endpoint.
    let scrapes = 2;
    let connected = MADE + scrapes;
    assert_eq!(
        transitions(&metrics, &ns, "CLOSE", "SYN_SENT"),
        connected + REFUSED as u64
    );
    assert_eq!(
        transitions(&metrics, &ns, "SYN_SENT", "ESTABLISHED"),
        connected
    );
    assert_eq!(transitions(&metrics, &ns, "LISTEN", "SYN_RECV"), connected);
    assert_eq!(
        transitions(&metrics, &ns, "SYN_RECV", "ESTABLISHED"),
        connected
    );
    assert_eq!(
        transitions(&metrics, &ns, "SYN_SENT", "CLOSE"),
        REFUSED as u64
    );
    assert!(transitions(&metrics, &ns, "CLOSE", "LISTEN") >= 2);
    // Each closed connection (and the first scrape's) had one side close first...
    assert!(transitions(&metrics, &ns, "ESTABLISHED", "FIN_WAIT1") > CLOSED);
    assert!(transitions(&metrics, &ns, "ESTABLISHED", "CLOSE_WAIT") > CLOSED);
    assert!(transitions(&metrics, &ns, "LAST_ACK", "CLOSE") > CLOSED);
    assert!(transitions(&metrics, &ns, "FIN_WAIT2", "CLOSE") > CLOSED);
    // ...and both its ends were counted once when they closed: refused connects, listeners and
    // the connections still open are not.
    let closed_ends = 2 * (CLOSED + 1);
    assert_eq!(
        counter(&metrics, "enetstat_connection_duration_seconds_count", &[]),
        closed_ends
    );
    let sum = metrics
        .value("enetstat_connection_duration_seconds_sum", &[])
        .unwrap();
    assert!(sum > 0.0 && sum < 60.0 * closed_ends as f64, "sum {sum}");

    // Every event is accounted for, in some namespace's transitions; none was lost.
    let counted: f64 = metrics
        .samples("enetstat_transitions_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(
        counter(&metrics, "enetstat_events_received_total", &[]),
        counted as u64
    );
    for cause in ["ring_full", "recursion"] {
        assert_eq!(
            counter(&metrics, "enetstat_events_lost_total", &[("cause", cause)]),
            0,
            "{cause}"
        );
    }
    assert_eq!(counter(&metrics, "enetstat_resyncs_total", &[]), 0);
    assert_eq!(
        counter(&metrics, "enetstat_malformed_records_total", &[]),
        0
    );

    // Loopback's counters, from the interface probes: the kernel's before the scrape <= the
    // exported <= the kernel's after it (the scrape's own packets cross lo meanwhile).
    let lo_packets = |ns: &Netns| -> [u64; 2] {
        let lo = ns.dev_counters().unwrap()["lo"];
        [lo.rx_packets, lo.tx_packets]
    };
    let before = lo_packets(&ns);
    let metrics = scrape(&ns, addr);
    let after = lo_packets(&ns);
    for (i, direction) in ["rx", "tx"].into_iter().enumerate() {
        let exported = counter(
            &metrics,
            "enetstat_interface_packets_total",
            &[("interface", "lo"), ("direction", direction)],
        );
        assert!(
            before[i] <= exported && exported <= after[i],
            "lo {direction}: {} <= {exported} <= {}",
            before[i],
            after[i]
        );
        assert!(exported > 0);
    }

    drop(held);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn a_port_alone_is_loopback_and_bad_requests_do_not_stop_the_daemon() {
    let ns = Netns::new("metricsbad").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket, "9465");
    let addr: SocketAddr = "127.0.0.1:9465".parse().unwrap();
    let listening = run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tln"]);
    let listening = String::from_utf8_lossy(&listening.stdout);
    assert!(
        listening.lines().any(|l| l.contains(" 127.0.0.1:9465 ")),
        "bound on loopback only: {listening}"
    );

    let status = |request: &[u8]| exchange(&ns, addr, request, false).status;
    assert_eq!(
        status(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"),
        400
    );
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 404);
    assert_eq!(status(b"GET /metricsx HTTP/1.1\r\n\r\n"), 404);
    let post = exchange(
        &ns,
        addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
        false,
    );
    assert_eq!(
        (post.status, post.header("allow")),
        (405, Some("GET, HEAD"))
    );
    let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(status(long.as_bytes()), 431);
    // A client that sends half a request and hangs up.
    let half = ns
        .run(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = TcpStream::connect(addr)?;
            stream.write_all(b"GET /metr")?;
            stream.shutdown(std::net::Shutdown::Write)?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer)?;
            Ok(answer)
        })
        .unwrap();
    assert!(
        half.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&half)
    );

    // Still serving, and HEAD has the length but no body.
    let exposition = scrape(&ns, addr);
    assert!(exposition.family("enetstat_connections").is_some());
    let head = exchange(&ns, addr, b"HEAD /metrics HTTP/1.1\r\n\r\n", true);
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );

    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("enetstat: metrics on http://127.0.0.1:9465/metrics\n"),
        "{}",
        finished.stderr
    );
}

#[test]
fn an_address_in_use_or_malformed_is_one_line_and_a_failure() {
    let ns = Netns::new("metricsbusy").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let taken = ns.run(|| Ok(TcpListener::bind("127.0.0.1:9466")?)).unwrap();
    let run = |metrics: &str| {
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(enetstat::binary())
            .args(["serve", "--socket", socket.to_str().unwrap()])
            .args(["--metrics", metrics])
            .output()
            .unwrap()
    };

    let busy = run("127.0.0.1:9466");
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("enetstat: binding the metrics address 127.0.0.1:9466: ")
            && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(!socket.exists(), "the control socket is removed again");

    for bad in ["localhost:9466", "127.0.0.1", "70000", "::1:9466"] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad}: {stderr}");
        assert!(
            stderr.starts_with("enetstat: --metrics: "),
            "{bad}: {stderr}"
        );
    }
    drop(taken);
}

/// Both formats, as served after some traffic, through Prometheus's own parsers: the text
/// format 0.0.4 through `promtool check metrics` (its linter, which must find nothing), and
/// OpenMetrics through the strict OpenMetrics parser of `promtool tsdb create-blocks-from
/// openmetrics` (which wants a timestamp on each sample, so the test adds one).
#[test]
fn both_formats_pass_promtool() {
    let promtool = promtool();
    let ns = Netns::new("promtool").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let addr: SocketAddr = "127.0.0.1:9467".parse().unwrap();
    // Every family the daemon can export: the health totals too, a drop's reason among them.
    let daemon = serve_with(&ns, &socket, "127.0.0.1:9467", &["--events", "all"]);
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:9510")?;
        workload::active_close_by_client(&listener)?;
        workload::active_close_by_server(&listener)?;
        workload::refused_connect("127.0.0.1:9511".parse()?)?;
        // An unread UDP socket overflows its receive buffer: drops with a reason.
        let unread = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
        for _ in 0..50 {
            sender.send_to(&[0u8; 32768], unread.local_addr()?)?;
        }
        Ok(())
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let text = ns
        .run(move || http::get_accepting(addr, "/metrics", http::ACCEPT_TEXT))
        .unwrap();
    assert_eq!(text.status, 200, "{text:?}");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    // Without an Accept header too.
    let plain = ns.run(move || http::get(addr, "/metrics")).unwrap();
    assert_eq!(plain.header("content-type"), text.header("content-type"));
    let lint = run_with_stdin(&promtool, &["check", "metrics"], text.body.as_bytes());
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {lint:?}\n{}",
        text.body
    );
    // Not vacuous: counters, a histogram and interfaces were linted.
    for family in [
        "enetstat_transitions_total counter",
        "enetstat_connection_duration_seconds histogram",
        "enetstat_interface_packets_total counter",
        "enetstat_retransmitted_segments_total counter",
        "enetstat_tcp_resets_total counter",
        "enetstat_socket_drops_total counter",
    ] {
        assert!(
            text.body.contains(&format!("\n# TYPE {family}\n")),
            "{family}: {}",
            text.body
        );
    }

    let openmetrics = ns
        .run(move || http::get_accepting(addr, "/metrics", http::ACCEPT_OPENMETRICS))
        .unwrap();
    assert_eq!(
        openmetrics.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let mut stamped = String::new();
    let mut samples = 0;
    for line in openmetrics.body.lines() {
        stamped.push_str(line);
        if !line.starts_with('#') {
            stamped.push_str(" 1700000000");
            samples += 1;
        }
        stamped.push('\n');
    }
    let input = dir.path.join("scrape.om");
    std::fs::write(&input, &stamped).unwrap();
    let blocks = dir.path.join("blocks");
    let parsed = run_with_stdin(
        &promtool,
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input.to_str().unwrap(),
            blocks.to_str().unwrap(),
        ],
        b"",
    );
    let report = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success() && parsed.stderr.is_empty(),
        "promtool create-blocks-from openmetrics: {parsed:?}\n{}",
        openmetrics.body
    );
    // Its table: one block, holding every sample served.
    let row: Vec<&str> = report
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.get(4), Some(&samples.to_string().as_str()), "{report}");

    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
}

/// A slow client, reconnecting whenever it is closed, until `until`: it sends the start of a
/// request head (or, `whole_head`, a whole GET) and then one byte every 300 ms, reading what
/// comes but carrying on after the server's half-close, until its writes fail.
fn slow_client(addr: SocketAddr, whole_head: bool, until: Instant) -> anyhow::Result<usize> {
    let mut connections = 0;
    while Instant::now() < until {
        let Ok(mut stream) = TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        connections += 1;
        stream.set_nonblocking(true)?;
        let head: &[u8] = if whole_head {
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        } else {
            b"GET /metrics HTTP/1.1\r\nX-Slow: "
        };
        if stream.write_all(head).is_err() {
            continue;
        }
        let mut sink = [0u8; 4096];
        'trickle: while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(300));
            // Read what came (its answer); an end of file is only the server's half-close.
            loop {
                match stream.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => break 'trickle,
                }
            }
            if stream.write_all(b"a").is_err() {
                break;
            }
        }
    }
    Ok(connections)
}

/// 64 slow clients (half trickling a request head, half trickling after a whole request, all
/// reconnecting when closed) take every connection slot and keep them; a scrape still answers
/// within a second. (Before slots could be reclaimed it waited for the slow clients to stop.)
#[test]
fn slow_clients_do_not_hold_up_a_scrape() {
    const SLOW_CLIENTS: usize = 64;
    const BOUND: Duration = Duration::from_secs(1);
    let ns = Netns::new("slowloris").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let addr: SocketAddr = "127.0.0.1:9468".parse().unwrap();
    let daemon = serve(&ns, &socket, "127.0.0.1:9468");

    let until = Instant::now() + Duration::from_secs(8);
    let clients: Vec<_> = (0..SLOW_CLIENTS)
        .map(|i| spawn_in(ns.name(), move || slow_client(addr, i % 2 == 0, until)).unwrap())
        .collect();
    // Long enough for every slow client to be in, and for the head deadline (2 s) to pass.
    std::thread::sleep(Duration::from_millis(2500));
    let mut latencies = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let response = ns.run(move || http::get(addr, "/metrics")).unwrap();
        latencies.push(started.elapsed());
        assert_eq!(response.status, 200, "{response:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        Instant::now() < until,
        "the slow clients stopped before the scrapes ended: {latencies:?}"
    );
    let connections: usize = clients
        .into_iter()
        .map(|client| client.join().unwrap().unwrap())
        .sum();
    assert!(
        latencies.iter().all(|&latency| latency < BOUND),
        "scrape latencies {latencies:?} with {SLOW_CLIENTS} slow clients"
    );
    assert!(connections >= SLOW_CLIENTS, "{connections}");
    eprintln!("scrape latencies {latencies:?}; slow connections made: {connections}");

    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
}

/// Sends `count` raw Ethernet frames (a local experimental ethertype, no IP) out of the
/// interface named `name`, from the calling thread's namespace.
fn send_raw_frames(name: &[u8], count: usize) -> anyhow::Result<()> {
    let c_name = std::ffi::CString::new(name)?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    anyhow::ensure!(ifindex != 0, "no interface {:?}", name);
    // SAFETY: plain socket(2); protocol 0 receives nothing.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    anyhow::ensure!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd is ours, and closed once, by the OwnedFd.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_ifindex = ifindex as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let mut frame = [0u8; 64];
    frame[..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    for _ in 0..count {
        // SAFETY: the frame and address outlive the call; their sizes are passed.
        let sent = unsafe {
            libc::sendto(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const to).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        anyhow::ensure!(
            sent == frame.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Interfaces whose names are not UTF-8, or hold a control byte: each is its own series, its
/// label the `\xNN` form `-i --json` uses, its counters the kernel's; no control byte reaches
/// the exposition raw. (The names used to be decoded lossily: the first two became one series
/// `"\ufffd\ufffdY"`, and one interface's counters were lost.)
#[test]
fn interface_names_that_are_not_text_are_escaped_and_kept_apart() {
    use std::os::unix::ffi::OsStrExt as _;
    // Two veth pairs, each end sending its own number of frames.
    let names: [(&[u8], &str, usize); 4] = [
        (b"\xff\xfeY", r"\xff\xfeY", 3),
        (b"\xfe\xffY", r"\xfe\xffY", 7),
        (b"esc\x1b[2J", r"esc\x1b[2J", 11),
        (b"escpeer", "escpeer", 1),
    ];
    let ns = Netns::new("ifnames").unwrap();
    // No IPv6: nothing but the test's frames moves the pairs' counters.
    ns.run(|| {
        for key in ["all", "default"] {
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6"), "1")?;
        }
        Ok(())
    })
    .unwrap();
    let ip_bytes = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("ip")
            .args(["-n", ns.name()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    for pair in names.chunks(2) {
        let (a, b) = (
            std::ffi::OsStr::from_bytes(pair[0].0),
            std::ffi::OsStr::from_bytes(pair[1].0),
        );
        ip_bytes(&[
            os("link"),
            os("add"),
            os("name"),
            a,
            os("type"),
            os("veth"),
            os("peer"),
            os("name"),
            b,
        ]);
        for end in [a, b] {
            ip_bytes(&[os("link"), os("set"), os("dev"), end, os("up")]);
        }
    }
    // Carrier up.
    std::thread::sleep(Duration::from_millis(300));
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let addr: SocketAddr = "127.0.0.1:9469".parse().unwrap();
    let daemon = serve(&ns, &socket, "127.0.0.1:9469");
    ns.run(move || {
        for (raw, _, count) in names {
            send_raw_frames(raw, count)?;
        }
        Ok(())
    })
    .unwrap();

    let kernel_before = ns.run(dev_counters_by_bytes_here).unwrap();
    let response = ns
        .run(move || http::get_accepting(addr, "/metrics", http::ACCEPT_OPENMETRICS))
        .unwrap();
    let kernel_after = ns.run(dev_counters_by_bytes_here).unwrap();
    assert!(
        !response
            .body
            .bytes()
            .any(|b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "a raw control byte: {:?}",
        response.body
    );
    let exposition = Exposition::parse(&response.body).unwrap();
    let labels: std::collections::BTreeSet<&str> = exposition
        .samples("enetstat_interface_packets_total")
        .map(|s| s.labels["interface"].as_str())
        .collect();
    for (raw, label, count) in names {
        assert!(labels.contains(label), "{label} not in {labels:?}");
        let (before, after) = (kernel_before[raw], kernel_after[raw]);
        for (direction, before, after) in [
            ("tx", before.tx_packets, after.tx_packets),
            ("rx", before.rx_packets, after.rx_packets),
        ] {
            let exported = counter(
                &exposition,
                "enetstat_interface_packets_total",
                &[("interface", label), ("direction", direction)],
            );
            assert!(
                before <= exported && exported <= after,
                "{label} {direction}: {before} <= {exported} <= {after}"
            );
        }
        assert!(after.tx_packets >= count as u64, "{label}: {after:?}");
    }
    // The pair's ends differ in their counts, so two series could not have been one.
    assert_ne!(
        kernel_after[&b"\xff\xfeY"[..]].tx_packets,
        kernel_after[&b"\xfe\xffY"[..]].tx_packets
    );
    assert!(!labels.iter().any(|l| l.contains('\u{fffd}')), "{labels:?}");

    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
}
