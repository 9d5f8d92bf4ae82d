//! `--color`: into a pipe enetstat's bytes stay netstat's; asked for, the TCP states are
//! coloured and nothing else moves, whether enetstat reads the kernel or asks the daemon.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::path::Path;

use ::enetstat::strip_sgr;
use enetstat_integration_tests::{
    compare::{difference, run_in},
    enetstat::{self, Running, TempDir},
    fixture::SocketFixture,
    netns::Netns,
};

#[test]
fn colour_only_when_asked_and_columns_stay_netstats() {
    let ns = Netns::new("color").unwrap();
    let fixture = SocketFixture::build(&ns).unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let socket_arg = socket.to_str().unwrap();
    let daemon = Running::start_in(
        Some(ns.name()),
        &["serve", "--socket", socket_arg],
        "enetstat: serving on",
    )
    .unwrap();
    let netstat = run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tan"]).stdout;
    let ours = |args: &[&str]| {
        let out = run_in(ns.name(), &enetstat::binary(), args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mut failures = Vec::new();
    for source in [
        &["--source", "proc"][..],
        &["--source", "daemon", "--socket", socket_arg],
    ] {
        let with = |extra: &[&str]| ours(&[source, &["-tan"], extra].concat());
        // Into a pipe, by default or as asked: netstat's bytes.
        for plain in [
            with(&[]),
            with(&["--color", "never"]),
            with(&["--color=auto"]),
        ] {
            assert!(!plain.contains('\x1b'), "{source:?}: {plain}");
            failures.extend(difference(&netstat, plain.as_bytes()));
        }
        let colored = with(&["--color", "always"]);
        assert!(
            colored.contains("\x1b[36mLISTEN\x1b[0m") && colored.contains("\x1b[32mESTABLISHED"),
            "{source:?}: {colored}"
        );
        failures.extend(difference(&netstat, strip_sgr(&colored).as_bytes()));
    }
    let finished = daemon.stop().unwrap();
    drop(fixture);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(finished.status.success(), "{}", finished.stderr);
}
