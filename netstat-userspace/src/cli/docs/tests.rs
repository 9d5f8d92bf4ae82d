use std::process::Command;

use clap::Args as _;

use super::*;
use crate::cli::NetstatArgs;

/// A help text's sections: each heading (a line flush left ending in `:`) with the long
/// options (or, under `Commands:`, the names) listed below it.
fn help_sections(help: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            sections.push((line.to_string(), Vec::new()));
        } else if let Some((heading, entries)) = sections.last_mut() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let entry = if heading == "Commands:" {
                words.first().map(|w| w.to_string())
            } else {
                words
                    .iter()
                    .find(|w| w.starts_with("--"))
                    .map(|w| w.trim_end_matches("...").to_string())
            };
            entries.extend(entry);
        }
    }
    sections
}

/// The long options help lists (netstat's families without tables are taken but not listed).
fn longs(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

#[test]
fn help_groups_netstat_options_apart_from_enetstat_options() {
    let mut cmd = command();
    let help = cmd.render_help().to_string();
    let sections = help_sections(&help);
    let headings: Vec<&str> = sections.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        headings,
        [
            "Commands:",
            "Arguments:",
            "netstat-compatible options:",
            "enetstat options:"
        ],
        "{help}"
    );
    assert_eq!(
        sections[0].1,
        ["watch", "serve", "status", "completions", "help"],
        "{help}"
    );
    // Every netstat option, and nothing else, under the netstat heading, in netstat's order.
    let netstat = longs(&NetstatArgs::augment_args(clap::Command::new("netstat")));
    assert_eq!(sections[2].1, netstat, "{help}");
    assert_eq!(
        sections[3].1,
        [
            "--source",
            "--json",
            "--containers",
            "--tcp-info",
            "--socket",
            "--netns",
            "--color",
            "--help",
            "--version"
        ],
        "{help}"
    );
    // No option help switches --help to clap's long layout: -h and --help print the same.
    let printed = |flag: &str| {
        let err = command()
            .try_get_matches_from(["enetstat", flag])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        err.to_string()
    };
    assert_eq!(printed("--help"), help);
    assert_eq!(printed("-h"), help);
}

#[test]
fn subcommand_help_keeps_its_own_options_apart() {
    let mut cmd = command();
    cmd.build();
    let watch = cmd.find_subcommand_mut("watch").unwrap();
    let help = watch.render_help().to_string();
    let sections = help_sections(&help);
    let headings: Vec<&str> = sections.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(headings, ["Options:", "enetstat options:"], "{help}");
    assert!(sections[0].1.contains(&"--lport".to_string()), "{help}");
    assert_eq!(
        sections[1].1,
        ["--socket", "--netns", "--color", "--help", "--version"],
        "{help}"
    );
}

