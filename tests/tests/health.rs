//! `enetstat watch --events`: retransmits, resets and drops from the real probes, against the
//! kernel's own counters (/proc/net/snmp in the test's namespaces) and `ss -ti`. All traffic runs
//! inside scratch namespaces joined by a veth pair, or on a scratch namespace's loopback.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    process::Command,
    time::Duration,
};

use anyhow::Context as _;
use enetstat_integration_tests::{
    enetstat::{self, Finished, Running},
    exposition::Exposition,
    http,
    netns::{Netns, ip},
    prerequisite, wait, workload,
};
use serde_json::Value;

/// One counter of /proc/net/snmp (`Tcp: RetransSegs`, `Udp: RcvbufErrors`) in the calling
/// thread's namespace.
fn snmp_counter(protocol: &str, name: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
    let prefix = format!("{protocol}:");
    let mut rows = text.lines().filter(|line| line.starts_with(&prefix));
    let (names, values) = (rows.next(), rows.next());
    let (Some(names), Some(values)) = (names, values) else {
        anyhow::bail!("no {protocol} rows in /proc/net/snmp");
    };
    let column = names
        .split_whitespace()
        .position(|n| n == name)
        .with_context(|| format!("no {protocol} {name} in /proc/net/snmp"))?;
    Ok(values
        .split_whitespace()
        .nth(column)
        .context("short snmp row")?
        .parse()?)
}

fn snmp_in(ns: &Netns, protocol: &'static str, name: &'static str) -> anyhow::Result<u64> {
    ns.run(move || snmp_counter(protocol, name))
}

/// Starts `enetstat watch --json --events EVENTS --netns NS EXTRA...`.
fn watch(events: &str, ns: &Netns, extra: &[&str]) -> anyhow::Result<Running> {
    let mut args = vec!["watch", "--json", "--events", events, "--netns", ns.name()];
    args.extend_from_slice(extra);
    Running::start(&args)
}

/// The objects of `event` kind.
fn of_kind(finished: &Finished, event: &str) -> anyhow::Result<Vec<Value>> {
    let all = finished.json_lines()?;
    let lost: Vec<_> = all.iter().filter(|v| v["event"] == "lost").collect();
    anyhow::ensure!(lost.is_empty(), "records lost: {lost:?}");
    Ok(all.into_iter().filter(|v| v["event"] == event).collect())
}

/// Stops the watcher once `count` objects of `event` have arrived (or the deadline passes, so
/// that the assertion then shows what did).
fn stop_after(running: Running, event: &str, count: usize) -> anyhow::Result<Finished> {
    let needle = format!("\"event\":\"{event}\"");
    let _ = running.wait_for_stdout(event, Duration::from_secs(5), |out| {
        out.matches(&needle).count() >= count
    });
    // The drain interval is 20 ms: anything beyond `count` that is on its way arrives too.
    std::thread::sleep(Duration::from_millis(200));
    running.stop()
}

/// Two namespaces joined by a veth pair: the sender at 10.9.8.1, the receiver at 10.9.8.2.
fn veth_pair(tag: &str) -> anyhow::Result<(Netns, Netns)> {
    let sender = Netns::new(tag)?;
    let receiver = Netns::new(&format!("{tag}r"))?;
    let (s, r) = (sender.name(), receiver.name());
    ip(&[
        "-n", s, "link", "add", "hv-s", "type", "veth", "peer", "name", "hv-r",
    ])?;
    ip(&["-n", s, "link", "set", "hv-r", "netns", r])?;
    ip(&["-n", s, "addr", "add", "10.9.8.1/24", "dev", "hv-s"])?;
    ip(&["-n", r, "addr", "add", "10.9.8.2/24", "dev", "hv-r"])?;
    ip(&["-n", s, "link", "set", "hv-s", "up"])?;
    ip(&["-n", r, "link", "set", "hv-r", "up"])?;
    sender.wait_for_link_up("hv-s")?;
    receiver.wait_for_link_up("hv-r")?;
    Ok((sender, receiver))
}

