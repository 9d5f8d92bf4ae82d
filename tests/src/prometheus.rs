//! Prometheus's own tools as oracles: `promtool` (lints expositions, checks and unit-tests rules)
//! and a real `prometheus` server that scrapes the daemon inside a scratch namespace. Both come
//! from Debian's `prometheus` package, which `cargo xtask test` installs; a test that needs them
//! fails when they are missing.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// `/usr/bin/NAME`, or a panic that says how to get it.
fn required(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: install Debian's prometheus package (cargo xtask test does)",
        path.display()
    );
    path
}

pub fn promtool() -> PathBuf {
    required("promtool")
}

pub fn prometheus() -> PathBuf {
    required("prometheus")
}

/// Runs `program ARGS` with `input` on its standard input.
pub fn run_with_stdin(program: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("running {}: {err}", program.display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(input)
        .expect("writing to the child's stdin");
    drop(stdin);
    child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("waiting for {}: {err}", program.display()))
}

/// A `prometheus` server running inside a scratch namespace, on loopback only, with its data in
/// a temporary directory; killed on drop.
pub struct PrometheusServer {
    child: std::process::Child,
    ns: String,
    /// Where its HTTP API listens, inside the namespace.
    pub addr: std::net::SocketAddr,
    log: PathBuf,
    _dir: crate::enetstat::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus in namespace `ns` with `config` (a prometheus.yml) and waits until it
    /// is ready. Files the config names can be put in `files` (name, contents), beside it.
    pub fn start(
        ns: &str,
        addr: std::net::SocketAddr,
        config: &str,
        files: &[(&str, &[u8])],
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        assert!(
            addr.ip().is_loopback(),
            "Prometheus listens on loopback only"
        );
        let dir = crate::enetstat::TempDir::new()?;
        let config_path = dir.path.join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        for (name, contents) in files {
            std::fs::write(dir.path.join(name), contents)?;
        }
        let log = dir.path.join("prometheus.log");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(prometheus())
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting prometheus")?;
        let mut server = PrometheusServer {
            child,
            ns: ns.to_string(),
            addr,
            log,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("prometheus exited ({status}): {}", server.log());
            }
            if server.get("/-/ready").is_ok() {
                return Ok(server);
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("prometheus not ready within 60 s: {}", server.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on its HTTP API, by curl inside the namespace; the body of a 2xx answer.
    pub fn get(&self, path_and_query: &str) -> anyhow::Result<String> {
        curl_in(
            &self.ns,
            &[&format!("http://{}{path_and_query}", self.addr)],
        )
    }

    /// An instant PromQL query at `time` (Unix seconds; now if None): each series' labels and
    /// value.
    pub fn query(
        &self,
        promql: &str,
        time: Option<f64>,
    ) -> anyhow::Result<Vec<(std::collections::BTreeMap<String, String>, f64)>> {
        use anyhow::Context as _;
        let url = format!("http://{}/api/v1/query", self.addr);
        let mut args = vec![
            "--get".to_string(),
            url,
            "--data-urlencode".to_string(),
            format!("query={promql}"),
        ];
        if let Some(time) = time {
            args.extend(["--data-urlencode".to_string(), format!("time={time:.3}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let body = curl_in(&self.ns, &args)?;
        let answer: serde_json::Value = serde_json::from_str(&body)?;
        anyhow::ensure!(answer["status"] == "success", "{promql}: {answer}");
        let result = answer["data"]["result"]
            .as_array()
            .with_context(|| format!("{promql}: not a vector: {answer}"))?;
        result
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .context("no labels")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let value = series["value"][1]
                    .as_str()
                    .context("no value")?
                    .parse::<f64>()?;
                Ok((labels, value))
            })
            .collect()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl --silent --show-error --fail ARGS` inside namespace `ns`: its output, or its error.
pub fn curl_in(ns: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "--silent",
            "--show-error",
            "--fail",
        ])
        .args(["--max-time", "10"])
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8(out.stdout)?)
}
