//! Untrusted bytes on output (README: "One deliberate difference", "JSON output"): C1 controls in
//! program names and UNIX paths in every text view, whole UNIX paths in JSON, interface names that
//! are not UTF-8 in `watch -i --json`.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    ffi::OsStr,
    fs,
    io::{BufRead as _, BufReader},
    net::TcpStream,
    os::unix::{ffi::OsStrExt as _, net::UnixListener},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use enetstat_integration_tests::{
    compare::{difference, escape_controls, run_in},
    enetstat::{self, TempDir},
    netns::Netns,
    workload,
};

const NETSTAT: &str = "/usr/bin/netstat";

/// U+009B, the 8-bit CSI, as UTF-8: a terminal obeys `\u{9b}31m` as it obeys `\x1b[31m`.
const CSI: &str = "\u{9b}";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `enetstat-hold-sockets` copied to `dir` under a name with a C1 control and run in `ns`: its
/// program name (argv[0]'s base name, as netstat shows it) carries the control. It listens on
/// `port` and holds one established pair.
fn holder_named_with_csi(ns: &Netns, dir: &Path, port: u16) -> Child {
    let program = dir.join(format!("c1{CSI}31mred"));
    fs::copy(env!("CARGO_BIN_EXE_enetstat-hold-sockets"), &program).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(&program)
        .args(["2", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.starts_with("ready"), "{ready:?}");
    child
}

/// C1 controls are escaped in `-tanp`, `-xap` and `-c`, where netstat prints them raw; every
/// other byte is netstat's.
#[test]
fn c1_controls_are_escaped_in_every_text_view() {
    let ns = Netns::new("c1").unwrap();
    let dir = TempDir::new().unwrap();
    let mut holder = holder_named_with_csi(&ns, &dir.path, 7700);
    let socket_path = dir.path.join(format!("u{CSI}2J.sock"));
    let path = socket_path.clone();
    let unix = ns.run(move || Ok(UnixListener::bind(&path)?)).unwrap();
    let raw = CSI.as_bytes();
    let escaped = b"\\xc2\\x9b";
    for args in [&["-tanp"][..], &["-xap"]] {
        let netstat = run_in(ns.name(), NETSTAT.as_ref(), args);
        let ours = run_in(ns.name(), &enetstat::binary(), args);
        assert!(
            contains(&netstat.stdout, raw),
            "{args:?}: netstat prints it raw"
        );
        assert!(!contains(&ours.stdout, raw), "{args:?}: a raw C1 control");
        assert!(contains(&ours.stdout, escaped), "{args:?}");
        assert_eq!(
            difference(&escape_controls(&netstat.stdout), &ours.stdout),
            None,
            "{args:?}"
        );
    }

    // -c: the table, then a connection made by a thread whose comm has the control.
    let out = dir.path.join("continuous");
    let mut continuous = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(enetstat::binary())
        .arg("-tnpc")
        .stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read(&out)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        < 3
    {
        assert!(Instant::now() < deadline, "enetstat -c printed no table");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    ns.run(|| {
        workload::set_thread_comm(format!("t{CSI}1m").as_bytes())?;
        let stream = TcpStream::connect("127.0.0.1:7700")?;
        drop(stream);
        Ok(())
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(continuous.id() as libc::pid_t, libc::SIGINT) };
    continuous.wait().unwrap();
    let text = fs::read(&out).unwrap();
    assert!(!contains(&text, raw), "-c: a raw C1 control");
    assert!(
        contains(&text, b"/c1\\xc2\\x9b31mred") && contains(&text, b"/t\\xc2\\x9b1m"),
        "-c: {}",
        String::from_utf8_lossy(&text)
    );
    drop(unix);
    drop(holder.stdin.take());
    holder.wait().unwrap();
}

/// `watch -i --json` names an interface that is not UTF-8 as `-i --json` does (`\xNN` per byte),
/// not with replacement characters. (A veth pair: this kernel has no dummy interfaces.)
#[test]
fn watch_interfaces_json_escapes_names_that_are_not_utf8() {
    let ns = Netns::new("ifname").unwrap();
    let raw_name = OsStr::from_bytes(b"\xff\xfeY");
    let status = Command::new("ip")
        .args(["-n", ns.name(), "link", "add"])
        .arg(raw_name)
        .args(["type", "veth", "peer", "name", "ve-peer"])
        .status()
        .unwrap();
    assert!(status.success());
    let escaped = "\\xff\\xfeY";
    let listed = run_in(ns.name(), &enetstat::binary(), &["-i", "-a", "--json"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains(&format!("\"iface\":\"{}\"", escaped.replace('\\', "\\\\"))),
        "{listed}"
    );
    let watch = enetstat::Running::start_in(
        Some(ns.name()),
        &["watch", "-i", "--json", "--interval", "0.2"],
        enetstat::READY,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let finished = watch.stop().unwrap();
    assert!(!finished.stdout.contains('\u{fffd}'), "{}", finished.stdout);
    let names: Vec<String> = finished
        .json_lines()
        .unwrap()
        .iter()
        .filter(|line| line["type"] == "interfaces")
        .flat_map(|line| line["interfaces"].as_array().cloned().unwrap_or_default())
        .filter_map(|interface| interface["iface"].as_str().map(str::to_string))
        .collect();
    assert!(names.iter().any(|n| n == escaped), "{names:?}");
}

/// A UNIX path with a newline: JSON shows it whole (from unix_diag), escaped; the text keeps
/// netstat's bytes, cut at the first whitespace.
#[test]
fn json_shows_a_unix_path_with_a_newline_whole() {
    let ns = Netns::new("unixnl").unwrap();
    let dir = TempDir::new().unwrap();
    let path = dir.path.join("a\x1b[31mRED\nb.sock");
    let bound = path.clone();
    let listener = ns.run(move || Ok(UnixListener::bind(&bound)?)).unwrap();
    let json = run_in(ns.name(), &enetstat::binary(), &["-xa", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let paths: Vec<String> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter_map(|socket| socket["path"].as_str().map(str::to_string))
        .collect();
    let whole = format!("{}/a\\x1b[31mRED\\x0ab.sock", dir.path.display());
    assert!(paths.contains(&whole), "{whole} not in {paths:?}");
    for args in [&["-xa"][..], &["-xl"]] {
        let netstat = run_in(ns.name(), NETSTAT.as_ref(), args);
        let ours = run_in(ns.name(), &enetstat::binary(), args);
        assert_eq!(
            difference(&escape_controls(&netstat.stdout), &ours.stdout),
            None,
            "{args:?}"
        );
        let cut = format!("{}/a\\x1b[31mRED\n", dir.path.display());
        assert!(
            String::from_utf8_lossy(&ours.stdout).contains(&cut),
            "{args:?}"
        );
    }
    drop(listener);
}
