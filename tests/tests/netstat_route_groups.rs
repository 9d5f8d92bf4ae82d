//! `enetstat -r` and `enetstat -g` against the real net-tools `netstat`, byte for byte:
//! (a) on the frozen /proc/net files of netstat-userspace/tests/fixtures, both programs run in
//! the same private mount and network namespace, where a tmpfs over /proc holds the files;
//! (b) live, in a scratch network namespace with routes and multicast memberships of its own.
//!
//! Without `-n` both programs name addresses; the `*_resolving_names` tests cover that, and
//! need enetstat's system resolver (resolve::SystemNames) to find what netstat finds.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    fmt::Write as _,
    fs,
    net::{Ipv4Addr, Ipv6Addr, UdpSocket},
    path::{Path, PathBuf},
    process::Command,
};

use enetstat_integration_tests::{
    compare::difference,
    enetstat::{self, TempDir},
    netns::Netns,
};

/// What one program printed.
struct Run {
    stdout: Vec<u8>,
    status: i32,
}

/// netstat's and enetstat's runs of one command line.
struct Pair {
    label: String,
    netstat: Run,
    enetstat: Run,
}

const GROUPS_HEADING: &str = "IPv6/IPv4 Group Memberships\n";
const SOCKETS_HEADING: &str = "Active Internet connections";

impl Pair {
    /// A description of how the two differ, if they do.
    fn difference(&self) -> Option<String> {
        let (mut want, mut got) = (
            self.netstat.stdout.as_slice(),
            self.enetstat.stdout.as_slice(),
        );
        // With -4 or -6, netstat -g lists sockets before the groups. enetstat's socket listing
        // is not part of this work: compare from the group heading on, and not the status.
        let sockets_too = want.starts_with(SOCKETS_HEADING.as_bytes());
        if sockets_too {
            want = from_groups_heading(want);
            got = from_groups_heading(got);
        }
        if want != got {
            let diff = difference(want, got).unwrap_or_else(|| "outputs differ".to_string());
            return Some(format!("{}: {diff}", self.label));
        }
        if !sockets_too && (self.netstat.status == 0) != (self.enetstat.status == 0) {
            return Some(format!(
                "{}: netstat exited with {}, enetstat with {}",
                self.label, self.netstat.status, self.enetstat.status
            ));
        }
        None
    }
}

fn from_groups_heading(text: &[u8]) -> &[u8] {
    let heading = GROUPS_HEADING.as_bytes();
    text.windows(heading.len())
        .position(|window| window == heading)
        .map_or(text, |start| &text[start..])
}

fn assert_all_same(pairs: &[Pair]) {
    assert!(!pairs.is_empty(), "nothing compared");
    let failures: Vec<_> = pairs.iter().filter_map(Pair::difference).collect();
    assert!(
        failures.is_empty(),
        "{} of {} command lines differ:\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n\n")
    );
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A shell script running netstat then enetstat with each argument list, leaving their stdout
/// and status in `out`; and the reader of what it left.
struct Script {
    out: TempDir,
    text: String,
    commands: Vec<Vec<String>>,
}

impl Script {
    fn new(prelude: &str) -> Self {
        Script {
            out: TempDir::new().unwrap(),
            text: format!("{prelude}\n"),
            commands: Vec::new(),
        }
    }

    fn add(&mut self, args: &[String]) {
        let index = self.commands.len();
        let args_text: Vec<_> = args.iter().map(|a| shell_quote(a)).collect();
        let args_text = args_text.join(" ");
        let enetstat_bin = enetstat::binary();
        for (program, binary) in [
            ("netstat", "netstat".to_string()),
            ("enetstat", shell_quote(&enetstat_bin.to_string_lossy())),
        ] {
            let base = shell_quote(
                &self
                    .dir()
                    .join(format!("{index}.{program}"))
                    .to_string_lossy(),
            );
            writeln!(
                self.text,
                "{binary} {args_text} >{base}.out 2>/dev/null; echo $? >{base}.rc"
            )
            .unwrap();
        }
        self.commands.push(args.to_vec());
    }

    fn dir(&self) -> &Path {
        &self.out.path
    }

