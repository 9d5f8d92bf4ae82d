//! netstat command lines, checked here and rendered by the snapshot service, against what the
//! real net-tools netstat printed for the same /proc/net files: `-r`, `-g` and `-s`
//! (tests/fixtures, see its READMEs for how each expected file was made).

use std::{
    fs,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
};

use clap::Parser as _;

use crate::{
    cli::{Config, RawArgs},
    model::names::{FixedNames, NoNames},
    snapshot::{NetstatConfig, NetstatView, groups, route, statistics},
    views::printer::printer_for,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The names netstat found when the expected files were captured: /etc/hosts and /etc/networks
/// as they were then (copied into fixtures/etc); nothing else resolved.
fn captured_names() -> FixedNames {
    let mut names = FixedNames::default();
    let etc = fixtures().join("etc");
    for fields in table_lines(&etc.join("hosts")) {
        if let [addr, name, ..] = fields.as_slice()
            && let Ok(addr) = addr.parse::<IpAddr>()
        {
            // gethostbyaddr answers with the first line for an address.
            names.hosts.entry(addr).or_insert_with(|| name.clone());
        }
    }
    for fields in table_lines(&etc.join("networks")) {
        if let [name, net, ..] = fields.as_slice()
            && let Ok(net) = net.parse::<Ipv4Addr>()
        {
            names.networks.entry(net).or_insert_with(|| name.clone());
        }
    }
    names
}

/// Whitespace-separated fields of each line, comments dropped.
fn table_lines(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// One expected file: the arguments it was captured with, its stdout and exit status.
struct Expected {
    args: Vec<String>,
    stdout: Vec<u8>,
    status: i32,
}

fn expected_files(case: &Path) -> Vec<Expected> {
    let mut files: Vec<_> = fs::read_dir(case.join("expected"))
        .unwrap_or_else(|err| panic!("{}: {err}", case.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "out"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|out| {
            let stem = out.file_stem().unwrap().to_str().unwrap();
            let args = stem.strip_prefix("netstat_").unwrap();
            let status = fs::read_to_string(out.with_extension("rc")).unwrap();
            Expected {
                args: args.split('_').map(str::to_string).collect(),
                stdout: fs::read(&out).unwrap(),
                status: status.trim().parse().unwrap(),
            }
        })
        .collect()
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let mut cases: Vec<_> = fs::read_dir(fixtures().join(kind))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

const GROUPS_HEADING: &str = "IPv6/IPv4 Group Memberships\n";

/// The checked view of a netstat command line (without the program name).
fn netstat_config(args: &[String]) -> NetstatConfig {
    let argv = std::iter::once("enetstat".to_string()).chain(args.iter().cloned());
    let Ok(Config::Netstat(config, _)) = RawArgs::try_parse_from(argv).unwrap().check() else {
        panic!("not a netstat command line: {args:?}");
    };
    config
}

/// Renders `case` with `expected.args`; describes any difference.
fn compare(case: &Path, expected: &Expected) -> Option<String> {
    let config = netstat_config(&expected.args);
    let names = captured_names();
    let mut printer = printer_for(&config.flags, &names);
    let printer = printer.as_mut();
    let mut stdout = Vec::new();
    let mut want = expected.stdout.as_slice();
    let result = match config.view {
        NetstatView::Route => route::run_in(case, &config.flags, printer, &mut stdout),
        NetstatView::Sockets if config.flags.groups => {
            // -4 or -6 with -g also lists sockets (here: only their heading, the files being
            // absent); that listing is sockets.rs's, so compare from the group heading on.
            let text = String::from_utf8_lossy(want);
            if let Some(start) = text.find(GROUPS_HEADING) {
                want = &want[start..];
            }
            groups::run_in(case, &config.flags, printer, &mut stdout)
        }
        view => panic!("no -r or -g in {:?} ({view:?})", expected.args),
    };
    let command = format!("netstat {} on {}", expected.args.join(" "), case.display());
    if stdout != want {
        return Some(describe_difference(&command, want, &stdout));
    }
    if result.is_ok() != (expected.status == 0) {
        return Some(format!(
            "{command}: netstat exited with {}, enetstat returned {result:?}",
            expected.status
        ));
    }
    None
}

fn describe_difference(command: &str, want: &[u8], got: &[u8]) -> String {
    let (want, got) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    let first = want
        .split_inclusive('\n')
        .zip(got.split_inclusive('\n'))
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
    let line = |text: &str| {
        text.split_inclusive('\n')
            .nth(first)
            .map_or("(none)".to_string(), |l| format!("{l:?}"))
    };
    format!(
        "{command}: first difference at line {}\n  netstat:  {}\n  enetstat: {}\n--- netstat\n{want}--- enetstat\n{got}---",
        first + 1,
        line(&want),
        line(&got)
    )
}

fn check_all(kind: &str) {
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in cases(kind) {
        for expected in expected_files(&case) {
            compared += 1;
            failures.extend(compare(&case, &expected));
        }
    }
    assert!(compared > 0, "no expected files under fixtures/{kind}");
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn route_matches_netstat() {
    check_all("route");
}

#[test]
fn groups_match_netstat() {
    check_all("groups");
}

/// The arguments a statistics output was made with: "netstat-st-6.out" is `netstat -st -6`.
fn statistics_arguments(expected: &Path) -> Option<Vec<String>> {
    let stem = expected.file_name()?.to_str()?.strip_suffix(".out")?;
    let options = stem.strip_prefix("netstat")?;
    Some(
        options
            .split('-')
            .filter(|option| !option.is_empty())
            .map(|option| format!("-{option}"))
            .collect(),
    )
}

/// Every expected output under tests/fixtures/statistics, printed by the real netstat on its
/// case's files (see the README there), against enetstat on the same files.
#[test]
fn statistics_match_netstat() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in cases("statistics") {
        let mut expected_files: Vec<PathBuf> = fs::read_dir(&case)
            .expect("case directory")
            .map(|entry| entry.expect("case entry").path())
            .filter(|path| statistics_arguments(path).is_some())
            .collect();
        expected_files.sort();
        for expected_file in expected_files {
            let args = statistics_arguments(&expected_file).unwrap_or_default();
            let expected = fs::read(&expected_file).expect("expected output");
            let config = netstat_config(&args);
            let mut actual = Vec::new();
            let mut printer = printer_for(&config.flags, &NoNames);
            statistics::run_in(
                &case.join("net"),
                &config.flags,
                printer.as_mut(),
                &mut actual,
            )
            .expect("run");
            compared += 1;
            if actual != expected {
                let command = format!("netstat {} on {}", args.join(" "), case.display());
                failures.push(describe_difference(&command, &expected, &actual));
            }
        }
    }
    assert!(compared >= 40, "only {compared} expected outputs found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