/// `retrans:A/B` of `ss -tin` in `ns` for the connection to `peer` (B, the socket's total), and
/// `rtt:SRTT/RTTVAR`'s smoothed RTT in milliseconds.
fn ss_retrans_and_rtt(ns: &Netns, peer: &str) -> anyhow::Result<(u64, f64)> {
    let ss = prerequisite::require("ss", "iproute2");
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(ss)
        .args(["-tinH", "dst", peer])
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    anyhow::ensure!(
        text.lines().filter(|l| l.starts_with("ESTAB")).count() == 1,
        "expected one connection to {peer}: {text}"
    );
    // No retrans field at all: the socket never retransmitted.
    let retrans = text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("retrans:"))
        .map(|value| value.rsplit('/').next().unwrap_or("0").parse())
        .transpose()?
        .unwrap_or(0);
    let rtt = text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("rtt:"))
        .and_then(|value| value.split('/').next())
        .context("no rtt: in ss -ti")?
        .parse()?;
    Ok((retrans, rtt))
}

#[test]
fn retransmits_sum_to_the_kernels_retrans_segs_and_ss_total() -> anyhow::Result<()> {
    let (sender, receiver) = veth_pair("hretx")?;
    const PORT: u16 = 5301;
    const BYTES: usize = 400_000;
    let listener = receiver.run(|| Ok(TcpListener::bind(("10.9.8.2", PORT))?))?;
    let running = watch("retransmit", &sender, &["--rport", &PORT.to_string()])?;
    let lifetimes = Running::start(&[
        "watch",
        "--json",
        "--lifetimes",
        "--netns",
        sender.name(),
        "--rport",
        &PORT.to_string(),
    ])?;
    let before = snmp_in(&sender, "Tcp", "RetransSegs")?;

    // The receiver reads everything, then waits for the sender's close.
    let reader = std::thread::spawn(move || -> anyhow::Result<(usize, TcpStream)> {
        let (mut stream, _) = listener.accept()?;
        let mut buf = vec![0u8; 65536];
        let mut total = 0;
        while total < BYTES {
            let n = stream.read(&mut buf)?;
            anyhow::ensure!(n > 0, "sender closed early after {total} bytes");
            total += n;
        }
        Ok((total, stream))
    });
    // The sender writes in small pieces, so that the transfer is still running when the
    // receiver's address goes away; the stream is kept open for `ss`.
    let writer = enetstat_integration_tests::netns::spawn_in(sender.name(), move || {
        let mut stream = TcpStream::connect(("10.9.8.2", PORT))?;
        for _ in 0..BYTES / 4000 {
            stream.write_all(&[7u8; 4000])?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(stream)
    })?;
    std::thread::sleep(Duration::from_millis(300));
    ip(&[
        "-n",
        receiver.name(),
        "addr",
        "del",
        "10.9.8.2/24",
        "dev",
        "hv-r",
    ])?;
    std::thread::sleep(Duration::from_millis(1500));
    ip(&[
        "-n",
        receiver.name(),
        "addr",
        "add",
        "10.9.8.2/24",
        "dev",
        "hv-r",
    ])?;
    let stream = writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    let (received, receiving) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    assert_eq!(received, BYTES);
    // Everything was acked once the receiver read it all; give the last ACK a moment.
    let ss = prerequisite::require("ss", "iproute2");
    wait::until_true("the send queue to drain", Duration::from_secs(10), || {
        let out = Command::new("ip")
            .args(["netns", "exec", sender.name()])
            .arg(&ss)
            .args(["-tnH", "dst", "10.9.8.2"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        Ok(text.split_whitespace().nth(2) == Some("0"))
    })?;
    let (ss_total, ss_rtt_ms) = ss_retrans_and_rtt(&sender, "10.9.8.2")?;
    let delta = snmp_in(&sender, "Tcp", "RetransSegs")? - before;
    let finished = stop_after(running, "retransmit", 1)?;
    drop((stream, receiving));
    let _ = lifetimes.wait_for_stdout("the sender's lifetime", Duration::from_secs(10), |out| {
        out.contains("\"event\":\"lifetime\"")
    });
    let lifetimes = lifetimes.stop()?;

    let events = of_kind(&finished, "retransmit")?;
    let sum: u64 = events.iter().map(|e| e["segments"].as_u64().unwrap()).sum();
    let probes = events.iter().filter(|e| e["tlp"] == true).count();
    eprintln!(
        "{} retransmit events ({probes} loss probes), {sum} segments; RetransSegs +{delta}; ss retrans {ss_total}, rtt {ss_rtt_ms} ms",
        events.len()
    );
    assert!(
        delta > 0,
        "the outage caused no retransmits: {}",
        finished.stderr
    );
    assert_eq!(
        sum, delta,
        "retransmit events' segments against the sender's RetransSegs delta: {events:#?}"
    );
    assert_eq!(sum, ss_total, "against ss -ti's retrans total");
    let cookies: std::collections::BTreeSet<_> =
        events.iter().map(|e| e["cookie"].to_string()).collect();
    assert_eq!(cookies.len(), 1, "one connection: {cookies:?}");
    // `--lifetimes` at the close: the connection's retransmits and smoothed RTT, against ss's
    // (RTT within a factor of two or 0.2 ms: the closing exchange adds samples after ss read it).
    let lives = of_kind(&lifetimes, "lifetime")?;
    assert_eq!(lives.len(), 1, "the sender's connection: {lives:#?}");
    assert_eq!(lives[0]["retransmits"], ss_total, "{}", lives[0]);
    let srtt_ms = lives[0]["srtt_us"].as_f64().context("srtt_us")? / 1e3;
    assert!(
        (srtt_ms - ss_rtt_ms).abs() <= 0.2 || (srtt_ms / ss_rtt_ms - 1.0).abs() <= 1.0,
        "srtt at the close {srtt_ms} ms against ss's {ss_rtt_ms} ms"
    );
    for e in &events {
        assert_eq!(e["laddr"], "10.9.8.1");
        assert_eq!(e["raddr"], "10.9.8.2");
        assert_eq!(e["rport"], PORT);
        assert_eq!(e["protocol"], "tcp");
        assert_eq!(e["synack"], false);
        assert!(e["tlp"].is_boolean());
        // The connection was made by this process (its connect is the owner's own call).
        assert_eq!(e["pid"], std::process::id(), "{e}");
    }
    Ok(())
}

/// The two reset objects on `port` (either end): the sent one and the received one. Their order
/// in the stream says nothing: on loopback the peer takes the reset inside the sender's call,
/// before the sending side's tracepoint fires.
fn sent_and_received(finished: &Finished, port: u16) -> anyhow::Result<(Value, Value)> {
    let resets: Vec<_> = of_kind(finished, "reset")?
        .into_iter()
        .filter(|e| e["lport"] == port || e["rport"] == port)
        .collect();
    let pick = |direction: &str| {
        let mut matching = resets.iter().filter(|e| e["direction"] == direction);
        match (matching.next(), matching.next()) {
            (Some(one), None) => Ok(one.clone()),
            _ => Err(anyhow::anyhow!(
                "expected one {direction} reset on port {port}, got {resets:#?}"
            )),
        }
    };
    anyhow::ensure!(resets.len() == 2, "two resets on port {port}: {resets:#?}");
    Ok((pick("sent")?, pick("received")?))
}

fn direction(e: &Value) -> (&str, u64, u64) {
    (
        e["direction"].as_str().unwrap_or("?"),
        e["lport"].as_u64().unwrap_or(0),
        e["rport"].as_u64().unwrap_or(0),
    )
}

#[test]
fn a_refused_connect_gives_a_sent_reset_without_socket_and_a_received_one() -> anyhow::Result<()> {
    let ns = Netns::new("hrst1")?;
    const PORT: u16 = 5311;
    let running = watch("reset", &ns, &[])?;
    ns.run(|| workload::refused_connect(SocketAddr::from(([127, 0, 0, 1], PORT))))?;
    let finished = stop_after(running, "reset", 2)?;
    let (sent, received) = sent_and_received(&finished, PORT)?;
    let client_port = received["lport"].as_u64().unwrap();
    assert_eq!(direction(&sent), ("sent", u64::from(PORT), client_port));
    assert_eq!(sent["no_socket"], true);
    assert_eq!(sent["reason"], "NO_SOCKET", "{sent}");
    assert_eq!(sent["pid"], Value::Null, "no socket, so no owner");
    assert_eq!(
        direction(&received),
        ("received", client_port, u64::from(PORT))
    );
    assert_eq!(received["no_socket"], false);
    assert_eq!(received["state"], "SYN_SENT");
    assert_eq!(
        received["pid"],
        std::process::id(),
        "the connecting process"
    );
    Ok(())
}

#[test]
fn an_so_linger_zero_abort_is_sent_by_its_owner_and_received_by_the_peer() -> anyhow::Result<()> {
    let ns = Netns::new("hrst2")?;
    let listener = ns.run(|| Ok(TcpListener::bind("127.0.0.1:0")?))?;
    let port = listener.local_addr()?.port();
    let running = watch("reset", &ns, &[])?;
    ns.run(move || workload::rst_abort_by_client(&listener))?;
    let finished = stop_after(running, "reset", 2)?;
    let (sent, received) = sent_and_received(&finished, port)?;
    let client_port = sent["lport"].as_u64().unwrap();
    assert_eq!(direction(&sent), ("sent", client_port, u64::from(port)));
    assert_eq!(sent["no_socket"], false);
    assert_eq!(
        sent["pid"],
        std::process::id(),
        "the aborting process: {sent}"
    );
    assert!(
        sent["reason"]
            .as_str()
            .is_some_and(|r| !r.starts_with("reason ")),
        "a named reason: {sent}"
    );
    assert_eq!(
        direction(&received),
        ("received", u64::from(port), client_port)
    );
    assert_eq!(received["state"], "ESTABLISHED");
    Ok(())
}

#[test]
fn data_for_a_closed_socket_is_answered_with_a_reset() -> anyhow::Result<()> {
    let ns = Netns::new("hrst3")?;
    let listener = ns.run(|| Ok(TcpListener::bind("127.0.0.1:0")?))?;
    let port = listener.local_addr()?.port();
    let running = watch("reset", &ns, &[])?;
    let client_port = ns.run(move || {
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        // The server closes (a FIN); the data the client sends after it has nowhere to go.
        drop(server);
        std::thread::sleep(Duration::from_millis(100));
        client.write_all(b"too late")?;
        // The reset arrived within the write (loopback); the socket is closed now, so the next
        // write fails and sends nothing.
        std::thread::sleep(Duration::from_millis(100));
        let port = client.local_addr()?.port();
        let after = client.write(b"x");
        anyhow::ensure!(
            matches!(&after, Err(e) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)),
            "expected the reset to have closed the socket, got {after:?}"
        );
        Ok(port)
    })?;
    let finished = stop_after(running, "reset", 2)?;
    let (sent, received) = sent_and_received(&finished, port)?;
    let client_port = u64::from(client_port);
    assert_eq!(direction(&sent), ("sent", u64::from(port), client_port));
    assert_eq!(
        sent["no_socket"], false,
        "the closed socket answers: {sent}"
    );
    assert!(
        sent["reason"]
            .as_str()
            .is_some_and(|r| !r.starts_with("reason ")),
        "a named reason: {sent}"
    );
    // The server socket's owner closed it (a system call), so the tracker knows whose it was.
    assert_eq!(sent["pid"], std::process::id(), "{sent}");
    assert_eq!(
        direction(&received),
        ("received", client_port, u64::from(port))
    );
    assert_eq!(
        received["pid"],
        std::process::id(),
        "the connecting process"
    );
    Ok(())
}

#[test]
fn a_full_receive_buffer_gives_drops_named_by_the_kernel_as_many_as_rcvbuf_errors()
-> anyhow::Result<()> {
    let ns = Netns::new("hdrop")?;
    let receiver = ns.run(|| {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let small: libc::c_int = 2048;
        // SAFETY: a valid socket and option buffer.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const small).cast(),
                size_of::<libc::c_int>() as u32,
            )
        };
        anyhow::ensure!(rc == 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
        Ok(socket)
    })?;
    let port = receiver.local_addr()?.port();
    let running = watch("drop", &ns, &["--lport", &port.to_string()])?;
    let before = snmp_in(&ns, "Udp", "RcvbufErrors")?;
    ns.run(move || {
        let sender = UdpSocket::bind("127.0.0.1:0")?;
        for _ in 0..200 {
            sender.send_to(&[1u8; 1000], ("127.0.0.1", port))?;
        }
        Ok(())
    })?;
    let delta = snmp_in(&ns, "Udp", "RcvbufErrors")? - before;
    assert!(delta > 100, "the small buffer overflowed: {delta}");
    let finished = stop_after(running, "drop", delta as usize)?;
    let drops = of_kind(&finished, "drop")?;
    assert_eq!(
        drops.len() as u64,
        delta,
        "one drop event per RcvbufErrors: {}",
        finished.stderr
    );
    for d in &drops {
        assert_eq!(d["reason"], "SOCKET_RCVBUFF", "{d}");
        assert_eq!(d["protocol"], "udp");
        assert_eq!(d["lport"], port);
        assert_eq!(d["state"], Value::Null, "UDP sockets have no state to show");
    }
    drop(receiver);
    Ok(())
}

#[test]
fn the_table_shows_every_kind_in_one_table_with_an_event_column() -> anyhow::Result<()> {
    let ns = Netns::new("htable")?;
    const PORT: u16 = 5321;
    let running = Running::start(&["watch", "--events", "all", "--netns", ns.name()])?;
    ns.run(|| workload::refused_connect(SocketAddr::from(([127, 0, 0, 1], PORT))))?;
    let _ = running.wait_for_stdout("rows", Duration::from_secs(5), |out| {
        out.lines().filter(|l| l.contains(" reset ")).count() >= 2
    });
    let finished = running.stop()?;
    let lines: Vec<&str> = finished.stdout.lines().collect();
    // --netns: the NETNS column leads, then EVENT.
    assert!(
        lines[0].starts_with("NETNS      EVENT      TIME "),
        "{}",
        finished.stdout
    );
    let kinds: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert!(kinds.contains(&"state"), "{}", finished.stdout);
    assert_eq!(
        kinds.iter().filter(|k| **k == "reset").count(),
        2,
        "{}",
        finished.stdout
    );
    let sent = lines
        .iter()
        .find(|l| l.contains(" sent no-socket reason=NO_SOCKET"))
        .expect("the sent reset's row");
    assert_eq!(sent.find("127.0.0.1"), lines[0].find("LADDR"));
    Ok(())
}

#[test]
fn an_unknown_event_kind_is_one_line_and_exit_2() -> anyhow::Result<()> {
    for command in ["watch", "serve"] {
        let out = Command::new(enetstat::binary())
            .args([command, "--events", "state,retransmits"])
            .output()?;
        assert_eq!(out.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8(out.stderr)?;
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
        assert!(
            stderr.contains("unknown event kind \"retransmits\""),
            "{command}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{command}");
    }
    Ok(())
}

#[test]
fn ctrl_c_detaches_every_health_program() -> anyhow::Result<()> {
    // Programs of an earlier test's enetstat may still be on their way out: follow this run's.
    let before = enetstat::loaded_program_ids("enetstat_");
    let running = Running::start(&["watch", "--events", "all"])?;
    let ours: Vec<u32> = enetstat::loaded_program_ids("enetstat_")
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(
        ours.len(),
        6,
        "the transition probe and five health programs: {before:?} -> {ours:?}"
    );
    let finished = running.stop()?;
    assert!(finished.status.success(), "{}", finished.stderr);
    wait::until_true("the programs to be freed", Duration::from_secs(5), || {
        let loaded = enetstat::loaded_program_ids("enetstat_");
        Ok(ours.iter().all(|id| !loaded.contains(id)))
    })?;
    Ok(())
}

/// Attaches a classic socket filter that drops every packet (`ret #0`) to `socket`, or detaches
/// it: the kernel then drops the socket's segments as SOCKET_FILTER and adds them to its sk_drops.
fn drop_everything(socket: &impl AsRawFd, on: bool) -> anyhow::Result<()> {
    let rc = if on {
        let mut code = [libc::sock_filter {
            code: 0x06, // BPF_RET | BPF_K
            jt: 0,
            jf: 0,
            k: 0,
        }];
        let program = libc::sock_fprog {
            len: 1,
            filter: code.as_mut_ptr(),
        };
        // SAFETY: a valid socket, and a program that outlives the call (the kernel copies it).
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&raw const program).cast(),
                size_of::<libc::sock_fprog>() as u32,
            )
        }
    } else {
        let none: libc::c_int = 0;
        // SAFETY: a valid socket and option buffer.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                (&raw const none).cast(),
                size_of::<libc::c_int>() as u32,
            )
        }
    };
    anyhow::ensure!(
        rc == 0,
        "socket filter: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// `ss -tinmH` in `ns` for the socket whose local address is `local`: its `retrans:` total and
/// its `skmem:(…,dN)` drops (the kernel's sk_drops).
fn ss_retrans_and_drops(ns: &Netns, local: SocketAddr) -> anyhow::Result<(u64, u64)> {
    let ss = prerequisite::require("ss", "iproute2");
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(ss)
        .args(["-tinmH", "src", &local.to_string()])
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    let retrans = text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("retrans:"))
        .map(|value| value.rsplit('/').next().unwrap_or("0").parse())
        .transpose()?
        .unwrap_or(0);
    let drops = text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("skmem:("))
        .and_then(|mem| {
            mem.trim_end_matches(')')
                .split(',')
                .find_map(|f| f.strip_prefix('d'))
        })
        .with_context(|| format!("no skmem drops in ss -tinm for {local}: {text}"))?
        .parse()?;
    Ok((retrans, drops))
}

