//! `serve --metrics ADDR --web-config FILE`: TLS (a CA, server and client certificates made by
//! openssl for the test) and basic authentication, checked with curl and with a real Prometheus
//! scraping over TLS, all on loopback inside a scratch namespace; and bad files refused before
//! the daemon starts.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use enetstat_integration_tests::{
    enetstat::{self, Running, TempDir},
    netns::Netns,
    prometheus::PrometheusServer,
};

const METRICS: &str = "127.0.0.1:9474";
const PROMETHEUS: &str = "127.0.0.1:9475";
const USER: &str = "prometheus";
const PASSWORD: &str = "scrape-secret";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl (cargo xtask test installs it)");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// ca.crt, and server.{crt,key} (for 127.0.0.1) and client.{crt,key} signed by it.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=enetstat test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    for (name, cn, usage) in [
        ("server", "127.0.0.1", "serverAuth"),
        ("client", "prometheus", "clientAuth"),
    ] {
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        let subject = format!("/CN={cn}");
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(dir, &req);
        std::fs::write(
            dir.join(&ext),
            format!(
                "basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\nsubjectAltName=IP:127.0.0.1\n"
            ),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

fn curl(ns: &Netns, args: &[&str]) -> Output {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "curl",
            "--silent",
            "--show-error",
        ])
        .args(["--max-time", "10"])
        .args(args)
        .output()
        .expect("running curl (cargo xtask test installs it)")
}