    fn results(&self, context: &str) -> Vec<Pair> {
        let read = |index: usize, program: &str| {
            let base = self.dir().join(format!("{index}.{program}"));
            let file = |extension: &str| PathBuf::from(format!("{}.{extension}", base.display()));
            let stdout = fs::read(file("out"))
                .unwrap_or_else(|err| panic!("{}: {err}", file("out").display()));
            let status = fs::read_to_string(file("rc"))
                .unwrap_or_else(|err| panic!("{}: {err}", file("rc").display()));
            Run {
                stdout,
                status: status.trim().parse().unwrap(),
            }
        };
        self.commands
            .iter()
            .enumerate()
            .map(|(index, args)| Pair {
                label: format!("{context}: netstat {}", args.join(" ")),
                netstat: read(index, "netstat"),
                enetstat: read(index, "enetstat"),
            })
            .collect()
    }
}

fn run_checked(command: &mut Command) {
    let output = command.output().expect("running a command");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ----- (a) frozen fixtures -----

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../netstat-userspace/tests/fixtures")
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// The argument lists the case's golden files were captured with (capture.sh's lists).
fn captured_args(case: &Path) -> Vec<Vec<String>> {
    sorted_entries(&case.join("expected"))
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "out"))
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?;
            let args = stem.strip_prefix("netstat_")?;
            Some(args.split('_').map(str::to_string).collect())
        })
        .collect()
}

fn is_numeric(args: &[String]) -> bool {
    args.iter()
        .any(|arg| arg.starts_with('-') && !arg.starts_with("--") && arg.contains('n'))
}

/// Runs netstat and enetstat with every selected argument list of every case, each case's
/// runs inside one private mount and network namespace whose /proc is a tmpfs holding the case's
/// files as /proc/net/*.
fn frozen_fixture_pairs(select: impl Fn(&[String]) -> bool) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for kind in ["route", "groups"] {
        for case in sorted_entries(&fixtures().join(kind)) {
            if !case.is_dir() {
                continue;
            }
            let case_dir = shell_quote(&case.to_string_lossy());
            let mut script = Script::new(&format!(
                "mount -t tmpfs none /proc && mkdir -p /proc/net || exit 1\n\
                 for f in {case_dir}/*; do if [ -f \"$f\" ]; then cp \"$f\" /proc/net/ || exit 1; fi; done"
            ));
            for args in captured_args(&case).iter().filter(|args| select(args)) {
                script.add(args);
            }
            run_checked(
                Command::new("unshare")
                    .args(["--mount", "--net", "--propagation", "private", "sh", "-c"])
                    .arg(&script.text),
            );
            pairs.extend(script.results(&format!("{kind}/{}", case_name(&case))));
        }
    }
    pairs
}

fn case_name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn frozen_fixtures_numeric() {
    assert_all_same(&frozen_fixture_pairs(is_numeric));
}

#[test]
fn frozen_fixtures_resolving_names() {
    assert_all_same(&frozen_fixture_pairs(|args| !is_numeric(args)));
}

// ----- (b) a live namespace -----

/// The command lines compared live: the list netstat compatibility is promised for.
const LIVE_ARGS: &[&str] = &[
    "-r",
    "-rn",
    "-re",
    "-rne",
    "-ree",
    "-rnee",
    "-rC",
    "-rCn",
    "-r -6",
    "-r -A inet6",
    "-rn6",
    "-rC6",
    "-rn -4 -6",
    "-g",
    "-gn",
    "-g -4",
    "-g -6",
    "-gn -4",
    "-gn -6",
];

const GROUPS_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(239, 1, 2, 3),
    Ipv4Addr::new(239, 1, 2, 4),
    Ipv4Addr::new(224, 0, 0, 251),
];
const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(10, 200, 1, 1);

