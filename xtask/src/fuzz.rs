//! `cargo xtask fuzz [TARGET] --seconds N`: runs the cargo-fuzz targets of
//! netstat-userspace/fuzz/ (libFuzzer, nightly), each for N seconds, from the committed seed
//! corpus. Not part of `cargo xtask test`.
//!
//! libFuzzer adds the inputs it finds to the first corpus directory it is given: that is a
//! scratch one under the fuzz crate's target/, so fuzzing never changes the committed seeds.
//! Crashes land in netstat-userspace/fuzz/artifacts/TARGET/.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, bail};
use clap::Args;

use crate::{setup, util};

#[derive(Args)]
pub(crate) struct FuzzArgs {
    /// One target (default: every target, one after another). `cargo xtask fuzz --list` names them.
    target: Option<String>,
    /// How long each target runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// List the targets and stop.
    #[arg(long)]
    list: bool,
}

/// The directory holding the fuzz crate (`cargo fuzz` runs from its parent).
fn userspace_dir() -> PathBuf {
    util::workspace_root().join("netstat-userspace")
}

/// `cargo +nightly fuzz ARGS`, in netstat-userspace/, without the stable cargo's environment
/// (xtask runs under it) leaking into the nightly one.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "fuzz"])
        .args(args)
        .current_dir(userspace_dir());
    for key in ["CARGO", "RUSTC", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR"] {
        cmd.env_remove(key);
    }
    cmd
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let works = cargo_fuzz(&["--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz from crates.io");
    util::check_status(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
}

pub(crate) fn run(args: FuzzArgs) -> anyhow::Result<()> {
    // The fuzz crate links netstat-userspace, whose build script compiles the probes.
    setup::ensure_toolchain()?;
    ensure_cargo_fuzz()?;
    let listed = util::output_of(&mut cargo_fuzz(&["list"]))?;
    let all: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if args.list {
        all.iter().for_each(|target| println!("{target}"));
        return Ok(());
    }
    let targets: Vec<&str> = match &args.target {
        Some(target) if all.contains(&target.as_str()) => vec![target.as_str()],
        Some(target) => bail!("no fuzz target {target:?}; the targets: {}", all.join(", ")),
        None => all.clone(),
    };
    let fuzz_dir = userspace_dir().join("fuzz");
    let mut crashed = Vec::new();
    for target in targets {
        let seeds = fuzz_dir.join("corpus").join(target);
        let scratch = fuzz_dir.join("target/corpus").join(target);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        eprintln!("xtask: fuzzing {target} for {} s", args.seconds);
        // One process (no -jobs/-workers: the machine is shared); an input that takes over 10 s
        // is reported as a hang.
        let status = cargo_fuzz(&["run", target])
            .arg(&scratch)
            .arg(&seeds)
            .args([
                "--".to_string(),
                format!("-max_total_time={}", args.seconds),
                "-timeout=10".to_string(),
                "-print_final_stats=1".to_string(),
            ])
            .status()
            .context("running cargo fuzz")?;
        if !status.success() {
            crashed.push(target);
        }
    }
    if !crashed.is_empty() {
        bail!(
            "crashes in {} (inputs under {}/artifacts/)",
            crashed.join(", "),
            fuzz_dir.display()
        );
    }
    Ok(())
}
