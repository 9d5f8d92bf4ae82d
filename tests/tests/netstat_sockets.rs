//! `enetstat ARGS` against net-tools `netstat ARGS`, byte for byte, on a known set of sockets in a
//! scratch namespace. Timer countdowns are compared within `TIMER_TOLERANCE_S`; control bytes in
//! names are compared after enetstat's documented escaping; everything else is exact.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use enetstat_integration_tests::{
    compare::{difference, escape_controls, run_in},
    enetstat,
    fixture::{CONTROL_NAME, SocketFixture},
    netns::Netns,
};

const NETSTAT: &str = "/usr/bin/netstat";

/// Argument combinations: every option of the socket views, then the routing, group and
/// statistics views.
const SOCKET_ARGS: &[&[&str]] = &[
    &[],
    &["-a"],
    &["-l"],
    &["-n"],
    &["-an"],
    &["-t"],
    &["-ta"],
    &["-tan"],
    &["-tln"],
    &["-tulpn"],
    &["-tanpeo"],
    &["-tanp"],
    &["-tae"],
    &["-taee"],
    &["-tanee"],
    &["-tao"],
    &["-tanW"],
    &["-taW"],
    &["-u"],
    &["-ua"],
    &["-uan"],
    &["-uanp"],
    &["-uaeo"],
    &["-U"],
    &["-Ua"],
    &["-w"],
    &["-wa"],
    &["-wan"],
    &["-x"],
    &["-xa"],
    &["-xl"],
    &["-xap"],
    &["-xan"],
    &["-4", "-a"],
    &["-6", "-a"],
    &["-6", "-an"],
    &["--inet", "-an"],
    &["--inet6", "-ln"],
    &["-A", "inet", "-a"],
    &["-A", "inet6", "-an"],
    &["-A", "unix", "-a"],
    &["-A", "inet,unix", "-an"],
    &["--tcp", "--udp", "--all", "--numeric"],
    &["--numeric-hosts", "-ta"],
    &["--numeric-ports", "-ta"],
    &["--numeric-users", "-tae"],
    &["--raw", "--all", "--extend", "--programs"],
    &["--unix", "--listening", "--programs"],
    &["--tcp", "--timers", "--all", "--wide", "--numeric"],
    &["-ap"],
    &["-ape"],
    // The other views, on the same namespace.
    &["-r"],
    &["-rn"],
    &["-rne"],
    &["-g"],
    &["-gn"],
    &["-s"],
    &["-st"],
    &["-su"],
    &["-s", "-6"],
];

fn compare(ns: &Netns, args: &[&str]) -> Option<String> {
    let netstat = run_in(ns.name(), NETSTAT.as_ref(), args);
    let ours = run_in(ns.name(), &enetstat::binary(), args);
    if netstat.status.code() != ours.status.code() {
        return Some(format!(
            "exit status: netstat {:?}, enetstat {:?}; enetstat stderr: {}",
            netstat.status.code(),
            ours.status.code(),
            String::from_utf8_lossy(&ours.stderr)
        ));
    }
    if ours.stdout.iter().any(|&b| b == 0x1b || b == 0x07) {
        return Some("enetstat printed a raw control byte".to_string());
    }
    difference(&escape_controls(&netstat.stdout), &ours.stdout)
}

#[test]
fn socket_listings_match_netstat() {
    let ns = Netns::new("sockets").unwrap();
    let fixture = SocketFixture::build(&ns).unwrap();
    assert!(SOCKET_ARGS.len() >= 60);
    let failures: Vec<String> = SOCKET_ARGS
        .iter()
        .filter_map(|args| {
            compare(&ns, args).map(|diff| format!("netstat {}: {diff}", args.join(" ")))
        })
        .collect();
    drop(fixture);
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        SOCKET_ARGS.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_fixture_has_what_it_promises() {
    let ns = Netns::new("fixture").unwrap();
    let fixture = SocketFixture::build(&ns).unwrap();
    let out = run_in(ns.name(), &enetstat::binary(), &["-tuwxan"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "LISTEN",
        "ESTABLISHED",
        "CLOSE_WAIT",
        "FIN_WAIT2",
        "TIME_WAIT",
        "127.0.0.1:6010",
        ":::2222",
        "udp        0      0 127.0.0.1:5353",
        "raw6",
        "SEQPACKET",
        "DGRAM",
        "@enetstat-fixture@abstract",
        "\\x1b[2J\\x07",
        "     5      0 127.0.0.1:8080",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // netstat's %s stops a path at its first space.
    assert!(
        text.contains(&format!("{}/with\n", fixture.dir.display())),
        "{text}"
    );
    assert!(!text.contains(CONTROL_NAME));
    drop(fixture);
}

#[test]
fn owners_match_netstat_p() {
    // Every owned socket's PID/Program name equals netstat -p's (the whole line is compared).
    let ns = Netns::new("owners").unwrap();
    let fixture = SocketFixture::build(&ns).unwrap();
    for args in [&["-tuwxanp"][..], &["-ap"][..]] {
        if let Some(diff) = compare(&ns, args) {
            panic!("{}: {diff}", args.join(" "));
        }
    }
    let out = run_in(ns.name(), &enetstat::binary(), &["-tlnp"]);
    let me = format!("{}/", std::process::id());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&me),
        "our own listeners are owned by us"
    );
    drop(fixture);
}

#[test]
fn bad_options_are_usage_errors() {
    let out = std::process::Command::new(enetstat::binary())
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(enetstat::binary())
        .args(["-r", "-s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = std::process::Command::new(enetstat::binary())
        .args(["-A", "ipx"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
}
