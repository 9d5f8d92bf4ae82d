//! Sockets identified by cookie: on the BTF tracepoint the daemon matches its sock_diag snapshot to
//! the probe's events by `idiag_cookie`, so it never touches kernel.kptr_restrict, and two sockets
//! that the kernel placed at one address in turn stay apart. Every connection is made inside a
//! scratch namespace.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use enetstat_integration_tests::{
    compare::{difference, escape_controls, run_in},
    enetstat::{self, Running, TempDir},
    netns::Netns,
    sysctl::{KptrRestrict, kptr_restrict},
    tables::wait_for_table_to_match,
    wait, workload,
};
use serde_json::Value;

const SERVING: &str = "enetstat: serving on";

fn serve(ns: &Netns, socket: &Path) -> Running {
    Running::start_in(
        Some(ns.name()),
        &["serve", "--socket", socket.to_str().unwrap()],
        SERVING,
    )
    .unwrap()
}

/// `enetstat --source daemon ARGS` in `ns`, against netstat's own output there.
fn daemon_differs_from_netstat(ns: &Netns, socket: &Path, args: &[&str]) -> Option<String> {
    let netstat = run_in(ns.name(), Path::new("/usr/bin/netstat"), args);
    let mut ours_args = vec!["--source", "daemon", "--socket", socket.to_str().unwrap()];
    ours_args.extend_from_slice(args);
    let ours = run_in(ns.name(), &enetstat::binary(), &ours_args);
    if !ours.status.success() {
        return Some(String::from_utf8_lossy(&ours.stderr).into_owned());
    }
    difference(&escape_controls(&netstat.stdout), &ours.stdout)
}

/// Reads kptr_restrict as often as it can until stopped: every value seen, and how many reads.
struct KptrWatcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(BTreeSet<String>, u64)>,
}

impl KptrWatcher {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (mut seen, mut reads) = (BTreeSet::new(), 0u64);
                while !stop.load(Ordering::Relaxed) {
                    seen.insert(kptr_restrict());
                    reads += 1;
                }
                (seen, reads)
            }
        });
        KptrWatcher { stop, thread }
    }

    fn finish(self) -> (BTreeSet<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Whatever kptr_restrict is (0, where /proc hashes addresses; 2, where it hides them), the
/// daemon starts, answers, resyncs and stays exact without changing it.
#[test]
fn kptr_restrict_keeps_its_value_while_a_daemon_starts_and_answers_snapshots() {
    let dir = TempDir::new().unwrap();
    for value in ["0", "2"] {
        let _restore = KptrRestrict::set(value);
        let ns = Netns::new(&format!("kptr{value}")).unwrap();
        let socket = dir.path.join(format!("kptr{value}.sock"));
        // Sockets from before the daemon, whose later transitions must meet their snapshot rows.
        let (listener, client, server) = ns
            .run(|| {
                let listener = TcpListener::bind("127.0.0.1:7400")?;
                let client = TcpStream::connect("127.0.0.1:7400")?;
                let (server, _) = listener.accept()?;
                Ok((listener, client, server))
            })
            .unwrap();
        let watcher = KptrWatcher::start();
        let daemon = serve(&ns, &socket);
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let listener = ns
            .run(move || {
                for _ in 0..2000 {
                    workload::active_close_by_client(&listener)?;
                }
                Ok(listener)
            })
            .unwrap();
        let mut failures = Vec::new();
        for round in 0..3 {
            for args in [&["-tan"][..], &["-tanp"]] {
                if let Some(diff) = daemon_differs_from_netstat(&ns, &socket, args) {
                    failures.push(format!("round {round}, {}: {diff}", args.join(" ")));
                }
            }
            // A resync reads the kernel again, the way lost events make it.
            // SAFETY: signalling the daemon this test started.
            unsafe { libc::kill(daemon.pid() as i32, libc::SIGHUP) };
        }
        wait_for_table_to_match(&ns, &socket);
        let finished = daemon.stop().unwrap();
        let (seen, reads) = watcher.finish();
        drop((listener, client, server));
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        assert!(finished.status.success(), "{}", finished.stderr);
        assert_eq!(
            seen,
            BTreeSet::from([value.to_string()]),
            "kptr_restrict over {reads} reads"
        );
        assert!(reads > 1000, "only {reads} reads of kptr_restrict");
    }
}

/// One socket's records from `watch --json`, in order: (skaddr, oldstate, newstate).
type Lives = BTreeMap<u64, Vec<(u64, String, String)>>;

/// The kernel frees a closed socket and hands its memory to the next one at once, so a churn of
/// connections reuses `struct sock` addresses. The probe's cookies keep them apart (each cookie's
/// records form one unbroken life), and the daemon's table, keyed by cookie, stays the kernel's,
/// with the owners netstat shows for sockets that now sit at a reused address.
#[test]
fn cookie_matching_survives_address_reuse() {
    let ns = Netns::new("reuse").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let daemon = serve(&ns, &socket);
    let watch = Running::start(&["watch", "--json", "--lport", "7410"]).unwrap();
    let held = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:7410")?;
            let mut held = Vec::new();
            for round in 0..40 {
                for _ in 0..50 {
                    workload::active_close_by_client(&listener)?;
                    workload::rst_abort_by_client(&listener)?;
                }
                // Kept open: these now sit where closed sockets were.
                let client = TcpStream::connect("127.0.0.1:7410")?;
                let (server, _) = listener.accept()?;
                held.push((client, server, round));
            }
            Ok((listener, held))
        })
        .unwrap();
    wait_for_table_to_match(&ns, &socket);
    let owners = daemon_differs_from_netstat(&ns, &socket, &["-tanp"]);
    // The server's side (local port 7410) of 40 rounds: 50 orderly closes (5 records each), 50
    // aborts (3 each) and a held connection's handshake (2).
    watch
        .wait_for_stdout("the churn's records", Duration::from_secs(20), |out| {
            out.lines().count() > 40 * (50 * 5 + 50 * 3 + 2)
        })
        .unwrap();
    let finished = watch.stop().unwrap();
    let lives = lives_by_cookie(&finished.json_lines().unwrap());
    drop(held);
    daemon.stop().unwrap();
    assert_eq!(owners, None, "-tanp from the daemon");

    let mut cookies_at: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut broken = Vec::new();
    for (cookie, records) in &lives {
        for pair in records.windows(2) {
            if pair[0].2 != pair[1].1 {
                broken.push(format!("cookie {cookie:#x}: {pair:?}"));
            }
        }
        for (skaddr, _, _) in records {
            cookies_at.entry(*skaddr).or_default().insert(*cookie);
        }
    }
    let reused = cookies_at
        .values()
        .filter(|cookies| cookies.len() > 1)
        .count();
    assert!(
        reused > 0,
        "no address was reused among {} sockets",
        lives.len()
    );
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    eprintln!(
        "{} sockets at {} addresses, {reused} of them reused",
        lives.len(),
        cookies_at.len()
    );
}