fn completions(shell: Shell) -> String {
    let mut out = Vec::new();
    write_completions(shell, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// A fresh directory under the system's temporary one.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("enetstat-docs-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Runs `shell -n` (parse only) on a script, when that shell is installed.
fn parses(shell: &str, script: &str) -> Option<std::process::Output> {
    if !have(shell) {
        println!("{shell} is not installed: its completion script is not parsed");
        return None;
    }
    let dir = scratch(shell);
    let file = dir.join("enetstat.completion");
    std::fs::write(&file, script).unwrap();
    let out = Command::new(shell).arg("-n").arg(&file).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    Some(out)
}

#[test]
fn bash_completions_parse_and_know_the_options_and_subcommands() {
    let script = completions(Shell::Bash);
    let out = parses("bash", &script).expect("bash is needed for this test");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for word in [
        "--tcp",
        "--udp",
        "--numeric",
        "--programs",
        "--source",
        "--color",
        "watch",
        "serve",
        "status",
        "completions",
        "--lport",
        "--ring-size",
    ] {
        assert!(script.contains(word), "no {word} in the bash completions");
    }
    // The values of --color and of completions' SHELL are offered.
    assert!(script.contains("auto always never"), "--color values");
    assert!(script.contains("bash elvish fish powershell zsh"), "shells");
    // The hidden man page generator is not offered.
    assert!(
        !script.contains(" man ") && !script.contains("subcmd__man"),
        "hidden subcommand completed"
    );
}

/// What bash offers for the last of `words`, from the generated script.
fn bash_offers(script: &Path, words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let (current, previous) = (&quoted[words.len() - 1], &quoted[words.len() - 2]);
    // A completion function gets the command, the word being completed and the one before.
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _enetstat enetstat {current} {previous}; echo \"${{COMPREPLY[*]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn bash_completes_options_subcommands_and_values() {
    let dir = scratch("bash-run");
    let script = dir.join("enetstat");
    std::fs::write(&script, completions(Shell::Bash)).unwrap();
    assert_eq!(
        bash_offers(&script, &["enetstat", "--tc"]),
        "--tcp --tcp-info"
    );
    assert_eq!(bash_offers(&script, &["enetstat", "wa"]), "watch");
    assert_eq!(
        bash_offers(&script, &["enetstat", "--color", ""]),
        "auto always never"
    );
    assert_eq!(
        bash_offers(&script, &["enetstat", "watch", "--lp"]),
        "--lport"
    );
    assert_eq!(bash_offers(&script, &["enetstat", "ma"]), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn completions_take_the_same_arguments_as_the_command() {
    let full = command();
    let offered = completable();
    let ids = |cmd: &clap::Command| -> Vec<String> {
        cmd.get_arguments()
            .map(|a| a.get_id().to_string())
            .collect()
    };
    assert_eq!(ids(&offered), ids(&full));
    let names = |cmd: &clap::Command| -> Vec<String> {
        cmd.get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect()
    };
    assert_eq!(names(&offered), ["watch", "serve", "status", "completions"]);
    assert_eq!(
        names(&full),
        ["watch", "serve", "status", "completions", "man"]
    );
    offered.debug_assert();
}

#[test]
fn every_shell_gets_a_script_naming_netstat_flags() {
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let script = completions(shell);
        assert!(script.contains("tcp"), "{shell}: no --tcp");
        assert!(script.contains("watch"), "{shell}: no watch");
    }
    for (shell, name) in [(Shell::Zsh, "zsh"), (Shell::Fish, "fish")] {
        if let Some(out) = parses(name, &completions(shell)) {
            assert!(
                out.status.success(),
                "{name} -n: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn man_pages_are_written_for_the_command_and_each_subcommand() {
    let dir = scratch("man");
    let written = write_man_pages(&dir).unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "enetstat.8",
            "enetstat-watch.8",
            "enetstat-serve.8",
            "enetstat-status.8",
            "enetstat-completions.8"
        ]
    );
    let top = std::fs::read_to_string(dir.join("enetstat.8")).unwrap();
    assert!(top.contains(".TH enetstat 8"), "{top}");
    assert!(top.contains(".SH \"NETSTAT-COMPATIBLE OPTIONS\""), "{top}");
    assert!(top.contains(".SH \"ENETSTAT OPTIONS\""), "{top}");
    assert!(top.contains("\\-\\-tcp"), "{top}");
    assert!(top.contains(".SH ENVIRONMENT"), "{top}");
    assert!(top.contains("enetstat\\-watch(8)"), "{top}");
    assert!(
        !top.contains("enetstat\\-man"),
        "hidden subcommand documented"
    );
    let watch = std::fs::read_to_string(dir.join("enetstat-watch.8")).unwrap();
    assert!(watch.contains(".TH enetstat-watch 8"), "{watch}");
    assert!(watch.contains("\\-\\-lport"), "{watch}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_man_page_renders() {
    let dir = scratch("render");
    write_man_pages(&dir).unwrap();
    if !have("man") {
        println!("man is not installed: the page is checked as roff only");
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    for page in ["enetstat.8", "enetstat-watch.8"] {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(dir.join(page))
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man -l {page}: {warnings}");
        assert!(
            warnings.trim().is_empty(),
            "{page}: groff warns: {warnings}"
        );
        if page == "enetstat.8" {
            for expected in [
                "NETSTAT-COMPATIBLE OPTIONS",
                "ENETSTAT OPTIONS",
                "--tcp",
                "--color",
                "DESCRIPTION",
                "SUBCOMMANDS",
                "watch",
                "ENVIRONMENT",
            ] {
                assert!(
                    text.contains(expected),
                    "{page}: no {expected:?} in\n{text}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
