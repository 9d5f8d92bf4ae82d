//! `enetstat serve` with the real probe, inside a scratch namespace: its answers equal netstat's,
//! for sockets that existed before it started and for sockets made since.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    io::{Read as _, Write as _},
    net::TcpListener,
    os::unix::{fs::PermissionsExt as _, net::UnixStream, process::CommandExt as _},
    path::Path,
    process::Command,
};

use enetstat_integration_tests::{
    compare::{difference, escape_controls, run_in},
    enetstat::{self, Running, TempDir},
    fixture::SocketFixture,
    netns::Netns,
    tables::{kernel_table, wait_for_table_to_match},
    wait, workload,
};

const SERVING: &str = "enetstat: serving on";

fn serve(ns: &Netns, socket: &Path) -> Running {
    Running::start_in(
        Some(ns.name()),
        &["serve", "--socket", socket.to_str().unwrap()],
        SERVING,
    )
    .unwrap()
}

/// Runs `enetstat ARGS --socket SOCKET` here (outside any scratch namespace).
fn enetstat_with_socket(socket: &Path, args: &[&str]) -> std::process::Output {
    Command::new(enetstat::binary())
        .args(args)
        .args(["--socket", socket.to_str().unwrap()])
        .output()
        .unwrap()
}

fn compare_with_netstat(ns: &Netns, socket: &Path, args: &[&str]) -> Option<String> {
    let netstat = run_in(ns.name(), Path::new("/usr/bin/netstat"), args);
    let mut ours_args = vec!["--source", "daemon", "--socket", socket.to_str().unwrap()];
    ours_args.extend_from_slice(args);
    let ours = run_in(ns.name(), &enetstat::binary(), &ours_args);
    if !ours.status.success() {
        return Some(format!(
            "enetstat failed: {}",
            String::from_utf8_lossy(&ours.stderr)
        ));
    }
    difference(&escape_controls(&netstat.stdout), &ours.stdout)
}

#[test]
fn daemon_answers_like_netstat_for_old_and_new_sockets() {
    let ns = Netns::new("daemon").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    // Sockets from before the daemon, with their owners...
    let fixture = SocketFixture::build(&ns).unwrap();
    let daemon = serve(&ns, &socket);
    // ...and sockets made since: an accepted pair, a closed one (TIME_WAIT), a listener.
    let held = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:9100")?;
            let client = std::net::TcpStream::connect("127.0.0.1:9100")?;
            let (server, _) = listener.accept()?;
            workload::active_close_by_client(&listener)?;
            Ok((listener, client, server))
        })
        .unwrap();
    let mut failures = Vec::new();
    for args in [
        &["-tanp"][..],
        &["-tulpn"],
        &["-tan"],
        &["-tano"],
        &["-anp"],
        &["-xap"],
        &["-s"],
        &["-rn"],
    ] {
        if let Some(diff) = compare_with_netstat(&ns, &socket, args) {
            failures.push(format!("{}: {diff}", args.join(" ")));
        }
    }
    drop(held);
    let finished = daemon.stop().unwrap();
    drop(fixture);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn status_reports_the_table() {
    let ns = Netns::new("status").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket);
    ns.run(|| workload::active_close_by_client(&TcpListener::bind("127.0.0.1:9200")?))
        .unwrap();
    let out = enetstat_with_socket(&socket, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "uptime_s",
        "sockets_tracked",
        "events_received",
        "events_lost",
        "resyncs",
        "rss_bytes",
    ] {
        assert!(status.get(field).is_some(), "{field} missing from {status}");
    }
    assert!(
        status["events_received"].as_u64().unwrap() >= 12,
        "{status}"
    );
    assert_eq!(status["events_lost"], 0);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success());
}

