//! The Debian package (`cargo xtask deb`), installed on this machine with dpkg: the binary it puts
//! on PATH answers `-tan` as netstat does in a scratch namespace, systemd-analyze accepts its
//! unit, man-db reads its man pages, and a purge takes every file away again.
//!
//! The package comes from $ENETSTAT_DEB, which `cargo xtask test` sets after building it.

#![allow(
    unused_crate_dependencies,
    reason = "each test target sees all of the package's dependencies and uses a few"
)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use enetstat_integration_tests::{
    compare::{difference, escape_controls, run_in},
    fixture::SocketFixture,
    netns::Netns,
};

const PACKAGE: &str = "enetstat";
/// Where the package puts the binary (`install --prefix /usr`).
const INSTALLED_BINARY: &str = "/usr/bin/enetstat";
const INSTALLED_UNIT: &str = "/usr/lib/systemd/system/enetstat.service";

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("running {program} (is it installed?): {err}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn package_path() -> PathBuf {
    let deb = std::env::var_os("ENETSTAT_DEB").map(PathBuf::from).expect(
        "ENETSTAT_DEB is not set: run `cargo xtask test`, or `cargo xtask deb` and set it to the .deb",
    );
    assert!(
        deb.is_file(),
        "ENETSTAT_DEB={}: no such file",
        deb.display()
    );
    deb
}

fn installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${db:Status-Status}", PACKAGE]);
    out.status.success() && out.stdout == b"installed"
}

/// Purges the package when the test ends, passed or not.
struct Installed {
    files: Vec<PathBuf>,
}

impl Installed {
    fn new(deb: &Path) -> Self {
        ok("dpkg", &["-i", deb.to_str().expect("a UTF-8 path")]);
        // What dpkg recorded as the package's, less the directories other packages share.
        let files = ok("dpkg-query", &["-L", PACKAGE])
            .lines()
            .map(PathBuf::from)
            .filter(|path| path.is_file())
            .collect();
        Installed { files }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--purge", PACKAGE]);
    }
}

#[test]
fn the_package_installs_works_and_purges() {
    let deb = package_path();
    let package = Installed::new(&deb);
    assert!(installed(), "dpkg does not list {PACKAGE} as installed");

    // Everything the package is for is among its files.
    let has = |path: &str| package.files.iter().any(|file| file == Path::new(path));
    for path in [
        INSTALLED_BINARY,
        INSTALLED_UNIT,
        "/usr/share/man/man8/enetstat.8.gz",
        "/usr/share/bash-completion/completions/enetstat",
        "/usr/share/zsh/site-functions/_enetstat",
        "/usr/share/fish/vendor_completions.d/enetstat.fish",
    ] {
        assert!(
            has(path),
            "{path} is not in the package: {:?}",
            package.files
        );
    }

    // The installed binary answers as netstat does, in a namespace with known sockets.
    let ns = Netns::new("package").unwrap();
    let _sockets = SocketFixture::build(&ns).unwrap();
    let netstat = run_in(ns.name(), Path::new("/usr/bin/netstat"), &["-tan"]);
    let ours = run_in(ns.name(), Path::new(INSTALLED_BINARY), &["-tan"]);
    assert!(
        ours.status.success(),
        "{INSTALLED_BINARY} -tan: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    if let Some(diff) = difference(&escape_controls(&netstat.stdout), &ours.stdout) {
        panic!("{INSTALLED_BINARY} -tan differs from netstat -tan: {diff}");
    }

    // The unit as installed (ExecStart names the installed binary; its Documentation= pages are
    // the installed ones): a warning fails too, as verify exits 0 on those.
    let verify = run("systemd-analyze", &["verify", INSTALLED_UNIT]);
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify {INSTALLED_UNIT}: {}\n{complaints}",
        verify.status
    );
    let exec = std::fs::read_to_string(INSTALLED_UNIT).unwrap();
    assert!(
        exec.lines()
            .any(|line| line == format!("ExecStart={INSTALLED_BINARY} serve")),
        "the installed unit does not run {INSTALLED_BINARY}"
    );

    // Each man page has a NAME section man-db can index, and `man` finds the main one.
    let pages: Vec<&PathBuf> = package
        .files
        .iter()
        .filter(|file| file.starts_with("/usr/share/man/man8"))
        .collect();
    assert!(pages.len() >= 2, "man pages: {pages:?}");
    for page in &pages {
        let whatis = ok("lexgrog", &[page.to_str().unwrap()]);
        let stem = page.file_name().unwrap().to_str().unwrap();
        let name = stem.trim_end_matches(".8.gz");
        assert!(
            whatis.contains(&format!("\"{name} - ")),
            "lexgrog {}: {whatis}",
            page.display()
        );
    }
    assert_eq!(
        ok("man", &["-w", "8", "enetstat"]).trim(),
        "/usr/share/man/man8/enetstat.8.gz"
    );

    // A purge leaves nothing behind.
    let files = package.files.clone();
    drop(package);
    assert!(
        !installed(),
        "{PACKAGE} is still installed after dpkg --purge"
    );
    let left: Vec<_> = files.iter().filter(|file| file.exists()).collect();
    assert!(left.is_empty(), "left after dpkg --purge: {left:?}");
    assert!(!Path::new("/usr/share/doc/enetstat").exists());
}