/// curl's HTTP status for `args`, with the status on its last line of output.
fn status(ns: &Netns, args: &[&str]) -> (u16, String) {
    let mut all = vec!["--write-out", "\n%{http_code}"];
    all.extend(args);
    let out = curl(ns, &all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn serve(ns: &Netns, socket: &Path, web_config: &Path) -> Running {
    Running::start_in(
        Some(ns.name()),
        &[
            "serve",
            "--socket",
            socket.to_str().unwrap(),
            "--metrics",
            METRICS,
            "--web-config",
            web_config.to_str().unwrap(),
        ],
        "enetstat: serving on",
    )
    .unwrap()
}

#[test]
fn tls_and_basic_auth_for_curl_and_prometheus() {
    let dir = TempDir::new().unwrap();
    make_certificates(&dir.path);
    let hash = bcrypt::hash(PASSWORD, 6).unwrap();
    // Relative paths: beside the config file.
    let web_config = dir.path.join("web.yml");
    std::fs::write(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n\
             basic_auth_users:\n  {USER}: {hash}\n  someone: {hash}\n"
        ),
    )
    .unwrap();
    let ns = Netns::new("tls").unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket, &web_config);

    let file = |name: &str| dir.path.join(name).to_str().unwrap().to_string();
    let (ca, cert, key) = (file("ca.crt"), file("client.crt"), file("client.key"));
    let url = format!("https://{METRICS}/metrics");
    let tls = ["--cacert", &ca, "--cert", &cert, "--key", &key];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = tls.to_vec();
        args.extend(extra);
        args.push(&url);
        status(&ns, &args)
    };
    let right = format!("{USER}:{PASSWORD}");
    let (code, body) = with(&["--user", &right]);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\n# TYPE enetstat_connections gauge\n"),
        "{body}"
    );
    for (what, extra) in [
        ("a wrong password", vec!["--user", "prometheus:wrong"]),
        ("an unknown user", vec!["--user", "nobody:scrape-secret"]),
        ("no credentials", vec![]),
    ] {
        let (code, body) = with(&extra);
        assert_eq!(code, 401, "{what}: {body}");
    }
    // The answer to a 401 asks for basic auth.
    let headers = curl(
        &ns,
        &[
            "--cacert", &ca, "--cert", &cert, "--key", &key, "--head", &url,
        ],
    );
    let headers = String::from_utf8_lossy(&headers.stdout).to_ascii_lowercase();
    assert!(headers.contains("www-authenticate: basic"), "{headers}");
    // No client certificate, an untrusted server, or plain HTTP: no answer at all.
    for (what, args) in [
        (
            "no client certificate",
            vec!["--cacert", &ca, "--user", &right, &url],
        ),
        (
            "the server unverified by the client",
            vec!["--cert", &cert, "--key", &key, "--user", &right, &url],
        ),
    ] {
        let out = curl(&ns, &args);
        assert!(!out.status.success(), "{what}: {out:?}");
    }
    let plain = format!("http://{METRICS}/metrics");
    let (code, _) = status(&ns, &["--user", &right, &plain]);
    assert_eq!(code, 0, "plain HTTP to the TLS port is not answered");

    // Prometheus over TLS with basic auth: the right password is up, the wrong one down.
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n      \
             cert_file: {cert}\n      key_file: {key}\n    basic_auth:\n      username: {USER}\n      \
             password: {password}\n    static_configs:\n      - targets: ['{METRICS}']\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
        job("enetstat", PASSWORD),
        job("wrong", "not-it")
    );
    let prometheus =
        PrometheusServer::start(ns.name(), PROMETHEUS.parse().unwrap(), &config, &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let up = |job: &str| {
        prometheus
            .query(&format!(r#"up{{job="{job}"}}"#), None)
            .unwrap()
            .first()
            .map(|(_, v)| *v)
    };
    while !(up("enetstat") == Some(1.0) && up("wrong") == Some(0.0)) {
        assert!(
            Instant::now() < deadline,
            "up: {:?} {:?}; {}",
            up("enetstat"),
            up("wrong"),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The test's namespace (the daemon follows every namespace on the host).
    let listeners = prometheus
        .query(
            &format!(
                r#"sum(enetstat_connections{{job="enetstat",state="LISTEN",netns="{}"}})"#,
                ns.name()
            ),
            None,
        )
        .unwrap();
    // The endpoint's and Prometheus's own.
    assert_eq!(
        listeners.first().map(|(_, v)| *v),
        Some(2.0),
        "{listeners:?}"
    );
    let wrong = prometheus
        .query(r#"count(enetstat_connections{job="wrong"})"#, None)
        .unwrap();
    assert!(wrong.is_empty(), "{wrong:?}");

    drop(prometheus);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains(&format!("enetstat: metrics on https://{METRICS}/metrics\n")),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_bad_web_config_is_one_line_and_exit_2_before_anything_starts() {
    let dir = TempDir::new().unwrap();
    make_certificates(&dir.path);
    let socket = dir.path.join("enetstat.sock");
    let cases: [(&str, &str, &str); 7] = [
        ("missing.yml", "", "No such file"),
        ("bad.yml", "tls_server_config: [\n", "web-config"),
        (
            "unknown.yml",
            "http_server_config:\n  http2: false\n",
            "http_server_config",
        ),
        (
            "plain.yml",
            "basic_auth_users:\n  alice: secret\n",
            "bcrypt",
        ),
        (
            "nokey.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: nothere.key\n",
            "nothere.key",
        ),
        (
            "mismatch.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
            "key_file",
        ),
        (
            "unverified.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt\n",
            "not supported",
        ),
    ];
    for (name, contents, says) in cases {
        let path = dir.path.join(name);
        if !contents.is_empty() {
            std::fs::write(&path, contents).unwrap();
        }
        let started = Instant::now();
        let out = Command::new(enetstat::binary())
            .args(["serve", "--socket", socket.to_str().unwrap()])
            .args(["--metrics", METRICS, "--web-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!("enetstat: --web-config {}: ", path.display()))
                && stderr.contains(says),
            "{name}: {stderr}"
        );
        // Refused while the arguments were checked: no probe, no socket.
        assert!(!socket.exists(), "{name}");
        assert!(started.elapsed() < Duration::from_secs(5), "{name}");
    }
    // --web-config means nothing without --metrics.
    let out = Command::new(enetstat::binary())
        .args(["serve", "--web-config", "web.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
