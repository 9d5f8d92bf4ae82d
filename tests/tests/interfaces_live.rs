//! The interface probes against the kernel's own counters, in scratch namespaces with a veth
//! pair: packet and byte counts equal /proc/net/dev (and its deltas) on lo and on the veth, a
//! refused transmission shows as events, and `enetstat -ic` prints netstat's table.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::HashMap,
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream, UdpSocket},
    thread,
    time::Duration,
};

use enetstat_integration_tests::{
    compare::{difference, run_in},
    enetstat::{Running, loaded_program_ids},
    netns::{Netns, ip},
    wait,
};

const READY: &str = "watching interfaces";

/// Two namespaces joined by a veth pair (ve-a 10.9.7.1 here, ve-b 10.9.7.2 in the peer), with
/// IPv6 off so that no router solicitation or MLD report moves the counters on its own.
fn veth_pair(tag: &str, peer_mtu: u32) -> anyhow::Result<(Netns, Netns)> {
    let ns = Netns::new(tag)?;
    let peer = Netns::new(&format!("{tag}p"))?;
    for space in [&ns, &peer] {
        space.run(|| {
            for key in ["all", "default"] {
                std::fs::write(format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6"), "1")?;
            }
            Ok(())
        })?;
    }
    let n = ns.name();
    ip(&[
        "-n", n, "link", "add", "ve-a", "type", "veth", "peer", "name", "ve-b",
    ])?;
    ip(&["-n", n, "link", "set", "ve-b", "netns", peer.name()])?;
    ip(&["-n", n, "addr", "add", "10.9.7.1/24", "dev", "ve-a"])?;
    ip(&[
        "-n",
        peer.name(),
        "addr",
        "add",
        "10.9.7.2/24",
        "dev",
        "ve-b",
    ])?;
    ip(&[
        "-n",
        peer.name(),
        "link",
        "set",
        "ve-b",
        "mtu",
        &peer_mtu.to_string(),
    ])?;
    ip(&["-n", n, "link", "set", "lo", "up"])?;
    ip(&["-n", n, "link", "set", "ve-a", "up"])?;
    ip(&["-n", peer.name(), "link", "set", "ve-b", "up"])?;
    ns.wait_for_link_up("ve-a")?;
    peer.wait_for_link_up("ve-b")?;
    Ok((ns, peer))
}

/// /proc/net/dev inside `ns`: name -> [rx_bytes, rx_packets, tx_bytes, tx_packets].
fn proc_net_dev(ns: &Netns) -> anyhow::Result<HashMap<String, [u64; 4]>> {
    Ok(ns
        .dev_counters()?
        .into_iter()
        .map(|(name, s)| (name, [s.rx_bytes, s.rx_packets, s.tx_bytes, s.tx_packets]))
        .collect())
}

/// The interfaces of one `"type":"interfaces"` object: name -> the same four counters.
fn counters(sample: &serde_json::Value) -> HashMap<String, [u64; 4]> {
    sample["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let n = |key: &str| i[key].as_u64().unwrap_or(u64::MAX);
            (
                i["iface"].as_str().unwrap_or_default().to_string(),
                [
                    n("rx_bytes"),
                    n("rx_packets"),
                    n("tx_bytes"),
                    n("tx_packets"),
                ],
            )
        })
        .collect()
}

/// Known traffic: 2 MB over a loopback TCP connection, 300 UDP datagrams across the veth.
fn traffic(ns: &Netns) -> anyhow::Result<()> {
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let reader = thread::spawn(move || -> std::io::Result<usize> {
            let (mut conn, _) = listener.accept()?;
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf)
        });
        let mut client = TcpStream::connect(addr)?;
        client.write_all(&vec![7u8; 2 << 20])?;
        drop(client);
        assert_eq!(reader.join().expect("reader")?, 2 << 20);

        let socket = UdpSocket::bind("10.9.7.1:0")?;
        for i in 0..300 {
            socket.send_to(&vec![1u8; 100 + i], "10.9.7.2:9")?;
        }
        Ok(())
    })
}

/// `enetstat watch --interfaces --json` in `ns`, counting once it returns.
fn watch_interfaces(ns: &Netns) -> anyhow::Result<Running> {
    Running::start_in(
        Some(ns.name()),
        &["watch", "--interfaces", "--json", "--interval", "0.2"],
        READY,
    )
}

