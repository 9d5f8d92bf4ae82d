//! Small process helpers shared by the tasks.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub(crate) fn cargo_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(workspace_root());
    cmd
}

pub(crate) fn check_status(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

pub(crate) fn cargo(args: &[&str]) -> anyhow::Result<()> {
    check_status(&mut cargo_command(args))
}

/// Builds the release `enetstat` binary and returns its path.
pub(crate) fn build_enetstat() -> anyhow::Result<PathBuf> {
    cargo(&[
        "build",
        "--release",
        "-p",
        "netstat-userspace",
        "--bin",
        "enetstat",
    ])?;
    Ok(target_dir().join("release/enetstat"))
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Output of a command that must succeed, as text.
pub(crate) fn output_of(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds one of the integration-test crate's helper binaries (release) and returns its path.
pub(crate) fn build_test_binary(name: &str) -> anyhow::Result<PathBuf> {
    cargo(&[
        "build",
        "--release",
        "-p",
        "enetstat-integration-tests",
        "--bin",
        name,
    ])?;
    Ok(target_dir().join("release").join(name))
}

/// The value of `key=value` among a tool's whitespace-separated output fields.
pub(crate) fn field<T: std::str::FromStr>(out: &str, key: &str) -> Option<T> {
    out.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| *k == key)?
        .1
        .parse()
        .ok()
}
