//! `enetstat -c` against `netstat -c`: net-tools polls once a second and misses a connection that
//! lives 10 ms; enetstat prints every transition since its first table.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{net::TcpListener, process::Command, time::Duration};

use enetstat_integration_tests::{
    enetstat::{self, TempDir},
    netns::Netns,
    wait, workload,
};

fn start(ns: &str, program: &std::path::Path, out: &std::path::Path) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(program)
        .arg("-tanc")
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_ten_millisecond_connection_is_captured_and_netstat_misses_it() {
    let ns = Netns::new("cont").unwrap();
    let dir = TempDir::new().unwrap();
    let (ours_out, theirs_out) = (dir.path.join("enetstat"), dir.path.join("netstat"));
    let mut ours = start(ns.name(), &enetstat::binary(), &ours_out);
    let mut theirs = start(ns.name(), "/usr/bin/netstat".as_ref(), &theirs_out);
    // Both print their first table before the connection exists.
    const TABLE: &str = "Active Internet connections";
    wait::until_true("both first tables", Duration::from_secs(20), || {
        Ok(wait::occurrences(&ours_out, TABLE) == 1 && wait::occurrences(&theirs_out, TABLE) >= 1)
    })
    .unwrap();
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:7600")?;
        // Lives about 10 ms and leaves nothing behind (RST close: no TIME_WAIT).
        workload::rst_abort_by_client_after(&listener, Duration::from_millis(10))
    })
    .unwrap();
    // A connection in another namespace is not this listing's, as it is not in its /proc.
    let elsewhere = Netns::new("contx").unwrap();
    elsewhere
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:7601")?;
            workload::rst_abort_by_client_after(&listener, Duration::from_millis(10))
        })
        .unwrap();
    // enetstat prints the close; netstat refreshes twice more, each a chance to see it.
    let refreshes = wait::occurrences(&theirs_out, TABLE);
    wait::until_true(
        "the close and two more netstat tables",
        Duration::from_secs(20),
        || {
            let closed = std::fs::read_to_string(&ours_out)?
                .lines()
                .any(|l| l.contains(":7600 ") && l.contains("CLOSE"));
            Ok(closed && wait::occurrences(&theirs_out, TABLE) >= refreshes + 2)
        },
    )
    .unwrap();
    for child in [&mut ours, &mut theirs] {
        // SAFETY: signalling our own children.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let _ = child.wait();
    }
    let ours = std::fs::read_to_string(&ours_out).unwrap();
    let theirs = std::fs::read_to_string(&theirs_out).unwrap();
    let captured: Vec<_> = ours.lines().filter(|l| l.contains(":7600 ")).collect();
    assert!(
        captured.iter().any(|l| l.contains("ESTABLISHED")),
        "enetstat -c missed the connection:\n{ours}"
    );
    assert!(captured.iter().any(|l| l.contains("CLOSE")), "{ours}");
    assert!(
        !ours.contains(":7601 "),
        "another namespace's connection was shown:\n{ours}"
    );
    assert!(
        theirs
            .lines()
            .filter(|l| l.contains(":7600 "))
            .all(|l| !l.contains("ESTABLISHED")),
        "netstat -c saw it too, so this test shows nothing:\n{theirs}"
    );
    assert!(
        theirs.matches("Active Internet connections").count() >= 2,
        "netstat -c refreshed"
    );
}
