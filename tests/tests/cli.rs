//! The command line against the real net-tools `netstat`: `-c` on views no event describes,
//! the rest of netstat's option surface (families enetstat has no table for, `-Z`), arguments
//! that are not UTF-8, global options before a subcommand, and what an unprivileged user sees.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    ffi::OsStr,
    os::unix::ffi::OsStrExt as _,
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
        let got = run_for(
            &ns,
            &enetstat::binary(),
            continuous,
            Duration::from_millis(2500),
        );
        let (netstat_count, _) = repetitions(&table, &netstat_out);
        let (count, rest) = repetitions(&table, &got);
        assert!(
            netstat_count >= 1,
            "{continuous:?}: netstat's first table differs"
        );
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

/// `setpriv` arguments that run a program as nobody.
const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
];

/// A directory nobody can enter, holding copies of enetstat and `enetstat-hold-sockets` (the
/// checkout may sit below a directory only root can enter).
fn world_readable_copies() -> (TempDir, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new().unwrap();
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let enetstat = dir.path.join("enetstat");
    std::fs::copy(enetstat::binary(), &enetstat).unwrap();
    let holder = dir.path.join("enetstat-hold-sockets");
    std::fs::copy(env!("CARGO_BIN_EXE_enetstat-hold-sockets"), &holder).unwrap();
    (dir, enetstat, holder)
}

/// `program ARGS` as nobody in `ns`.
fn as_nobody_in(ns: &Netns, program: &Path, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args(AS_NOBODY)
        .arg(program)
        .args(args)
        .output()
        .unwrap()
}

/// netstat's stderr with its name where enetstat has its own.
fn with_our_name(netstat_stderr: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(netstat_stderr);
    text.lines()
        .map(|line| match line.strip_prefix("netstat:") {
            Some(rest) => format!("enetstat:{rest}\n"),
            None => format!("{line}\n"),
        })
        .collect::<String>()
        .into_bytes()
}

/// Exit status, stdout and stderr (netstat's name replaced) are netstat's.
fn assert_same(label: &str, netstat: &Output, ours: &Output) {
    assert_eq!(
        netstat.status.code(),
        ours.status.code(),
        "{label}: exit status; enetstat's stderr: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert_eq!(
        difference(&netstat.stdout, &ours.stdout),
        None,
        "{label}: stdout"
    );
    assert_eq!(
        String::from_utf8_lossy(&with_our_name(&netstat.stderr)),
        String::from_utf8_lossy(&ours.stderr),
        "{label}: stderr"
    );
}