fn lives_by_cookie(objects: &[Value]) -> Lives {
    let mut lives = Lives::new();
    for object in objects {
        let Some(cookie) = object["cookie"].as_u64() else {
            panic!("a record without a cookie on the BTF tracepoint: {object}");
        };
        let skaddr = object["skaddr"]
            .as_str()
            .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
            .unwrap();
        let text = |key: &str| object[key].as_str().unwrap_or_default().to_string();
        lives
            .entry(cookie)
            .or_default()
            .push((skaddr, text("oldstate"), text("newstate")));
    }
    lives
}

/// The waits above read the daemon until it converges; this one makes sure a cookie really is
/// what both sides report for a socket older than the daemon, through sock_diag and the probe.
#[test]
fn a_socket_older_than_the_daemon_keeps_its_snapshot_inode_through_its_close() {
    let ns = Netns::new("older").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let (listener, client, server) = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:7420")?;
            let client = TcpStream::connect("127.0.0.1:7420")?;
            let (server, _) = listener.accept()?;
            Ok((listener, client, server))
        })
        .unwrap();
    let daemon = serve(&ns, &socket);
    // The server half-closes: its socket goes FIN_WAIT1 -> FIN_WAIT2 in the daemon's view, which
    // must still carry the inode (and so the owner) its snapshot row had.
    server.shutdown(std::net::Shutdown::Write).unwrap();
    wait::until_true("FIN_WAIT2 from the daemon", Duration::from_secs(10), || {
        let out = run_in(
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
        Ok(String::from_utf8_lossy(&out.stdout).contains("FIN_WAIT2"))
    })
    .unwrap();
    let diff = daemon_differs_from_netstat(&ns, &socket, &["-tanpe"]);
    drop((listener, client, server));
    daemon.stop().unwrap();
    assert_eq!(diff, None, "-tanpe (inode and owner) from the daemon");
}
