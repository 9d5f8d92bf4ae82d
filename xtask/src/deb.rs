//! `cargo xtask deb`: a Debian package of what `cargo xtask install --prefix /usr` installs.
//!
//! Built with plain `dpkg-deb --build` from a staged tree rather than cargo-deb or debhelper: the
//! files come from `install::stage` (one list of what gets installed, not two), and the few
//! control fields are easier to read here than in another tool's metadata.
//!
//! - Version: `enetstat --version` of the binary packaged, so it is the Cargo.toml version that
//!   binary was built with.
//! - Architecture: `dpkg --print-architecture`, the machine's (the binary is built for it).
//! - Depends: computed by `dpkg-shlibdeps` from the binary's ELF NEEDED entries and the glibc
//!   symbol versions it uses (today libc6 and libgcc-s1). Stated by hand, the minimum versions
//!   would go stale whenever the build machine's glibc changes. Nothing else is needed at run
//!   time: the eBPF object is inside the binary, and /proc, netlink and BPF are the kernel's.
//! - The daemon is not enabled or started by the package (it loads BPF programs: an admin's
//!   choice); the maintainer scripts only tell a running systemd that the unit came or went.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, anyhow};
use clap::Args;

use crate::{install, setup, util};

/// What building the package runs: `(command, Debian package)`.
pub(crate) const BUILD_TOOLS: &[(&str, &str)] = &[
    ("dpkg-deb", "dpkg"),
    ("dpkg-shlibdeps", "dpkg-dev"),
    ("strip", "binutils"),
    ("gzip", "gzip"),
];

/// What tests/tests/package.rs runs besides the package tools.
pub(crate) const TEST_TOOLS: &[(&str, &str)] = &[
    ("systemd-analyze", "systemd"),
    ("lexgrog", "man-db"),
    ("netstat", "net-tools"),
    ("ip", "iproute2"),
];

const PACKAGE: &str = "enetstat";
/// Overridable with ENETSTAT_DEB_MAINTAINER for a build someone else publishes.
const MAINTAINER: &str = "enetstat developers <enetstat@localhost>";

#[derive(Args)]
pub(crate) struct DebArgs {
    /// Where the .deb goes (default: target/debian).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub(crate) fn deb(args: DebArgs) -> anyhow::Result<()> {
    setup::ensure_toolchain()?;
    let enetstat = util::build_enetstat()?;
    let out_dir = args
        .out_dir
        .unwrap_or_else(|| util::target_dir().join("debian"));
    let deb = build(&enetstat, &out_dir)?;
    println!("{}", deb.display());
    Ok(())
}

/// Stages and builds the package from an already built `enetstat`; returns the .deb's path.
pub(crate) fn build(enetstat: &Path, out_dir: &Path) -> anyhow::Result<PathBuf> {
    setup::ensure_debian_packages(BUILD_TOOLS)?;
    let version = version_of(enetstat)?;
    let arch = util::output_of(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_string();

    // dpkg-shlibdeps expects the tree at debian/PACKAGE below where it runs, beside a
    // debian/control naming the package.
    let work = util::target_dir().join("debian-build");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("debian").join(PACKAGE);
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    std::fs::write(
        work.join("debian/control"),
        format!("Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n"),
    )?;

    let staged = install::stage(enetstat, Path::new("/usr"), Some(&root))?;
    // The binary is staged without debug sections; Debian ships man pages gzip'd (-n: no
    // timestamp).
    for page in std::fs::read_dir(&staged.man_dir)? {
        util::check_status(Command::new("gzip").arg("-9nf").arg(page?.path()))?;
    }
    let doc = root.join("usr/share/doc").join(PACKAGE);
    std::fs::create_dir_all(&doc)?;
    std::fs::write(doc.join("copyright"), copyright())?;

    let depends = shlib_depends(&work, &staged.binary)?;
    let control_dir = root.join("DEBIAN");
    std::fs::create_dir_all(&control_dir)?;
    let maintainer =
        std::env::var("ENETSTAT_DEB_MAINTAINER").unwrap_or_else(|_| MAINTAINER.to_string());
    let fields = Control {
        version: &version,
        arch: &arch,
        maintainer: &maintainer,
        depends: &depends,
        installed_kib: size_kib(&root)?,
    };
    std::fs::write(control_dir.join("control"), fields.render())?;
    for (script, text) in [("postinst", POSTINST), ("postrm", POSTRM)] {
        std::fs::write(control_dir.join(script), text)?;
    }
    normalize_modes(&root)?;

    std::fs::create_dir_all(out_dir)?;
    let deb = out_dir.join(format!("{PACKAGE}_{version}_{arch}.deb"));
    util::check_status(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&root)
            .arg(&deb),
    )?;
    Ok(deb)
}