/// The daemon's live-table row for the socket at `local` in `ns`.
fn daemon_row(socket: &std::path::Path, ns: &Netns, local: SocketAddr) -> anyhow::Result<Value> {
    let out = Command::new(enetstat::binary())
        .args(["status", "--table", "--netns", ns.name(), "--socket"])
        .arg(socket)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut mine = rows
        .into_iter()
        .filter(|row| row["local"] == local.to_string() && row["state"] == "ESTABLISHED");
    match (mine.next(), mine.next()) {
        (Some(row), None) => Ok(row),
        other => anyhow::bail!("expected one row at {local}, got {other:?}"),
    }
}

/// `serve --events all`: the live table's rows carry each socket's retransmits and drops, equal
/// to the kernel's own per-socket counts (ss's `retrans` total and `skmem` drops), and the
/// metrics carry the namespace's retransmitted segments (= `Tcp: RetransSegs`), resets by
/// direction (sent = `Tcp: OutRsts`) and drops by reason.
#[test]
fn the_daemon_counts_each_sockets_retransmits_drops_and_resets() -> anyhow::Result<()> {
    let ns = Netns::new("hdmn")?;
    let dir = enetstat::TempDir::new()?;
    let socket = dir.path.join("enetstat.sock");
    const METRICS: &str = "127.0.0.1:9471";
    let daemon = Running::start_in(
        Some(ns.name()),
        &[
            "serve",
            "--events",
            "all",
            "--socket",
            socket.to_str().context("socket path")?,
            "--metrics",
            METRICS,
        ],
        "enetstat: serving on",
    )?;
    let retrans_before = snmp_in(&ns, "Tcp", "RetransSegs")?;
    let resets_before = snmp_in(&ns, "Tcp", "OutRsts")?;

    // The server's socket drops everything for a while: the client retransmits (on its RTO)
    // until the filter goes.
    let (client, server) = ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    })?;
    drop_everything(&server, true)?;
    (&client).write_all(&[5u8; 1000])?;
    std::thread::sleep(Duration::from_millis(1800));
    drop_everything(&server, false)?;
    let mut received = vec![0u8; 1000];
    server.set_read_timeout(Some(Duration::from_secs(10)))?;
    (&server).read_exact(&mut received)?;
    // A refused connect: one reset sent (for a segment without a socket), one received.
    ns.run(|| workload::refused_connect(SocketAddr::from(([127, 0, 0, 1], 5329))))?;

    let retrans_delta = snmp_in(&ns, "Tcp", "RetransSegs")? - retrans_before;
    let resets_delta = snmp_in(&ns, "Tcp", "OutRsts")? - resets_before;
    let (client_retrans, _) = ss_retrans_and_drops(&ns, client.local_addr()?)?;
    let (_, server_drops) = ss_retrans_and_drops(&ns, server.local_addr()?)?;
    assert!(retrans_delta > 0, "the filter caused no retransmits");
    assert!(server_drops > 0, "the filter dropped nothing");
    eprintln!(
        "RetransSegs +{retrans_delta}, client retrans {client_retrans}, server drops {server_drops}, OutRsts +{resets_delta}"
    );

    // The pump drains every 20 ms; a request is answered after what arrived before it.
    std::thread::sleep(Duration::from_millis(200));
    let client_row = daemon_row(&socket, &ns, client.local_addr()?)?;
    let server_row = daemon_row(&socket, &ns, server.local_addr()?)?;
    assert_eq!(client_row["retransmits"], retrans_delta, "{client_row}");
    assert_eq!(client_row["retransmits"], client_retrans, "{client_row}");
    assert_eq!(client_row["drops"], 0, "{client_row}");
    assert_eq!(server_row["drops"], server_drops, "{server_row}");
    assert_eq!(server_row["retransmits"], 0, "{server_row}");
    for row in [&client_row, &server_row] {
        assert_eq!(row["resets_sent"], 0, "{row}");
        assert_eq!(row["resets_received"], 0, "{row}");
    }

    let addr: SocketAddr = METRICS.parse()?;
    let response =
        ns.run(move || http::get_accepting(addr, "/metrics", http::ACCEPT_OPENMETRICS))?;
    let metrics = Exposition::parse(&response.body)?;
    let value = |name: &str, labels: &[(&str, &str)]| {
        metrics
            .value(name, labels)
            .with_context(|| format!("no {name} {labels:?} in\n{}", response.body))
    };
    let here = [("netns", ns.name())];
    assert_eq!(
        value("enetstat_retransmitted_segments_total", &here)?,
        retrans_delta as f64
    );
    assert_eq!(
        value(
            "enetstat_socket_drops_total",
            &[("netns", ns.name()), ("reason", "SOCKET_FILTER")]
        )?,
        server_drops as f64
    );
    let resets = |direction| {
        value(
            "enetstat_tcp_resets_total",
            &[("netns", ns.name()), ("direction", direction)],
        )
    };
    assert_eq!(resets("sent")?, resets_delta as f64);
    assert_eq!(resets("sent")?, 1.0);
    assert_eq!(resets("received")?, 1.0);
    let status = Command::new(enetstat::binary())
        .args(["status", "--json", "--socket"])
        .arg(&socket)
        .output()?;
    let status: Value = serde_json::from_slice(&status.stdout)?;
    assert_eq!(status["events"], "state,retransmit,reset,drop", "{status}");
    assert_eq!(status["events_lost"], 0, "{status}");
    drop((client, server));
    daemon.stop()?;
    Ok(())
}
