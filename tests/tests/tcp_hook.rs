//! Which hook carries the TCP probe: the BTF tracepoint where the kernel has BTF, its records
//! carrying the socket cookie that sock_diag (`ss -e`) reports, including for the time-wait socket
//! a socket leaves behind; the classic tracepoint as the fallback, with the same transitions.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{net::TcpListener, path::Path, process::Command, time::Duration};

use enetstat_integration_tests::{
    compare::run_in,
    enetstat::{self, Finished, Running, TempDir},
    netns::Netns,
    wait, workload,
};
use serde_json::Value;

/// `watch --json --rport PORT` under `wrapper` while a client in a scratch namespace connects
/// and closes first (so its side ends in TIME_WAIT); also returns that time-wait socket's
/// cookie as `ss -tane` shows it (`sk:HEX`).
fn watch_active_close(wrapper: &[&str], port: u16) -> (Finished, Option<u64>) {
    let ns = Netns::new("hook").unwrap();
    let port_arg = port.to_string();
    let running = Running::start_under(
        wrapper,
        &["watch", "--json", "--rport", &port_arg],
        enetstat::READY,
    )
    .unwrap();
    let addr = format!("127.0.0.1:{port}");
    ns.run(move || workload::active_close_by_client(&TcpListener::bind(&addr)?))
        .unwrap();
    let ss = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "ss",
            "-tane",
            "state",
            "time-wait",
        ])
        .output()
        .unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout).into_owned();
    let cookie = ss
        .lines()
        .find(|line| line.contains(&format!(":{port} ")))
        .and_then(|line| line.split_whitespace().find_map(|f| f.strip_prefix("sk:")))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok());
    running
        .wait_for_stdout("the client's close", Duration::from_secs(10), |out| {
            out.contains("\"newstate\":\"CLOSE\"")
        })
        .unwrap();
    (running.stop().unwrap(), cookie)
}

/// Each transition's states and endpoints, the client's ephemeral port left out (it differs
/// between runs), in order.
fn transitions(finished: &Finished, server_port: u16) -> Vec<String> {
    let port = |r: &Value, key: &str| match r[key].as_u64() {
        Some(p) if p == u64::from(server_port) => p.to_string(),
        Some(0) => "0".to_string(),
        _ => "ephemeral".to_string(),
    };
    finished
        .json_lines()
        .unwrap()
        .iter()
        .filter(|r| r.get("newstate").is_some())
        .map(|r| {
            format!(
                "{} {}:{} {}:{} {} -> {}",
                r["family"],
                r["laddr"],
                port(r, "lport"),
                r["raddr"],
                port(r, "rport"),
                r["oldstate"],
                r["newstate"]
            )
        })
        .collect()
}

#[test]
fn the_btf_tracepoint_records_the_cookie_sock_diag_reports() {
    let (finished, ss_cookie) = watch_active_close(&[], 7310);
    assert!(finished.status.success(), "{}", finished.stderr);
    let records = finished.json_lines().unwrap();
    let client: Vec<&Value> = records
        .iter()
        .filter(|r| r["rport"] == 7310 && r.get("newstate").is_some())
        .collect();
    assert!(!client.is_empty(), "{}", finished.stdout);
    let cookies: Vec<Option<u64>> = client.iter().map(|r| r["cookie"].as_u64()).collect();
    assert!(
        cookies.iter().all(|c| *c == cookies[0] && c.is_some()),
        "one cookie for every transition of the socket: {cookies:?}"
    );
    assert_eq!(
        cookies[0], ss_cookie,
        "ss -e names the time-wait socket by the same cookie"
    );
    assert!(
        !finished.stderr.contains("classic tracepoint"),
        "{}",
        finished.stderr
    );
}

#[test]
fn the_classic_tracepoint_is_the_fallback_with_the_same_transitions() {
    let (btf, _) = watch_active_close(&[], 7311);
    let (classic, _) = watch_active_close(&["env", "ENETSTAT_TCP_HOOK=tracepoint"], 7311);
    assert!(classic.status.success(), "{}", classic.stderr);
    assert!(
        classic
            .stderr
            .contains("TCP probe on the classic tracepoint"),
        "the fallback is named: {}",
        classic.stderr
    );
    // The same fields for every transition, the close included (when the kernel has already
    // released the socket's port binding, so its local port comes from inet_sport).
    assert_eq!(transitions(&btf, 7311), transitions(&classic, 7311));
    assert!(
        classic
            .json_lines()
            .unwrap()
            .iter()
            .filter(|r| r.get("newstate").is_some())
            .all(|r| r["cookie"].is_null()),
        "the classic tracepoint cannot ask for cookies"
    );
}

#[test]
fn status_names_the_hook() {
    let ns = Netns::new("hookd").unwrap();
    let dir = TempDir::new().unwrap();
    for (wrapper, expected) in [
        (&[][..], "tp_btf"),
        (&["env", "ENETSTAT_TCP_HOOK=tracepoint"][..], "tracepoint"),
    ] {
        let socket = dir.path.join(format!("{expected}.sock"));
        let socket_arg = socket.to_str().unwrap();
        let mut full = vec!["ip", "netns", "exec", ns.name()];
        full.extend_from_slice(wrapper);
        let daemon = Running::start_under(
            &full,
            &["serve", "--socket", socket_arg],
            "enetstat: serving on",
        )
        .unwrap();
        let status = run_in(
            ns.name(),
            &enetstat::binary(),
            &["status", "--json", "--socket", socket_arg],
        );
        let status: Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["tcp_probe"], expected, "{status}");
        daemon.stop().unwrap();
        wait::until_true("the socket to go", Duration::from_secs(5), || {
            Ok(!Path::new(&socket).exists())
        })
        .unwrap();
    }
}
