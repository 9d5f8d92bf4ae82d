//! `--json`: on a known set of sockets in a scratch namespace, the JSON rows are the text rows
//! (enetstat's and net-tools netstat's) one for one, from /proc and from the daemon alike; every
//! view prints JSON and nothing else; `-c --json` streams stamped objects.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::{IpAddr, TcpListener},
    os::unix::net::UnixListener,
    path::Path,
    time::Duration,
};

use enetstat_integration_tests::{
    compare::{escape_controls, run_in},
    enetstat::{self, Running, TempDir},
    fixture::SocketFixture,
    netns::Netns,
    wait, workload,
};
use serde_json::Value;

const NETSTAT: &str = "/usr/bin/netstat";

fn stdout_of(ns: &Netns, program: &Path, args: &[&str]) -> String {
    let out = run_in(ns.name(), program, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `enetstat ARGS --json`, every line parsed: no headers, nothing but objects.
fn json_rows(ns: &Netns, args: &[&str]) -> Vec<Value> {
    let mut args = args.to_vec();
    args.push("--json");
    stdout_of(ns, &enetstat::binary(), &args)
        .lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line:?}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

/// A text listing's rows (after its two heading lines), as whitespace-separated fields.
fn text_rows(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() >= 2 && lines[0].starts_with("Active "),
        "{text}"
    );
    lines[2..]
        .iter()
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// An address column as netstat -n prints it: IPv4-mapped addresses as IPv4, port 0 as `*`.
fn endpoint(addr: &Value, port: &Value) -> String {
    let addr: IpAddr = addr.as_str().unwrap().parse().unwrap();
    let addr = match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    };
    match port.as_u64().unwrap() {
        0 => format!("{addr}:*"),
        port => format!("{addr}:{port}"),
    }
}

fn owner_column(row: &Value) -> String {
    match &row["owner"] {
        Value::Null => "-".to_string(),
        owner => format!(
            "{}/{}",
            owner["pid"].as_u64().unwrap(),
            owner["program"].as_str().unwrap()
        ),
    }
}

/// An IP socket's JSON row as the columns of `-anp`: Proto, Recv-Q, Send-Q, Local Address,
/// Foreign Address, State (netstat leaves UDP's CLOSE empty), PID/Program name.
fn inet_columns(row: &Value) -> Vec<String> {
    let six = if row["family"] == "inet6" { "6" } else { "" };
    let state = row["state"].as_str().unwrap();
    let mut columns = vec![
        format!("{}{six}", row["proto"].as_str().unwrap()),
        row["recv_q"].to_string(),
        row["send_q"].to_string(),
        endpoint(&row["laddr"], &row["lport"]),
        endpoint(&row["raddr"], &row["rport"]),
    ];
    if !(row["proto"] == "udp" && state == "CLOSE") {
        columns.push(state.to_string());
    }
    columns.push(owner_column(row));
    columns
}

/// A UNIX socket's row as the fields of `-xap` (its flags, state and path as netstat shows
/// them: the path ends at its first whitespace).
fn unix_columns(row: &Value) -> Vec<String> {
    let mut columns = vec!["unix".to_string(), row["ref_count"].to_string(), "[".into()];
    for flag in row["flags"].as_array().unwrap() {
        columns.push(flag.as_str().unwrap().to_string());
    }
    columns.push("]".into());
    columns.push(row["type"].as_str().unwrap().to_string());
    match row["state"].as_str().unwrap() {
        "UNCONNECTED" => {}
        state => columns.push(state.to_string()),
    }
    columns.push(row["inode"].to_string());
    columns.push(owner_column(row));
    if let Some(path) = row["path"].as_str() {
        columns.extend(path.split_whitespace().next().map(str::to_string));
    }
    columns
}

/// The JSON rows of `ARGS --json`, enetstat's text rows and netstat's, as columns: all three equal.
fn assert_rows_correspond(ns: &Netns, args: &[&str], columns: fn(&Value) -> Vec<String>) {
    let json: Vec<Vec<String>> = json_rows(ns, args).iter().map(columns).collect();
    let ours = text_rows(&stdout_of(ns, &enetstat::binary(), args));
    // Control bytes compared after enetstat's documented escaping.
    let netstat = escape_controls(stdout_of(ns, NETSTAT.as_ref(), args).as_bytes());
    let netstat = text_rows(&String::from_utf8(netstat).unwrap());
    assert!(!json.is_empty(), "{args:?}: no rows");
    assert_eq!(
        json, ours,
        "{args:?}: JSON rows against enetstat's text rows"
    );
    assert_eq!(json, netstat, "{args:?}: JSON rows against netstat's rows");
}

#[test]
fn json_rows_are_the_text_rows() {
    let ns = Netns::new("json").unwrap();
    let fixture = SocketFixture::build(&ns).unwrap();
    assert_rows_correspond(&ns, &["-tanp"], inet_columns);
    assert_rows_correspond(&ns, &["-uanp"], inet_columns);
    assert_rows_correspond(&ns, &["-xap"], unix_columns);

    let rows = json_rows(&ns, &["-tanp"]);
    let states: Vec<&str> = rows.iter().map(|r| r["state"].as_str().unwrap()).collect();
    for state in [
        "LISTEN",
        "ESTABLISHED",
        "FIN_WAIT2",
        "CLOSE_WAIT",
        "TIME_WAIT",
    ] {
        assert!(states.contains(&state), "{state} missing from {states:?}");
    }
    let me = u64::from(std::process::id());
    assert!(
        rows.iter().any(|r| r["owner"]["pid"] == me),
        "our own sockets are owned by us"
    );
    let waiting = rows
        .iter()
        .find(|r| r["recv_q"] == 5)
        .expect("the 5 bytes waiting in a receive queue");
    assert_eq!(
        (&waiting["laddr"], &waiting["lport"]),
        (&Value::from("127.0.0.1"), &Value::from(8080))
    );
    assert!(rows.iter().all(|r| r["inode"].is_u64() && r["uid"] == 0));

    // The whole path, escaped, where the text stops at the first space.
    let unix = json_rows(&ns, &["-xa"]);
    let paths: Vec<&str> = unix.iter().filter_map(|r| r["path"].as_str()).collect();
    let dir = fixture.dir.display();
    for path in [
        format!("{dir}/with space.sock"),
        format!("{dir}/ctl\\x1b[2J\\x07.sock"),
        "@enetstat-fixture@abstract".to_string(),
    ] {
        assert!(paths.contains(&path.as_str()), "{path} missing: {paths:?}");
    }
    assert!(unix.iter().all(|r| r.get("owner").is_none()), "no -p");

    // Timers with -o, typed.
    let timed = json_rows(&ns, &["-tano"]);
    assert!(timed.iter().all(|r| r["timer"]["expires_s"].is_f64()));
    assert!(
        timed.iter().any(|r| r["timer"]["kind"] == "timewait"),
        "{timed:?}"
    );
    drop(fixture);
}

#[test]
fn every_view_prints_json_and_nothing_else() {
    let ns = Netns::new("jsonviews").unwrap();
    let fixture = SocketFixture::build(&ns).unwrap();
    for args in [
        &["-a"][..],
        &["-tanpeo"],
        &["-wanp"],
        &["-Ua"],
        &["-rn"],
        &["-r", "-6"],
        &["-gn"],
        &["-tg"],
        &["-ie"],
    ] {
        json_rows(&ns, args);
    }

    // -i: one object per interface of the text table, with its MTU and packet counts.
    let interfaces = json_rows(&ns, &["-i"]);
    let text = stdout_of(&ns, &enetstat::binary(), &["-i"]);
    let table: Vec<Vec<&str>> = text
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(interfaces.len(), table.len(), "{text}");
    for (json, text) in interfaces.iter().zip(&table) {
        assert_eq!(json["iface"], text[0]);
        assert_eq!(json["mtu"].to_string(), text[1]);
        assert_eq!(json["stats"]["rx_packets"].to_string(), text[2]);
        assert_eq!(json["stats"]["tx_packets"].to_string(), text[6]);
    }
    let lo = &interfaces[0];
    assert_eq!(
        lo["flags"],
        serde_json::json!(["UP", "LOOPBACK", "RUNNING"])
    );
    assert_eq!(lo["ipv4"]["address"], "127.0.0.1");

    // -s: one object, section -> counter -> number, for the family asked for.
    for (args, section, counter) in [
        (&["-s"][..], "Tcp", "CurrEstab"),
        (&["-st"], "TcpExt", "TW"),
        (&["-s", "-6"], "Ip6", "Ip6InReceives"),
    ] {
        let stats = json_rows(&ns, args);
        assert_eq!(stats.len(), 1, "{args:?}");
        assert!(
            stats[0][section][counter].is_u64(),
            "{args:?}: {}",
            stats[0]
        );
    }
    let stats = &json_rows(&ns, &["-s"])[0];
    assert_eq!(stats["Tcp"]["MaxConn"], -1);
    assert!(
        stats["Tcp"]["CurrEstab"].as_u64().unwrap() >= 4,
        "the fixture's connections"
    );
    assert!(json_rows(&ns, &["-st"])[0].get("Udp").is_none());
    drop(fixture);
}

const SERVING: &str = "enetstat: serving on";

#[test]
fn the_daemon_answers_json_as_the_kernel_does() {
    let ns = Netns::new("jsond").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("enetstat.sock");
    let fixture = SocketFixture::build(&ns).unwrap();
    let socket_arg = socket.to_str().unwrap();
    let daemon =
        Running::start_in(Some(ns.name()), &["serve", "--socket", socket_arg], SERVING).unwrap();
    // A connection made since the daemon started (its owner comes from events).
    let held = ns
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:9300")?;
            let client = std::net::TcpStream::connect("127.0.0.1:9300")?;
            let (server, _) = listener.accept()?;
            Ok((listener, client, server))
        })
        .unwrap();
    for args in [&["-tanp"][..], &["-tulpn"], &["-xap"]] {
        let with = |source: &str| {
            let mut all = vec!["--source", source, "--socket", socket_arg];
            all.extend_from_slice(args);
            json_rows(&ns, &all)
        };
        let (daemon_rows, kernel_rows) = (with("daemon"), with("proc"));
        assert!(!daemon_rows.is_empty());
        assert_eq!(daemon_rows, kernel_rows, "{args:?}");
    }
    drop(held);
    let finished = daemon.stop().unwrap();
    assert!(finished.status.success(), "{}", finished.stderr);
    drop(fixture);
}

