//! `enetstat -i` against the real net-tools `netstat -i`, byte for byte, in a scratch network
//! namespace holding lo, a veth end (its peer in a second namespace, an alias label, promiscuous) and a veth
//! pair that is down.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{net::UdpSocket, time::Duration};

use enetstat_integration_tests::{
    compare::{difference, run_in},
    enetstat,
    netns::{Netns, ip},
    wait,
};

#[test]
fn interface_tables_match_netstat() -> anyhow::Result<()> {
    let ns = Netns::new("iface")?;
    let peer = Netns::new("ifpeer")?;
    let n = ns.name();
    let veth = "ve-a";
    ip(&[
        "-n", n, "link", "add", veth, "type", "veth", "peer", "name", "ve-b",
    ])?;
    ip(&["-n", n, "link", "set", "ve-b", "netns", peer.name()])?;
    // No automatic IPv6 link-local address and no DAD: fewer packets that would move the
    // counters between netstat's read and enetstat's.
    for (space, dev) in [(n, veth), (peer.name(), "ve-b")] {
        ip(&["-n", space, "link", "set", dev, "addrgenmode", "none"])?;
    }
    ip(&["-n", n, "addr", "add", "10.9.8.1/24", "dev", veth])?;
    ip(&[
        "-n",
        n,
        "addr",
        "add",
        "10.9.8.7/24",
        "dev",
        veth,
        "label",
        "ve-a:3",
    ])?;
    ip(&["-n", n, "addr", "add", "fd00:9::1/64", "dev", veth, "nodad"])?;
    ip(&[
        "-n",
        peer.name(),
        "addr",
        "add",
        "10.9.8.2/24",
        "dev",
        "ve-b",
    ])?;
    ip(&["-n", n, "link", "set", veth, "up", "promisc", "on"])?;
    ip(&["-n", peer.name(), "link", "set", "ve-b", "up"])?;
    // A pair that stays down (only -a shows it), named so that nstrcmp puts vx2 before vx10.
    ip(&[
        "-n", n, "link", "add", "vx10", "type", "veth", "peer", "name", "vx2",
    ])?;

    ns.run(|| {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let target = socket.local_addr()?;
        for _ in 0..20 {
            socket.send_to(&[0; 300], target)?;
        }
        Ok(())
    })?;
    // Let the link settle (carrier, MLD reports) so the namespace is idle when compared.
    ns.wait_for_link_up(veth)?;
    ns.wait_until_idle(Duration::from_secs(1))?;

    let binary = enetstat::binary();
    let mut failures = Vec::new();
    for args in [
        &["-i"][..],
        &["-in"],
        &["-ia"],
        &["-ie"],
        &["-iea"],
        &["-i", "-ee"],
    ] {
        // Counters may still move between the two reads (a late MLD report): compare again
        // for a while rather than mask them, so that the numbers are compared too.
        let mut last = None;
        let _ = wait::until_true("equal tables", Duration::from_secs(5), || {
            let want = run_in(n, "netstat".as_ref(), args);
            let got = run_in(n, &binary, args);
            last = difference(&want.stdout, &got.stdout)
                .or_else(|| {
                    (want.status.code() != got.status.code())
                        .then(|| format!("exit status {:?} != {:?}", want.status, got.status))
                })
                .map(|why| format!("{args:?}: {why}"));
            Ok(last.is_none())
        });
        failures.extend(last);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}
