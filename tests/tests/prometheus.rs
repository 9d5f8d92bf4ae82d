//! A real Prometheus scrapes `enetstat serve --metrics` inside a scratch namespace (both on
//! loopback there, nothing reaching outside it), and its PromQL answers are checked against
//! `netstat -tan` and the connections the test made; the rules in dist/prometheus/ are checked
//! and unit-tested by promtool, and loaded by that Prometheus.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::BTreeMap,
    io::Write as _,
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use enetstat_integration_tests::{
    compare::run_in,
    enetstat::{Running, TempDir},
    netns::Netns,
    prometheus::{PrometheusServer, curl_in, promtool, run_with_stdin},
    workload,
};

const METRICS: &str = "127.0.0.1:9472";
const PROMETHEUS: &str = "127.0.0.1:9473";

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/prometheus")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Polls `check` every 250 ms until it is Some, for at most `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The one value of an instant query, if it has exactly one series.
fn single(prometheus: &PrometheusServer, promql: &str, time: Option<f64>) -> Option<f64> {
    match prometheus.query(promql, time).unwrap()[..] {
        [(_, value)] => Some(value),
        _ => None,
    }
}

#[test]
fn the_rules_pass_promtool() {
    let promtool = promtool();
    let dir = rules_dir();
    for args in [
        &["check", "rules", "enetstat.rules.yml"][..],
        &["test", "rules", "enetstat.rules.test.yml"][..],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "promtool {args:?}: {out:?}");
        assert!(out.stderr.is_empty(), "promtool {args:?}: {out:?}");
    }
    // The rules test is not vacuous: a threshold changed breaks it.
    let scratch = TempDir::new().unwrap();
    let rules = std::fs::read_to_string(dir.join("enetstat.rules.yml")).unwrap();
    let broken = rules.replace("rate5m > 10", "rate5m > 1000");
    assert_ne!(broken, rules);
    std::fs::write(scratch.path.join("enetstat.rules.yml"), broken).unwrap();
    std::fs::copy(
        dir.join("enetstat.rules.test.yml"),
        scratch.path.join("enetstat.rules.test.yml"),
    )
    .unwrap();
    let out = run_with_stdin(
        &promtool,
        &[
            "test",
            "rules",
            scratch
                .path
                .join("enetstat.rules.test.yml")
                .to_str()
                .unwrap(),
        ],
        b"",
    );
    assert!(!out.status.success(), "{out:?}");
}

/// (family, state) -> sockets, from `netstat -tan` in the namespace, leaving out the test
/// harness's own (the endpoint's and Prometheus's ports) but for their listeners.
fn netstat_counts(ns: &Netns, harness_ports: &[&str]) -> BTreeMap<(String, String), u64> {
    let out = run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tan"]);
    assert!(out.status.success(), "{out:?}");
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(2) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let family = if fields[0] == "tcp6" { "inet6" } else { "inet" };
        let state = fields[5];
        let harness = fields[3..5].iter().any(|addr| {
            harness_ports
                .iter()
                .any(|p| addr.ends_with(&format!(":{p}")))
        });
        if harness && state != "LISTEN" {
            continue;
        }
        *counts
            .entry((family.to_string(), state.to_string()))
            .or_default() += 1;
    }
    counts
}