#[test]
fn probe_counts_equal_proc_net_dev_on_lo_and_veth() -> anyhow::Result<()> {
    let (ns, _peer) = veth_pair("ifcount", 1500)?;
    let watch = watch_interfaces(&ns)?;
    let samples_so_far = || {
        watch
            .stdout_so_far()
            .matches("\"type\":\"interfaces\"")
            .count()
    };
    wait::until_true("the first sample", Duration::from_secs(10), || {
        Ok(samples_so_far() >= 1)
    })?;
    let before = proc_net_dev(&ns)?;
    traffic(&ns)?;
    // Let the last ICMP port-unreachable replies arrive, then read the kernel's counters while
    // the namespace is quiet; the probes' final sample comes after.
    ns.wait_until_idle(Duration::from_millis(300))?;
    let after = proc_net_dev(&ns)?;
    let taken = samples_so_far();
    wait::until_true(
        "a sample after the counters were read",
        Duration::from_secs(10),
        || Ok(samples_so_far() >= taken + 2),
    )?;
    let lines = watch.stop()?.json_lines()?;
    let samples: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["type"] == "interfaces").collect();
    assert!(samples.len() >= 3, "too few samples: {lines:?}");
    let first = counters(samples[0]);
    let last = counters(samples[samples.len() - 1]);

    for name in ["lo", "ve-a"] {
        let (kernel_before, kernel_after) = (before[name], after[name]);
        // Totals: the /proc baseline plus what the probes counted equals what the kernel holds.
        assert_eq!(
            last[name], kernel_after,
            "{name}: [rx_bytes, rx_packets, tx_bytes, tx_packets]"
        );
        // Deltas: what the probes counted over the traffic equals the kernel's delta.
        let probe_delta: Vec<u64> = (0..4).map(|i| last[name][i] - first[name][i]).collect();
        let kernel_delta: Vec<u64> = (0..4).map(|i| kernel_after[i] - kernel_before[i]).collect();
        assert_eq!(probe_delta, kernel_delta, "{name}: deltas");
    }
    // The known traffic is in there: 300 datagrams out of ve-a (plus ARP), the 2 MB on lo.
    assert!(last["ve-a"][3] - first["ve-a"][3] >= 300, "{last:?}");
    assert!(last["lo"][0] - first["lo"][0] >= 2 << 20, "{last:?}");

    let final_sample = samples[samples.len() - 1];
    for iface in final_sample["interfaces"].as_array().expect("interfaces") {
        assert_eq!(iface["exact"], true, "{iface}");
        // The totals are resynced to the kernel's when quiet; for this traffic the probes must
        // have counted every packet themselves, so no resync found any they had not.
        for counter in ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes"] {
            assert_eq!(iface["unseen"][counter], 0, "{counter}: {iface}");
        }
    }
    Ok(())
}

#[test]
fn a_refused_transmission_shows_as_events() -> anyhow::Result<()> {
    // The peer's MTU is smaller than ours: veth refuses frames the peer could not receive
    // (NET_XMIT_DROP) and frees them as dropped.
    let (ns, _peer) = veth_pair("ifdrop", 1280)?;
    let watch = watch_interfaces(&ns)?;
    ns.run(|| {
        let socket = UdpSocket::bind("10.9.7.1:0")?;
        // A small one first, so that ARP has resolved the peer.
        socket.send_to(&[0; 10], "10.9.7.2:9")?;
        Ok(())
    })?;
    let n = ns.name().to_string();
    wait::until_true("ARP to resolve 10.9.7.2", Duration::from_secs(10), || {
        let out = std::process::Command::new("ip")
            .args(["-n", &n, "neigh", "show", "10.9.7.2"])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).contains("lladdr"))
    })?;
    ns.run(|| {
        UdpSocket::bind("10.9.7.1:0")?.send_to(&[0; 1400], "10.9.7.2:9")?;
        Ok(())
    })?;
    watch.wait_for_stdout("the refusal's two events", Duration::from_secs(10), |out| {
        out.contains("\"type\":\"xmit_failed\"") && out.contains("\"type\":\"drop\"")
    })?;
    let lines = watch.stop()?.json_lines()?;
    let on_ve_a = |kind: &str| {
        lines
            .iter()
            .filter(|l| l["type"] == kind && l["iface"] == "ve-a" && l["len"] == 1442)
            .cloned()
            .collect::<Vec<_>>()
    };
    let failed = on_ve_a("xmit_failed");
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert_eq!(failed[0]["direction"], "tx");
    assert_eq!(failed[0]["rc"], 1);
    assert_eq!(failed[0]["reason"], "NET_XMIT_DROP");
    assert_eq!(failed[0]["protocol"], "0x0800");
    let drops = on_ve_a("drop");
    assert_eq!(drops.len(), 1, "{lines:#?}");
    assert_eq!(drops[0]["direction"], "tx");
    assert!(drops[0]["reason"].is_string());
    // The counters agree with the events.
    let last = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "interfaces")
        .expect("a sample");
    let ve_a = last["interfaces"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["iface"] == "ve-a"))
        .expect("ve-a");
    assert_eq!(ve_a["tx_errors_seen"], 1, "{ve_a}");
    assert!(ve_a["tx_dropped_seen"].as_u64() >= Some(1), "{ve_a}");
    Ok(())
}

