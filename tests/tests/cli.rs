//! The command line against the real net-tools `netstat`: `-c` on views no event describes,
//! the rest of netstat's option surface (families enetstat has no table for, `-Z`), arguments
//! that are not UTF-8, global options before a subcommand, and what an unprivileged user sees.

use std::{
    ffi::OsStr,
    os::unix::{ffi::OsStrExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    thread,
    time::Duration,
};

use enetstat_integration_tests::{
    compare::{difference, run_in},
    enetstat::{self, TempDir},
    netns::Netns,
};

fn netstat() -> PathBuf {
    PathBuf::from("/usr/bin/netstat")
}

/// Runs `program ARGS` in `ns` for `how_long`, then ends it with SIGTERM (both programs die of
/// it: neither handles it in a refreshing view). Its stdout.
fn run_for(ns: &Netns, program: &Path, args: &[&str], how_long: Duration) -> Vec<u8> {
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting ip netns exec");
    thread::sleep(how_long);
    // SAFETY: kill(2) on our own child's pid (ip netns exec execs the program in place).
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait_with_output().unwrap().stdout
}

/// How many times `table` follows itself from the start of `output`, and what is left over.
fn repetitions<'a>(table: &[u8], mut output: &'a [u8]) -> (usize, &'a [u8]) {
    let mut count = 0;
    while !table.is_empty()
        && let Some(rest) = output.strip_prefix(table)
    {
        count += 1;
        output = rest;
    }
    (count, output)
}

/// netstat's `-c` reprints `-g`, `-r` and socket listings of protocols without events every
/// second; enetstat does the same (README: "netstat-compatible snapshots"). `-s` ignores `-c` in
/// both. Only netstat's first `-gc` table is compared: its later ones read stale memory.
#[test]
fn continuous_views_without_events_are_reprinted_every_second() {
    let ns = Netns::new("cli-c").unwrap();
    for (once, continuous) in [
        (&["-g"][..], &["-gc"][..]),
        (&["-rn"], &["-rnc"]),
        (&["-uan"], &["-uanc"]),
    ] {
        let table = run_in(ns.name(), &enetstat::binary(), once).stdout;
        let want = run_in(ns.name(), &netstat(), once).stdout;
        assert_eq!(difference(&want, &table), None, "{once:?}");
        let netstat_out = run_for(&ns, &netstat(), continuous, Duration::from_millis(2500));
        let got = run_for(&ns, &enetstat::binary(), continuous, Duration::from_millis(2500));
        let (netstat_count, _) = repetitions(&table, &netstat_out);
        let (count, rest) = repetitions(&table, &got);
        assert!(netstat_count >= 1, "{continuous:?}: netstat's first table differs");
        assert!(
            (2..=4).contains(&count) && rest.is_empty(),
            "{continuous:?}: {count} tables, then {:?}",
            String::from_utf8_lossy(rest)
        );
    }
    let netstat_out = run_in(ns.name(), &netstat(), &["-sc"]);
    let out = run_in(ns.name(), &enetstat::binary(), &["-sc"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(netstat_out.status.code(), Some(0));
    assert_eq!(difference(&netstat_out.stdout, &out.stdout), None, "-sc");
}