#[test]
fn the_socket_refuses_other_users_and_survives_bad_requests() {
    let ns = Netns::new("refuse").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Another user cannot even connect (a world-readable copy of the binary, so it can run).
    let bin_dir = TempDir::new().unwrap();
    std::fs::set_permissions(&bin_dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = bin_dir.path.join("enetstat");
    std::fs::copy(enetstat::binary(), &copy).unwrap();
    let out = Command::new(&copy)
        .args(["status", "--socket", socket.to_str().unwrap()])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ermission denied"),
        "{out:?}"
    );

    // Malformed, oversized and half-closed requests get an error; the daemon goes on.
    let exchange = |bytes: &[u8], half_close: bool| {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(bytes).unwrap();
        if half_close {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(exchange(b"{\"version\":1,\"request\":\"nope\"}\n", false).contains("\"ok\":false"));
    assert!(exchange(&vec![b'{'; 70_000], false).contains("larger than"));
    assert!(exchange(b"{\"version\":1,", true).contains("before its newline"));
    // A version 1 client sends its command line as text: answered as before, with the bytes
    // this version's client gets.
    let _listener = ns.run(|| Ok(TcpListener::bind("127.0.0.1:9401")?)).unwrap();
    let old = exchange(
        b"{\"version\":1,\"request\":\"snapshot\",\"args\":[\"-ltn\"]}\n",
        false,
    );
    let new = run_in(
        ns.name(),
        &enetstat::binary(),
        &[
            "--source",
            "daemon",
            "--socket",
            socket.to_str().unwrap(),
            "-ltn",
        ],
    );
    assert!(new.status.success(), "{new:?}");
    let new = String::from_utf8_lossy(&new.stdout);
    assert!(new.contains("127.0.0.1:9401"), "{new}");
    assert_eq!(old, format!("{{\"version\":2,\"ok\":true}}\n{new}"));
    let out = enetstat_with_socket(&socket, &["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let finished = daemon.stop_with(libc::SIGTERM).unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(!socket.exists(), "the socket file is removed on exit");
}

#[test]
fn no_daemon_means_proc_for_auto_and_an_error_for_daemon() {
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("absent.sock");
    let auto = enetstat_with_socket(&socket, &["-tn"]);
    assert!(auto.status.success());
    assert!(String::from_utf8_lossy(&auto.stdout).starts_with("Active Internet connections"));
    let forced = enetstat_with_socket(&socket, &["-tn", "--source", "daemon"]);
    assert_eq!(forced.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forced.stderr).contains("no enetstat daemon answers"));
}

/// The daemon's `status --json`.
fn status(socket: &Path) -> serde_json::Value {
    let out = enetstat_with_socket(socket, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A root client in another namespace than the daemon's gets its own namespace's view, read
/// there by the daemon (which enters it): as netstat shows it in that namespace, sockets made
/// before and after the daemon started.
#[test]
fn a_daemon_in_another_namespace_answers_for_the_clients() {
    let daemon_ns = Netns::new("daemonns").unwrap();
    let client_ns = Netns::new("clientns").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let fixture = SocketFixture::build(&client_ns).unwrap();
    let daemon = serve(&daemon_ns, &socket);
    let held = client_ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:9101")?;
            let client = std::net::TcpStream::connect("127.0.0.1:9101")?;
            let (server, _) = listener.accept()?;
            workload::active_close_by_client(&listener)?;
            Ok((listener, client, server))
        })
        .unwrap();
    let mut failures = Vec::new();
    for args in [&["-tanp"][..], &["-tan"], &["-uan"], &["-s"], &["-rn"]] {
        if let Some(diff) = compare_with_netstat(&client_ns, &socket, args) {
            failures.push(format!("{}: {diff}", args.join(" ")));
        }
    }
    drop(held);
    let finished = daemon.stop().unwrap();
    drop(fixture);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn a_forced_overflow_is_detected_and_the_table_is_exact_after_resync() {
    let ns = Netns::new("overflow").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = Running::start_in(
        Some(ns.name()),
        &[
            "serve",
            "--ring-size",
            "4K",
            "--socket",
            socket.to_str().unwrap(),
        ],
        SERVING,
    )
    .unwrap();
    // Stop the daemon's reader so the 4 KiB ring overflows, then let it go.
    let pid = daemon.pid();
    let daemon_pid = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| pid.to_string());
    let daemon_pid: i32 = daemon_pid.parse().unwrap();
    // SAFETY: pausing and resuming our own child.
    unsafe { libc::kill(daemon_pid, libc::SIGSTOP) };
    let held = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:7700")?;
            for _ in 0..200 {
                workload::rst_abort_by_client(&listener)?;
            }
            let mut held = Vec::new();
            for _ in 0..20 {
                let client = std::net::TcpStream::connect("127.0.0.1:7700")?;
                let (server, _) = listener.accept()?;
                held.push((client, server));
            }
            Ok((listener, held))
        })
        .unwrap();
    // SAFETY: resuming our own child.
    unsafe { libc::kill(daemon_pid, libc::SIGCONT) };
    let status = wait::until("a resync after the losses", Duration::from_secs(15), || {
        let status = status(&socket);
        Ok((status["resyncs"].as_u64() >= Some(1)).then_some(status))
    })
    .unwrap();
    assert!(status["events_lost"].as_u64().unwrap() > 0, "{status}");
    wait_for_table_to_match(&ns, &socket);
    let kernel = kernel_table(&ns);
    assert_eq!(kernel.len(), 41, "{kernel:#?}");
    drop(held);
    daemon.stop().unwrap();
}

use std::time::Duration;

#[test]
fn after_100000_connections_with_mixed_endings_the_table_equals_the_kernel() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 25_000;
    let ns = Netns::new("churn").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket);
    let held = ns
        .run(|| {
            // One listener per worker: a shared one would hand a worker another's connection.
            let listeners: Vec<_> = (0..THREADS)
                .map(|worker| {
                    TcpListener::bind(("127.0.0.1", 7810 + worker as u16)).map(std::sync::Arc::new)
                })
                .collect::<Result<_, _>>()?;
            let refused: std::net::SocketAddr = "127.0.0.1:7801".parse()?;
            let workers: Vec<_> = (0..THREADS)
                .map(|worker| {
                    let listener = listeners[worker].clone();
                    std::thread::spawn(move || -> anyhow::Result<()> {
                        for i in 0..PER_THREAD {
                            match (worker + i) % 5 {
                                0 => workload::active_close_by_client(&listener)?,
                                1 => workload::active_close_by_server(&listener)?,
                                2 => workload::rst_abort_by_client(&listener)?,
                                // Costly (it fills buffers): one in 100 of its share.
                                3 if i % 100 == 3 => workload::simultaneous_close(&listener)?,
                                3 => workload::active_close_by_client(&listener)?,
                                _ => workload::refused_connect(refused)?,
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("worker panicked"))??;
            }
            Ok(listeners)
        })
        .unwrap();
    wait_for_table_to_match(&ns, &socket);
    assert!(
        kernel_table(&ns)
            .iter()
            .any(|(_, _, state)| state == "TIME_WAIT")
    );

    drop(held);
    daemon.stop().unwrap();
}

#[test]
fn a_socket_whose_owner_exited_shows_its_last_owner() {
    let ns = Netns::new("lastowner").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket);
    // The listener is ours and never reads: the writer's data and FIN stay queued.
    let listener = ns.run(|| Ok(TcpListener::bind("127.0.0.1:7900")?)).unwrap();
    let mut writer = Command::new("ip")
        .args(["netns", "exec", ns.name(), "bash", "-c"])
        .arg("exec 3<>/dev/tcp/127.0.0.1/7900; cat /dev/zero >&3")
        .process_group(0)
        .spawn()
        .unwrap();
    let (held, _) = listener.accept().unwrap();
    // The writer's data fills the queues, so its FIN waits behind them.
    let netstat_tan = || run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tan"]);
    wait::until_true("a full send queue to 7900", Duration::from_secs(10), || {
        Ok(String::from_utf8_lossy(&netstat_tan().stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .any(|f| f.len() > 3 && f[3] == "127.0.0.1:7900" && f[1] != "0"))
    })
    .unwrap();
    // SAFETY: killing our own child's process group.
    unsafe { libc::kill(-(writer.id() as i32), libc::SIGKILL) };
    let _ = writer.wait();
    wait::until_true(
        "the writer's socket in FIN_WAIT1",
        Duration::from_secs(10),
        || {
            Ok(String::from_utf8_lossy(&netstat_tan().stdout)
                .lines()
                .any(|l| l.contains(":7900") && l.contains("FIN_WAIT1")))
        },
    )
    .unwrap();
    let args = ["-tanp"];
    let netstat = run_in(ns.name(), Path::new("/usr/bin/netstat"), &args);
    let ours = run_in(
        ns.name(),
        &enetstat::binary(),
        &[
            "--source",
            "daemon",
            "--socket",
            socket.to_str().unwrap(),
            "-tanp",
        ],
    );
    let orphan = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .find(|l| l.contains(":7900") && l.contains("FIN_WAIT1"))
            .map(str::to_string)
    };
    let theirs = orphan(&netstat.stdout).expect("netstat lists the orphaned writer socket");
    let mine = orphan(&ours.stdout).expect("the daemon lists it too");
    assert!(
        theirs.trim_end().ends_with('-'),
        "netstat has no owner for it: {theirs}"
    );
    // bash opened it and cat writes to it: both held it to the end, and both died at once, so
    // either is its last owner.
    assert!(
        mine.contains("/bash") || mine.contains("/cat"),
        "the daemon shows its last owner: {mine}"
    );
    drop(held);
    drop(listener);
    daemon.stop().unwrap();
}