/// `-p` as an unprivileged user: netstat's note, byte for byte, in both of its forms (no owner
/// readable at all; some owners readable).
#[test]
fn programs_as_nobody_print_netstats_note() {
    let ns = Netns::new("cli-p").unwrap();
    let (_dir, enetstat, holder) = world_readable_copies();
    // A root-owned listener nobody cannot attribute.
    let _root = ns
        .run(|| Ok(std::net::TcpListener::bind("127.0.0.1:7800")?))
        .unwrap();
    for args in [&["-tlnp"][..], &["-tanp"], &["-xlp"]] {
        let netstat = as_nobody_in(&ns, &netstat(), args);
        let ours = as_nobody_in(&ns, &enetstat, args);
        assert!(
            String::from_utf8_lossy(&netstat.stderr).contains("No info could be read"),
            "{args:?}: {}",
            String::from_utf8_lossy(&netstat.stderr)
        );
        assert_same(&format!("{args:?} as nobody"), &netstat, &ours);
    }
    // Now nobody owns sockets too: netstat's other note.
    let mut held = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args(AS_NOBODY)
        .arg(&holder)
        .args(["2", "7801"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(held.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert!(ready.starts_with("ready"), "{ready:?}");
    let netstat = as_nobody_in(&ns, &netstat(), &["-tanp"]);
    let ours = as_nobody_in(&ns, &enetstat, &["-tanp"]);
    assert!(
        String::from_utf8_lossy(&netstat.stderr).contains("Not all processes"),
        "{}",
        String::from_utf8_lossy(&netstat.stderr)
    );
    assert_same("-tanp as nobody, owning sockets", &netstat, &ours);
    drop(held.stdin.take());
    held.wait().unwrap();
}

/// `watch -i` as nobody: the one line saying what is needed, and no header before it.
#[test]
fn watch_interfaces_as_nobody_prints_only_the_error() {
    let (_dir, enetstat, _) = world_readable_copies();
    let out = Command::new(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .arg(&enetstat)
        .args(["watch", "-i"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "nothing on stdout"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
}

/// The global `--socket` and `--color` before a subcommand, as after it.
#[test]
fn global_options_before_the_subcommand() {
    let dir = TempDir::new().unwrap();
    // A file that is not a socket: connecting to it is refused (ECONNREFUSED), where the default
    // socket, absent, gives ENOENT; the error tells which path was used.
    let socket = dir.path.join("not-a-socket");
    std::fs::write(&socket, b"").unwrap();
    for args in [
        vec![
            OsStr::new("--socket"),
            socket.as_os_str(),
            OsStr::new("status"),
        ],
        vec![
            OsStr::new("status"),
            OsStr::new("--socket"),
            socket.as_os_str(),
        ],
    ] {
        let out = Command::new(enetstat::binary())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("(os error 111)"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// netstat's options for families this kernel has no tables for, and `-Z`: answered as netstat
/// answers on this kernel. Same exit status, same stdout, same stderr but for the program name.
#[test]
fn the_rest_of_netstats_options_are_answered_as_netstat_answers() {
    let ns = Netns::new("cli-af").unwrap();
    let dir = TempDir::new().unwrap();
    let unix_path = dir.path.join("listener.sock");
    let path = unix_path.clone();
    // Something to list: a TCP listener, an established pair, a UNIX listener.
    let _held = ns
        .run(move || {
            let listener = std::net::TcpListener::bind("127.0.0.1:7900")?;
            let client = std::net::TcpStream::connect("127.0.0.1:7900")?;
            let (server, _) = listener.accept()?;
            let unix = std::os::unix::net::UnixListener::bind(&path)?;
            Ok((listener, client, server, unix))
        })
        .unwrap();
    for args in [
        &["--ipx"][..],
        &["--ddp"],
        &["--appletalk"],
        &["--ax25"],
        &["--netrom"],
        &["--x25"],
        &["--rose"],
        &["--bluetooth"],
        &["--l2cap"],
        &["--rfcomm"],
        &["--ip"],
        &["-Z"],
        &["--context"],
        &["-tnZ"],
        &["-A", "ipx"],
        &["-A", "ddp"],
        &["-A", "appletalk"],
        &["-A", "ax25"],
        &["-A", "netrom"],
        &["-A", "x25"],
        &["-A", "rose"],
        &["-A", "bluetooth"],
        &["-A", "econet"],
        &["-A", "ash"],
        &["-A", "ip"],
        &["-A", "ip6"],
        &["-A", "tcpip"],
        &["-A", "unspec"],
        &["-A", "bogus"],
        &["-A", "inet,ipx"],
        &["-A", "unix,rose", "-n"],
        &["-tn", "--ipx"],
        &["-xn", "--ax25"],
        &["--rose", "--x25"],
        &["-tn", "--bluetooth", "--ipx"],
        &["-tn", "--ddp"],
        &["-tnc", "--ipx"],
        &["-gn", "--netrom"],
        &["-i", "--ipx"],
        &["-A", "ipx", "-Z"],
    ] {
        let netstat = run_in(ns.name(), &netstat(), args);
        let ours = run_in(ns.name(), &enetstat::binary(), args);
        assert_same(&format!("{args:?}"), &netstat, &ours);
    }
}

/// Arguments that are not UTF-8: a path is any bytes; every other value is one line naming the
/// option, exit status 2 (as every usage error); `-A` answers as netstat does (exit 1). Never a
/// panic.
#[test]
fn arguments_that_are_not_utf8_are_usage_errors() {
    fn with_bad(args: &[&'static str]) -> Vec<&'static OsStr> {
        let bad = OsStr::from_bytes(b"\xff");
        args.iter()
            .map(|&a| if a == "BAD" { bad } else { OsStr::new(a) })
            .collect()
    }
    let run = |args: &[&OsStr]| {
        Command::new(enetstat::binary())
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for (args, names) in [
        (&["BAD"][..], "the argument '\\xff'"),
        (&["-t", "BAD"], "the argument '\\xff'"),
        (&["--color", "BAD"], "--color: the value '\\xff'"),
        (&["--source", "BAD"], "--source: the value '\\xff'"),
        (&["watch", "--state", "BAD"], "--state: the value '\\xff'"),
        (&["watch", "-s", "BAD"], "-s: the value '\\xff'"),
        (
            &["watch", "--ring-size", "BAD"],
            "--ring-size: the value '\\xff'",
        ),
        (
            &["serve", "--ring-size", "BAD"],
            "--ring-size: the value '\\xff'",
        ),
        (
            &["serve", "--metrics", "BAD"],
            "--metrics: the value '\\xff'",
        ),
        (&["completions", "BAD"], "the argument '\\xff'"),
    ] {
        let out = run(&with_bad(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!("enetstat: {names} is not UTF-8\n"),
            "{args:?}"
        );
    }
    // --option=VALUE names the option too.
    let mut joined = b"--metrics=".to_vec();
    joined.push(0xff);
    let out = run(&[OsStr::new("serve"), OsStr::from_bytes(&joined)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "enetstat: --metrics: the value '\\xff' is not UTF-8\n"
    );
    // -A: netstat's unknown family, its byte escaped, exit 1 as netstat's.
    let ours = run(&with_bad(&["-A", "BAD"]));
    let theirs = Command::new(netstat())
        .arg("-A")
        .arg(OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(ours.stderr, b"Unknown address family `\\xff'.\n");
    assert_eq!(
        String::from_utf8_lossy(&theirs.stderr),
        String::from_utf8_lossy(b"Unknown address family `\xff'.\n")
    );
    // Paths are any bytes: the socket is taken and looked for (none there).
    for args in [
        &["--socket", "BAD", "status"][..],
        &["status", "--socket", "BAD"],
    ] {
        let out = run(&with_bad(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("No such file or directory"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}