/// A daemon that speaks only protocol versions 1 and 2 refuses this client's requests (version
/// 3): `--source auto` then reads the kernel itself, `--source daemon` reports the refusal.
#[test]
fn a_daemon_too_old_for_json_is_passed_over() {
    let ns = Netns::new("jsonold").unwrap();
    let dir = TempDir::new().unwrap();
    let socket = dir.path.join("old.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let old_daemon = std::thread::spawn(move || {
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).unwrap();
            assert!(request.contains("\"version\":3"), "{request}");
            (&stream)
                .write_all(b"{\"version\":2,\"ok\":false,\"error\":\"protocol version 3 is not supported (this daemon speaks 1 to 2)\"}\n")
                .unwrap();
        }
    });
    let listener = ns.run(|| Ok(TcpListener::bind("127.0.0.1:9400")?)).unwrap();
    let socket_arg = socket.to_str().unwrap();
    let auto = json_rows(&ns, &["--source", "auto", "--socket", socket_arg, "-tln"]);
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0]["lport"], 9400);
    let refused = run_in(
        ns.name(),
        &enetstat::binary(),
        &[
            "--source", "daemon", "--socket", socket_arg, "-tln", "--json",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("enetstat: the enetstat daemon: protocol version 3 is not supported")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    old_daemon.join().unwrap();
    drop(listener);
}

/// Runs `enetstat ARGS` in `ns` until it has printed a line, then `traffic`, then until what it
/// printed after the traffic began satisfies `done`, and stops it with SIGINT. Its lines, each an
/// object stamped with a UTC `ts`.
fn stream(
    ns: &Netns,
    args: &[&str],
    traffic: impl FnOnce(),
    done: impl Fn(&str) -> bool,
) -> (Vec<Value>, String) {
    let dir = TempDir::new().unwrap();
    let out = dir.path.join("stdout");
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(enetstat::binary())
        .args(args)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let printed = || std::fs::read_to_string(&out).unwrap_or_default();
    wait::until_true(
        format!("enetstat {args:?} to print"),
        Duration::from_secs(20),
        || Ok(!printed().is_empty()),
    )
    .unwrap();
    let before = printed().len();
    traffic();
    wait::until_true(
        format!("enetstat {args:?} to show the traffic"),
        Duration::from_secs(20),
        || Ok(done(printed().get(before..).unwrap_or_default())),
    )
    .unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    assert!(
        rows.iter()
            .all(|r| r["ts"].as_str().is_some_and(|ts| ts.ends_with('Z'))),
        "{text}"
    );
    (rows, text)
}

#[test]
fn continuous_interfaces_json_is_one_stamped_object_per_interface_and_refresh() {
    let ns = Netns::new("jsonic").unwrap();
    let traffic = || {
        ns.run(|| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:5000")?;
            for _ in 0..3 {
                socket.send_to(b"x", "127.0.0.1:5000")?;
            }
            Ok(())
        })
        .unwrap();
    };
    // Two refreshes after the traffic: the second began after it had ended.
    let (rows, text) = stream(&ns, &["-ic", "--json"], traffic, |after| {
        after.lines().count() >= 2
    });
    assert!(rows.len() >= 3, "{text}");
    assert!(rows.iter().all(|r| r["iface"] == "lo" && r["mtu"] == 65536));
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    assert!(first["ts"].as_str() < last["ts"].as_str(), "{text}");
    let packets = |row: &Value| row["stats"]["tx_packets"].as_u64().unwrap();
    assert_eq!(
        packets(last) - packets(first),
        3,
        "the three datagrams:\n{text}"
    );
}

