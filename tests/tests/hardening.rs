//! Attacks on `enetstat serve` and `watch` (issue 11, "Hardening"): what the socket path may
//! replace, descriptor exhaustion, clients that never read, signals, and TIME_WAIT rows near their
//! expiry. Every connection is made inside a scratch namespace.

use std::{
    os::unix::net::{UnixListener, UnixStream},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use enetstat_integration_tests::{
    enetstat::{self, Running, TempDir},
    netns::Netns,
};

const SERVING: &str = "enetstat: serving on";

fn serve_args(socket: &Path) -> Vec<&str> {
    vec!["serve", "--socket", socket.to_str().unwrap()]
}

/// `enetstat serve --socket SOCKET` in `ns`, run to its end (it is expected to refuse).
fn serve_refused(ns: &Netns, socket: &str) -> std::process::Output {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(enetstat::binary())
        .args(["serve", "--socket", socket])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve --socket {socket} did not refuse: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn serve_replaces_only_a_stale_socket() {
    let ns = Netns::new("sockpath").unwrap();
    let dir = TempDir::new().unwrap();

    // A regular file is left alone, and the refusal names it.
    let file = dir.path.join("data");
    std::fs::write(&file, "data\n").unwrap();
    let out = serve_refused(&ns, file.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "data\n");

    // A socket somebody answers on is left alone too.
    let live_path = dir.path.join("live.sock");
    let live = UnixListener::bind(&live_path).unwrap();
    let out = serve_refused(&ns, live_path.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("answering"), "{stderr}");
    drop(live);
    // Now nobody answers on it: a stale socket, which is replaced.
    let daemon = Running::start_in(Some(ns.name()), &serve_args(&live_path), SERVING).unwrap();
    assert!(UnixStream::connect(&live_path).is_ok());
    let finished = daemon.stop_with(libc::SIGTERM).unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(!live_path.exists());

    // A relative path is resolved against the working directory, and named in full.
    let cwd = dir.path.to_str().unwrap();
    let wrapper = format!(
        "cd '{cwd}' && exec ip netns exec {} \"$0\" \"$@\"",
        ns.name()
    );
    let daemon = Running::start_under(
        &["sh", "-c", &wrapper],
        &["serve", "--socket", "relative.sock"],
        SERVING,
    )
    .unwrap();
    let absolute = dir.path.join("relative.sock");
    assert!(UnixStream::connect(&absolute).is_ok());
    let finished = daemon.stop_with(libc::SIGTERM).unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains(&format!("serving on {}", absolute.display())),
        "{}",
        finished.stderr
    );
}