#[test]
fn prometheus_scrapes_what_netstat_shows() {
    const HELD_V4: usize = 3;
    const HELD_V6: usize = 1;
    const HALF_CLOSED: usize = 2;
    const TIME_WAITS: usize = 2;
    const REFUSED: usize = 4;
    let ns = Netns::new("prom").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = Running::start_in(
        Some(ns.name()),
        &[
            "serve",
            "--socket",
            socket.to_str().unwrap(),
            "--metrics",
            METRICS,
        ],
        "enetstat: serving on",
    )
    .unwrap();
    let rules = rules_dir().join("enetstat.rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: enetstat\n    static_configs:\n      - targets: ['{METRICS}']\n",
        rules.canonicalize().unwrap().display()
    );
    let prometheus =
        PrometheusServer::start(ns.name(), PROMETHEUS.parse().unwrap(), &config, &[]).unwrap();
    wait_for(Duration::from_secs(30), "the target up", || {
        (single(&prometheus, r#"up{job="enetstat"}"#, None) == Some(1.0)).then_some(())
    });

    // One refused connect before the baseline, so that its counter exists and can increase.
    let refused = "SYN_SENT\",new_state=\"CLOSE";
    let refusals = format!(
        r#"enetstat_transitions_total{{old_state="{refused}",netns="{}"}}"#,
        ns.name()
    );
    // (Waiting for Prometheus to listen made refused connects too: the count is read.)
    ns.run(|| workload::refused_connect("127.0.0.1:9532".parse()?))
        .unwrap();
    let scraped = curl_in(ns.name(), &[&format!("http://{METRICS}/metrics")]).unwrap();
    let refused_so_far: f64 = scraped
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{refusals} ")))
        .unwrap_or_else(|| panic!("no {refusals}: {scraped}"))
        .parse()
        .unwrap();
    wait_for(Duration::from_secs(10), "the first refusal scraped", || {
        (single(&prometheus, &refusals, None) == Some(refused_so_far)).then_some(())
    });
    let baseline = now();

    let held = ns
        .run(|| {
            let v4 = TcpListener::bind("127.0.0.1:9530")?;
            let v6 = TcpListener::bind("[::1]:9531")?;
            let mut held = Vec::new();
            for i in 0..HELD_V4 + HELD_V6 + HALF_CLOSED {
                let listener = if i < HELD_V6 { &v6 } else { &v4 };
                let client = TcpStream::connect(listener.local_addr()?)?;
                let (server, _) = listener.accept()?;
                if i >= HELD_V4 + HELD_V6 {
                    // The client's end in FIN_WAIT2, the server's in CLOSE_WAIT.
                    client.shutdown(Shutdown::Write)?;
                }
                held.push((client, server));
            }
            for _ in 0..TIME_WAITS {
                workload::active_close_by_client(&v4)?;
            }
            for _ in 0..REFUSED {
                workload::refused_connect("127.0.0.1:9532".parse()?)?;
            }
            Ok((v4, v6, held))
        })
        .unwrap();
    // Several scrapes of the settled namespace.
    std::thread::sleep(Duration::from_secs(6));

    let at = now();
    let exported: BTreeMap<(String, String), u64> = prometheus
        .query(
            &format!(
                r#"min_over_time(enetstat_connections{{netns="{}"}}[4s])"#,
                ns.name()
            ),
            Some(at),
        )
        .unwrap()
        .into_iter()
        .filter(|(_, value)| *value != 0.0)
        .map(|(labels, value)| {
            (
                (labels["family"].clone(), labels["state"].clone()),
                value as u64,
            )
        })
        .collect();
    let mut expected = netstat_counts(&ns, &["9472", "9473"]);
    // At each scrape, its own connection: both ends established.
    *expected
        .entry(("inet".into(), "ESTABLISHED".into()))
        .or_default() += 2;
    let key = |family: &str, state: &str| (family.to_string(), state.to_string());
    for ((family, state), count) in &expected {
        if state == "TIME_WAIT" {
            // Each scrape leaves one, for a minute: at least the test's.
            assert!(
                exported.get(&key(family, state)).copied().unwrap_or(0) >= *count,
                "{family} TIME_WAIT: {exported:?} vs {expected:?}"
            );
        } else {
            assert_eq!(
                exported.get(&key(family, state)),
                Some(count),
                "{family} {state}: PromQL {exported:?}, netstat -tan {expected:?}"
            );
        }
    }
    for ((family, state), _) in exported.iter().filter(|(k, _)| k.1 != "TIME_WAIT") {
        assert!(
            expected.contains_key(&key(family, state)),
            "{family} {state} exported but not in netstat: {exported:?} vs {expected:?}"
        );
    }
    // Not vacuous: the states the test made are there.
    for (family, state, least) in [
        ("inet", "ESTABLISHED", 2 * HELD_V4 as u64 + 2),
        ("inet6", "ESTABLISHED", 2 * HELD_V6 as u64),
        ("inet", "FIN_WAIT2", HALF_CLOSED as u64),
        ("inet", "CLOSE_WAIT", HALF_CLOSED as u64),
        ("inet6", "LISTEN", 1),
    ] {
        assert!(
            expected.get(&key(family, state)).copied().unwrap_or(0) >= least,
            "{family} {state}: {expected:?}"
        );
    }

    // The refusals the test made, as a counter increase between the baseline and now.
    let offset_ms = ((at - baseline) * 1000.0) as u64;
    let increase = single(
        &prometheus,
        &format!("{refusals} - {refusals} offset {offset_ms}ms"),
        Some(at),
    );
    assert_eq!(
        increase,
        Some(REFUSED as f64),
        "{refusals}: {:?} at the baseline, {:?} now",
        prometheus.query(&refusals, Some(baseline)),
        prometheus.query(&refusals, Some(at))
    );
    assert!(single(&prometheus, &format!("increase({refusals}[1m])"), Some(at)).unwrap() > 0.0);

    // The rules load, evaluate without error, and record what the metrics say: the rule sums
    // over every namespace the daemon follows, and so does this query.
    wait_for(Duration::from_secs(10), "the recording rule", || {
        let recorded = single(
            &prometheus,
            r#"sum(enetstat:connections:sum_by_state{state="LISTEN"})"#,
            None,
        )?;
        let exported = single(
            &prometheus,
            r#"sum(enetstat_connections{state="LISTEN"})"#,
            None,
        )?;
        (recorded == exported).then_some(())
    });
    let rules: serde_json::Value =
        serde_json::from_str(&prometheus.get("/api/v1/rules").unwrap()).unwrap();
    let all: Vec<&serde_json::Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert!(all.len() >= 8, "{rules}");
    for rule in &all {
        assert_eq!(rule["health"], "ok", "{rule}");
    }
    let firing = prometheus
        .query(r#"ALERTS{alertstate="firing"}"#, None)
        .unwrap();
    assert!(firing.is_empty(), "{firing:?}");

    drop(held);
    drop(prometheus);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    let _ = std::io::stderr().flush();
}
