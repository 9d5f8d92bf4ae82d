//! `enetstat -s` against the real net-tools `netstat -s`, byte for byte.
//!
//! Counters move all the time, so both programs read frozen copies: in a private mount namespace
//! (unshare, root only) /proc is replaced by a tmpfs holding a fixture as /proc/net, and both run
//! there one after the other. One last test compares them on the live /proc, with a tolerance.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use enetstat_integration_tests::enetstat::{self, TempDir};

/// The argument lists compared on every fixture.
const ARGUMENT_LISTS: &[&[&str]] = &[
    &["-s"],
    &["-st"],
    &["-su"],
    &["-sw"],
    &["-s", "-6"],
    &["-s", "-t", "-6"],
];

/// What one program printed, and how it exited.
#[derive(Debug)]
struct Run {
    stdout: String,
    stderr: String,
    status: String,
}

/// The counter-file cases kept with the unit tests' golden files (see the README there).
fn fixture_cases() -> anyhow::Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../netstat-userspace/tests/fixtures/statistics");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let net = entry?.path().join("net");
        if net.is_dir() {
            cases.push(net);
        }
    }
    cases.sort();
    Ok(cases)
}

/// Runs `netstat ARGS`, then `enetstat ARGS`, in one private mount namespace whose /proc/net
/// holds exactly the files in `net`.
fn run_both_on(net: &Path, args: &[&str]) -> anyhow::Result<(Run, Run)> {
    const SCRIPT: &str = r#"
        net=$1 out=$2 enetstat=$3
        shift 3
        mount -t tmpfs none /proc && mkdir /proc/net && cp -r "$net"/. /proc/net/ || exit 99
        LC_ALL=C netstat "$@" >"$out/netstat.stdout" 2>"$out/netstat.stderr"
        echo $? >"$out/netstat.status"
        "$enetstat" "$@" >"$out/enetstat.stdout" 2>"$out/enetstat.stderr"
        echo $? >"$out/enetstat.status"
    "#;
    let out = TempDir::new()?;
    let status = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "sh",
        ])
        .arg(net)
        .arg(&out.path)
        .arg(enetstat::binary())
        .args(args)
        .status()
        .context("running unshare (util-linux)")?;
    if !status.success() {
        bail!("a private /proc could not be set up ({status}): these tests need root");
    }
    let read = |program: &str| -> anyhow::Result<Run> {
        let file = |stream: &str| {
            let path = out.path.join(format!("{program}.{stream}"));
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        Ok(Run {
            stdout: file("stdout")?,
            stderr: file("stderr")?,
            status: file("status")?.trim().to_string(),
        })
    };
    Ok((read("netstat")?, read("enetstat")?))
}

/// Runs a program on the live /proc.
fn run_live(program: &Path, args: &[&str]) -> anyhow::Result<Run> {
    let output = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    Ok(Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        status: output
            .status
            .code()
            .map_or("signal".into(), |c| c.to_string()),
    })
}

/// Where two outputs first differ, with both outputs, or None if they are the same.
fn difference(netstat: &str, enetstat: &str) -> Option<String> {
    if netstat == enetstat {
        return None;
    }
    let mut left = netstat.split_inclusive('\n');
    let mut right = enetstat.split_inclusive('\n');
    let mut line = 1;
    let first = loop {
        match (left.next(), right.next()) {
            (l, r) if l == r => line += 1,
            (l, r) => break format!("line {line}: netstat {l:?}, enetstat {r:?}"),
        }
    };
    Some(format!(
        "first difference at {first}\n--- netstat:\n{netstat}--- enetstat:\n{enetstat}"
    ))
}