#[test]
fn continuous_json_stamps_the_table_and_every_transition() {
    let ns = Netns::new("jsonc").unwrap();
    let listener = ns.run(|| Ok(TcpListener::bind("127.0.0.1:7700")?)).unwrap();
    let traffic = || {
        ns.run(|| workload::active_close_by_client(&TcpListener::bind("127.0.0.1:7701")?))
            .unwrap();
    };
    // The server's side closes last (the client's goes to TIME_WAIT, which this listing leaves
    // out): both CLOSE transitions.
    let (rows, text) = stream(&ns, &["-tanpc", "--json"], traffic, |after| {
        after.matches("\"state\":\"CLOSE\"").count() >= 2
    });
    drop(listener);
    let table = &rows[0];
    assert_eq!(
        (&table["lport"], &table["state"]),
        (&Value::from(7700), &Value::from("LISTEN"))
    );
    assert!(table["recv_q"].is_u64(), "the table has queue sizes");
    let ours = |r: &&Value| r["lport"] == 7701 || r["rport"] == 7701;
    let transitions: Vec<&Value> = rows.iter().filter(ours).collect();
    for state in ["LISTEN", "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "CLOSE"] {
        assert!(
            transitions.iter().any(|r| r["state"] == state),
            "{state} missing:\n{text}"
        );
    }
    assert!(
        transitions
            .iter()
            .all(|r| r["recv_q"].is_null() && r["inode"].is_null()),
        "a transition carries no queue sizes or inode"
    );
    let me = u64::from(std::process::id());
    assert!(
        transitions.iter().any(|r| r["owner"]["pid"] == me),
        "the connect() was ours:\n{text}"
    );
}