/// A namespace with a veth to a second one, addresses, routes of every kind netstat flags
/// (gateway, host, reject, metrics, MSS/window/rtt), and multicast memberships held by
/// sockets (returned: the memberships last as long as they do).
fn live_setup() -> (Netns, Netns, Vec<UdpSocket>) {
    let ns = Netns::new("route").unwrap();
    let peer = Netns::new("peer").unwrap();
    let ip = |args: &str| {
        run_checked(
            Command::new("ip")
                .args(["-n", ns.name()])
                .args(args.split_whitespace()),
        )
    };
    run_checked(Command::new("ip").args([
        "-n",
        ns.name(),
        "link",
        "add",
        "veth-rt-long0",
        "type",
        "veth",
        "peer",
        "name",
        "vpeer",
        "netns",
        peer.name(),
    ]));
    run_checked(Command::new("ip").args(["-n", peer.name(), "link", "set", "vpeer", "up"]));
    run_checked(Command::new("ip").args([
        "-n",
        peer.name(),
        "addr",
        "add",
        "10.200.1.2/24",
        "dev",
        "vpeer",
    ]));
    ip("link set veth-rt-long0 up");
    ip("addr add 10.200.1.1/24 dev veth-rt-long0");
    ip("addr add fd00:200::1/64 dev veth-rt-long0 nodad");
    ip("route add default via 10.200.1.2 metric 5");
    ip("route add 10.200.9.9 via 10.200.1.2");
    ip("route add 10.201.0.0/16 via 10.200.1.2 advmss 1400 window 8192 rtt 300ms");
    ip("route add 169.254.0.0/16 dev veth-rt-long0 metric 1000");
    ip("route add unreachable 10.202.0.0/16");
    ip("route add prohibit 10.203.3.0/24 metric 9");
    ip("-6 route add default via fd00:200::2 metric 7");
    ip("-6 route add 2001:db8:1::/48 via fd00:200::2");
    ip("-6 route add 2001:db8:2::5/128 dev veth-rt-long0");
    ip("-6 route add unreachable 2001:db8:dead::/48");
    ip("addr add 239.9.9.9/32 dev veth-rt-long0 autojoin");
    let sockets = ns
        .run(|| {
            let mut sockets = Vec::new();
            // Two sockets in one group: a refcount of 2.
            for group in GROUPS_V4.iter().chain(&GROUPS_V4[..1]) {
                let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
                socket.join_multicast_v4(group, &LOCAL_V4)?;
                sockets.push(socket);
            }
            let index = interface_index("veth-rt-long0")?;
            for group in ["ff05::1234", "ff0e::abcd", "ff02::fb"] {
                let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?;
                socket.join_multicast_v6(&group.parse()?, index)?;
                sockets.push(socket);
            }
            Ok(sockets)
        })
        .unwrap();
    (ns, peer, sockets)
}

fn interface_index(name: &str) -> anyhow::Result<u32> {
    let name = std::ffi::CString::new(name)?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    anyhow::ensure!(index != 0, "no interface {name:?}");
    Ok(index)
}

/// Both programs with each selected argument list, inside the namespace. A private resolver
/// configuration points DNS at the namespace's own loopback, so lookups fail at once and stay
/// inside.
fn live_pairs(select: impl Fn(&[String]) -> bool) -> Vec<Pair> {
    let (ns, _peer, _sockets) = live_setup();
    let resolv = TempDir::new().unwrap();
    let resolv_conf = resolv.path.join("resolv.conf");
    fs::write(&resolv_conf, "nameserver 127.0.0.1\n").unwrap();
    let mut script = Script::new(&format!(
        "mount --bind {} /etc/resolv.conf || exit 1",
        shell_quote(&resolv_conf.to_string_lossy())
    ));
    for args in LIVE_ARGS {
        let args: Vec<String> = args.split(' ').map(str::to_string).collect();
        if select(&args) {
            script.add(&args);
        }
    }
    run_checked(
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(&script.text),
    );
    script.results("live namespace")
}

#[test]
fn live_namespace_numeric() {
    let pairs = live_pairs(is_numeric);
    // The setup must show up, or the comparison proves little.
    let routes = pairs
        .iter()
        .find(|pair| pair.label.ends_with("netstat -rn"))
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.netstat.stdout);
    for expected in ["10.200.9.9", "UGH", "10.202.0.0", "1440", "veth-rt-long0"] {
        assert!(routes.contains(expected), "{expected} missing:\n{routes}");
    }
    let groups = pairs
        .iter()
        .find(|pair| pair.label.ends_with("netstat -gn"))
        .unwrap();
    let groups = String::from_utf8_lossy(&groups.netstat.stdout);
    for expected in ["239.1.2.3", "2      239.1.2.3", "239.9.9.9", "ff05::1234"] {
        assert!(groups.contains(expected), "{expected} missing:\n{groups}");
    }
    assert_all_same(&pairs);
}

#[test]
fn live_namespace_resolving_names() {
    assert_all_same(&live_pairs(|args| !is_numeric(args)));
}