#[test]
fn same_output_as_netstat_on_fixtures() -> anyhow::Result<()> {
    let mut failures = Vec::new();
    let cases = fixture_cases()?;
    assert!(!cases.is_empty(), "no fixture cases found");
    for net in &cases {
        for args in ARGUMENT_LISTS {
            let (netstat, enetstat) = run_both_on(net, args)?;
            if let Some(diff) = difference(&netstat.stdout, &enetstat.stdout) {
                failures.push(format!("{} {args:?}: {diff}", net.display()));
            } else if netstat.status != enetstat.status {
                failures.push(format!(
                    "{} {args:?}: exit status netstat {} enetstat {} ({})",
                    net.display(),
                    netstat.status,
                    enetstat.status,
                    enetstat.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// This kernel's own files, frozen: new counters of a newer kernel show up here first.
#[test]
fn same_output_as_netstat_on_a_copy_of_this_machines_counters() -> anyhow::Result<()> {
    let copy = TempDir::new()?;
    for file in ["snmp", "netstat", "snmp6", "sctp/snmp"] {
        let source = Path::new("/proc/net").join(file);
        if source.exists() {
            let target = copy.path.join(file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // Not fs::copy: /proc files report a size of 0.
            std::fs::write(&target, std::fs::read(&source)?)?;
        }
    }
    for args in ARGUMENT_LISTS {
        let (netstat, enetstat) = run_both_on(&copy.path, args)?;
        if let Some(diff) = difference(&netstat.stdout, &enetstat.stdout) {
            panic!("{args:?}: {diff}");
        }
        assert_eq!(netstat.status, enetstat.status, "{args:?}");
    }
    Ok(())
}

/// Without /proc/net/netstat both print /proc/net/snmp alone; without /proc/net/snmp6, `-s -6`
/// prints nothing. netstat exits 0 there after its message; enetstat reports the missing file as
/// an error (status 1).
#[test]
fn same_output_as_netstat_with_files_missing() -> anyhow::Result<()> {
    let only_snmp = TempDir::new()?;
    let captured = fixture_cases()?
        .into_iter()
        .find(|net| net.parent().is_some_and(|case| case.ends_with("captured")))
        .context("the captured fixture")?;
    std::fs::copy(captured.join("snmp"), only_snmp.path.join("snmp"))?;
    for args in ARGUMENT_LISTS {
        let (netstat, enetstat) = run_both_on(&only_snmp.path, args)?;
        if let Some(diff) = difference(&netstat.stdout, &enetstat.stdout) {
            panic!("{args:?}: {diff}");
        }
        if args.contains(&"-6") {
            assert!(netstat.stderr.contains("cannot open /proc/net/snmp6"));
            assert!(
                enetstat.stderr.contains("cannot open /proc/net/snmp6"),
                "{}",
                enetstat.stderr
            );
            assert_eq!(enetstat.status, "1");
        } else {
            assert_eq!(enetstat.status, netstat.status);
        }
    }
    Ok(())
}

/// Every digit run masked: what is left is the shape of the output.
fn shape(output: &str) -> String {
    let mut masked = String::with_capacity(output.len());
    let mut in_number = false;
    for c in output.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                masked.push('#');
            }
            in_number = true;
        } else {
            masked.push(c);
            in_number = false;
        }
    }
    masked
}

/// The live /proc: the counters move between the two reads, so only the output's shape is
/// compared, digits masked. Even the shape can change when a counter leaves zero between the
/// reads (hidden zero counters then appear), so a few attempts are allowed.
#[test]
fn same_shape_as_netstat_on_live_counters() -> anyhow::Result<()> {
    const ATTEMPTS: usize = 5;
    for args in [&["-s"][..], &["-s", "-6"]] {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let netstat = run_live(Path::new("netstat"), args)?;
            let enetstat = run_live(&enetstat::binary(), args)?;
            assert_eq!(netstat.status, enetstat.status, "{args:?}");
            last = difference(&shape(&netstat.stdout), &shape(&enetstat.stdout));
            if last.is_none() {
                break;
            }
        }
        if let Some(diff) = last {
            panic!("{args:?}, {ATTEMPTS} attempts: {diff}");
        }
    }
    Ok(())
}
