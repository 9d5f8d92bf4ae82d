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