#[test]
fn interfaces_appearing_and_vanishing_are_reported() -> anyhow::Result<()> {
    let ns = Netns::new("iflink")?;
    let before = interface_program_ids();
    let watch = watch_interfaces(&ns)?;
    let ours: Vec<u32> = interface_program_ids()
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert!(
        ours.len() >= 7,
        "the interface probes are attached: {ours:?}"
    );
    let n = ns.name();
    ip(&[
        "-n", n, "link", "add", "dyn0", "type", "veth", "peer", "name", "dyn1",
    ])?;
    ip(&["-n", n, "link", "set", "dyn0", "name", "renamed0"])?;
    watch.wait_for_stdout("the rename", Duration::from_secs(10), |out| {
        out.contains("\"event\":\"renamed\"")
    })?;
    ip(&["-n", n, "link", "del", "renamed0"])?;
    watch.wait_for_stdout("the deletion", Duration::from_secs(10), |out| {
        out.contains("\"event\":\"vanished\",\"iface\":\"renamed0\"")
    })?;
    let lines = watch.stop()?.json_lines()?;
    // Ctrl-C detached every interface probe; the kernel frees them once their last fd closes.
    let mut left: Vec<u32> = ours.clone();
    let _ = wait::until_true("the probes to be freed", Duration::from_secs(2), || {
        let loaded = interface_program_ids();
        left.retain(|id| loaded.contains(id));
        Ok(left.is_empty())
    });
    assert!(left.is_empty(), "still loaded after SIGINT: {left:?}");
    let link_events: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "link")
        .map(|l| {
            (
                l["event"].as_str().unwrap_or_default().to_string(),
                l["iface"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for expected in [
        ("appeared", "dyn0"),
        ("appeared", "dyn1"),
        ("renamed", "renamed0"),
        ("vanished", "renamed0"),
        ("vanished", "dyn1"),
    ] {
        assert!(
            link_events
                .iter()
                .any(|(e, i)| (e.as_str(), i.as_str()) == expected),
            "{expected:?} missing from {link_events:?}"
        );
    }
    // Gone from the samples too.
    let last = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "interfaces")
        .expect("a sample");
    assert!(
        !last["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .any(|i| i["iface"] == "renamed0" || i["iface"] == "dyn1"),
        "{last}"
    );
    Ok(())
}

/// Loaded interface programs (the kernel keeps 15 bytes of a name).
fn interface_program_ids() -> Vec<u32> {
    [
        "enetstat_net_de",
        "enetstat_netif_",
        "enetstat_napi_g",
        "enetstat_kfree_",
    ]
    .iter()
    .flat_map(|prefix| loaded_program_ids(prefix))
    .collect()
}

#[test]
fn continuous_interface_table_matches_netstat() -> anyhow::Result<()> {
    let (ns, _peer) = veth_pair("ific", 1500)?;
    let running = Running::start_in(Some(ns.name()), &["-ic"], "")?;
    const HEADING: &str = "Iface             MTU";
    running.wait_for_stdout("the first table", Duration::from_secs(10), |out| {
        out.contains(HEADING)
    })?;
    traffic(&ns)?;
    ns.wait_until_idle(Duration::from_millis(300))?;
    // A refresh that began after the namespace went quiet: two more tables.
    let tables = running.stdout_so_far().matches(HEADING).count();
    running.wait_for_stdout("two more tables", Duration::from_secs(10), |out| {
        out.matches(HEADING).count() >= tables + 2
    })?;
    // The namespace is quiet now: netstat's table and enetstat's latest refresh must agree,
    // counters included.
    let netstat = run_in(ns.name(), "netstat".as_ref(), &["-i"]);
    let out = running.stop()?.stdout;
    let text = out;
    let heading =
        "Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg\n";
    assert!(text.starts_with("Kernel Interface table\n"), "{text}");
    assert_eq!(
        text.matches("Kernel Interface table").count(),
        1,
        "netstat -ic prints the title once: {text}"
    );
    let last_table = text.rsplit(heading).next().unwrap_or_default();
    let expected = String::from_utf8(netstat.stdout)?;
    let expected_rows = expected
        .split_once(heading)
        .map(|(_, rows)| rows)
        .unwrap_or_default();
    assert!(text.matches(heading).count() >= 2, "{text}");
    if let Some(why) = difference(expected_rows.as_bytes(), last_table.as_bytes()) {
        panic!("enetstat -ic's last table differs from netstat -i: {why}\n{text}");
    }
    Ok(())
}