/// "0.1.0" from `enetstat --version` ("enetstat 0.1.0").
fn version_of(enetstat: &Path) -> anyhow::Result<String> {
    let text = util::output_of(Command::new(enetstat).arg("--version"))?;
    parse_version(&text).ok_or_else(|| anyhow!("no version in `enetstat --version`: {text:?}"))
}

fn parse_version(text: &str) -> Option<String> {
    let version = text.trim().strip_prefix("enetstat ")?;
    // Debian versions must start with a digit; Cargo's always do.
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_string())
}

/// The `shlibs:Depends` value dpkg-shlibdeps computes for the binary.
fn shlib_depends(work: &Path, binary: &Path) -> anyhow::Result<String> {
    let relative = binary.strip_prefix(work).unwrap_or(binary);
    let out = util::output_of(
        Command::new("dpkg-shlibdeps")
            .args(["-O", "-e"])
            .arg(relative)
            .current_dir(work),
    )?;
    out.lines()
        .find_map(|line| line.strip_prefix("shlibs:Depends="))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("dpkg-shlibdeps printed no shlibs:Depends: {out:?}"))
}

struct Control<'a> {
    version: &'a str,
    arch: &'a str,
    maintainer: &'a str,
    depends: &'a str,
    installed_kib: u64,
}

impl Control<'_> {
    fn render(&self) -> String {
        format!(
            "Package: {PACKAGE}\n\
             Version: {}\n\
             Architecture: {}\n\
             Maintainer: {}\n\
             Installed-Size: {}\n\
             Depends: {}\n\
             Section: net\n\
             Priority: optional\n\
             Description: eBPF-backed live replacement for netstat\n \
             enetstat prints what net-tools' netstat prints (sockets, routes, interfaces,\n \
             groups, statistics) from /proc and netlink, and adds live views of TCP state\n \
             changes and interface drops from eBPF probes. The package holds the enetstat\n \
             binary, its man pages, bash/zsh/fish completions and a systemd unit for the\n \
             daemon (enetstat serve), which is not enabled by the package.\n",
            self.version, self.arch, self.maintainer, self.installed_kib, self.depends
        )
    }
}

/// What debhelper's dh_installsystemd would do minus enabling: reload a running systemd.
const POSTINST: &str = "#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then\n    systemctl daemon-reload || true\nfi\n";
const POSTRM: &str = POSTINST;

fn copyright() -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {PACKAGE}\n\n\
         Files: *\n\
         License: {}\n",
        env!("CARGO_PKG_LICENSE")
    )
}

/// Installed-Size: the tree's file sizes, in KiB rounded up, as dpkg-gencontrol counts them.
fn size_kib(dir: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for entry in walk(dir)? {
        let meta = std::fs::symlink_metadata(&entry)?;
        if meta.is_file() {
            bytes += meta.len().div_ceil(1024);
        } else {
            bytes += 1;
        }
    }
    Ok(bytes)
}

/// Directories and executables 0755 (the binary, maintainer scripts), everything else 0644, so
/// the package does not depend on the builder's umask.
fn normalize_modes(root: &Path) -> anyhow::Result<()> {
    for path in walk(root)? {
        let meta = std::fs::symlink_metadata(&path)?;
        let executable = meta.permissions().mode() & 0o111 != 0;
        let mode = match meta.is_dir() || executable {
            true => 0o755,
            false => 0o644,
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    let control = root.join("DEBIAN");
    for script in ["postinst", "postrm"] {
        std::fs::set_permissions(control.join(script), std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Every path below `dir` (not `dir` itself).
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in
            std::fs::read_dir(&next).with_context(|| format!("reading {}", next.display()))?
        {
            let path = entry?.path();
            if std::fs::symlink_metadata(&path)?.is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_the_binary() {
        assert_eq!(parse_version("enetstat 1.2.3\n").as_deref(), Some("1.2.3"));
        assert_eq!(parse_version("netstat 1.2.3"), None);
        assert_eq!(parse_version("enetstat v1"), None);
    }

    #[test]
    fn the_control_file_has_the_fields_dpkg_requires() {
        let text = Control {
            version: "0.1.0",
            arch: "amd64",
            maintainer: MAINTAINER,
            depends: "libc6 (>= 2.34)",
            installed_kib: 10,
        }
        .render();
        for field in [
            "Package: enetstat\n",
            "Version: 0.1.0\n",
            "Architecture: amd64\n",
            "Depends: libc6 (>= 2.34)\n",
        ] {
            assert!(text.contains(field), "{field:?} missing from\n{text}");
        }
        // Continuation lines of the description start with a space; none is empty.
        let description = text.split_once("Description:").unwrap().1;
        assert!(
            description
                .lines()
                .skip(1)
                .all(|l| l.starts_with(' ') && l.trim() != "")
        );
    }
}
