//! `cargo xtask man` and `cargo xtask install`. The man pages and completion scripts come from
//! the built `enetstat` itself (`enetstat man DIR`, `enetstat completions SHELL`), which renders
//! them from its clap definitions. xtask does not link enetstat's library to do it: that library's
//! build script compiles the eBPF programs, so every xtask command, `setup` included (which
//! installs what that compilation needs), would first have to build them.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use clap::Args;

use crate::{setup, util};

#[derive(Args)]
pub(crate) struct ManArgs {
    /// Where the pages go (default: target/man).
    out_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct InstallArgs {
    /// Installation prefix: the binary goes to PREFIX/bin, the unit to PREFIX/lib/systemd/system.
    #[arg(long, default_value = "/usr/local")]
    prefix: PathBuf,
    /// A staging directory put before every path written (for packaging); the files still name
    /// PREFIX, where they will live.
    #[arg(long, value_name = "DIR")]
    destdir: Option<PathBuf>,
}

pub(crate) fn man(args: ManArgs) -> anyhow::Result<()> {
    setup::ensure_toolchain()?;
    let enetstat = util::build_enetstat()?;
    let dir = args
        .out_dir
        .unwrap_or_else(|| util::target_dir().join("man"));
    write_man_pages(&enetstat, &dir)?;
    eprintln!("xtask: man pages in {}", dir.display());
    Ok(())
}

fn write_man_pages(enetstat: &Path, dir: &Path) -> anyhow::Result<()> {
    util::check_status(Command::new(enetstat).arg("man").arg(dir))
}

/// The shells whose completion directories have a standard place under a prefix.
const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "share/bash-completion/completions/enetstat"),
    ("zsh", "share/zsh/site-functions/_enetstat"),
    ("fish", "share/fish/vendor_completions.d/enetstat.fish"),
];

/// Where installed files go.
struct Layout {
    prefix: PathBuf,
    destdir: Option<PathBuf>,
}

impl Layout {
    /// `relative` under the prefix, as the installed system will see it.
    fn installed(&self, relative: &str) -> PathBuf {
        self.prefix.join(relative)
    }

    /// The same path where this run writes it (under --destdir, if any).
    fn staged(&self, relative: &str) -> PathBuf {
        let installed = self.installed(relative);
        match &self.destdir {
            Some(destdir) => destdir.join(installed.strip_prefix("/").unwrap_or(&installed)),
            None => installed,
        }
    }
}

/// The shipped unit with ExecStart naming the installed binary.
fn unit_for(unit: &str, binary: &Path) -> String {
    unit.lines()
        .map(|line| match line.starts_with("ExecStart=") {
            true => format!("ExecStart={} serve\n", binary.display()),
            false => format!("{line}\n"),
        })
        .collect()
}

pub(crate) fn install(args: InstallArgs) -> anyhow::Result<()> {
    if !args.prefix.is_absolute() {
        bail!("--prefix must be an absolute path");
    }
    setup::ensure_toolchain()?;
    setup::ensure_debian_packages(&[("strip", "binutils")])?;
    let enetstat = util::build_enetstat()?;
    for path in stage(&enetstat, &args.prefix, args.destdir.as_deref())?.paths() {
        println!("{}", path.display());
    }
    eprintln!(
        "xtask: installed; start the daemon with: systemctl daemon-reload && systemctl enable --now enetstat"
    );
    Ok(())
}

/// Where `stage` wrote each kind of file, as written (under `destdir`, if any).
pub(crate) struct Staged {
    pub(crate) binary: PathBuf,
    pub(crate) man_dir: PathBuf,
    pub(crate) completions: Vec<PathBuf>,
    pub(crate) unit: PathBuf,
}

impl Staged {
    fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.binary.clone(), self.man_dir.join("enetstat*.8")];
        paths.extend(self.completions.iter().cloned());
        paths.push(self.unit.clone());
        paths
    }
}

/// Writes the binary, man pages, completions and unit under `prefix` (below `destdir` when
/// staging). Shared by `install` and `deb`.
pub(crate) fn stage(
    enetstat: &Path,
    prefix: &Path,
    destdir: Option<&Path>,
) -> anyhow::Result<Staged> {
    let layout = Layout {
        prefix: prefix.to_path_buf(),
        destdir: destdir.map(Path::to_path_buf),
    };
    let create_parent = |path: &Path| -> anyhow::Result<()> {
        let parent = path.parent().expect("installed files have a directory");
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))
    };

    let bin = layout.staged("bin/enetstat");
    create_parent(&bin)?;
    // Written beside it and renamed over it, so a running daemon's binary is never truncated.
    let fresh = bin.with_extension("new");
    std::fs::copy(enetstat, &fresh).with_context(|| format!("writing {}", fresh.display()))?;
    // The release profile keeps line tables (`debug = 1`) for backtraces and profiling in the
    // build tree; installed, they would only weigh on disk. The eBPF object the binary embeds
    // is data to strip, so its BTF (which aya needs) stays.
    util::check_status(Command::new("strip").arg("--strip-debug").arg(&fresh))?;
    std::fs::rename(&fresh, &bin).with_context(|| format!("writing {}", bin.display()))?;

    let man_dir = layout.staged("share/man/man8");
    write_man_pages(enetstat, &man_dir)?;

    let mut completions = Vec::new();
    for (shell, relative) in COMPLETIONS {
        let path = layout.staged(relative);
        create_parent(&path)?;
        let script = util::output_of(Command::new(enetstat).args(["completions", shell]))?;
        std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
        completions.push(path);
    }

    let shipped = util::workspace_root().join("dist/enetstat.service");
    let unit = std::fs::read_to_string(&shipped)
        .with_context(|| format!("reading {}", shipped.display()))?;
    let unit_path = layout.staged("lib/systemd/system/enetstat.service");
    create_parent(&unit_path)?;
    std::fs::write(
        &unit_path,
        unit_for(&unit, &layout.installed("bin/enetstat")),
    )
    .with_context(|| format!("writing {}", unit_path.display()))?;

    Ok(Staged {
        binary: bin,
        man_dir,
        completions,
        unit: unit_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destdir_stages_what_the_prefix_names() {
        let layout = Layout {
            prefix: "/usr".into(),
            destdir: Some("/tmp/stage".into()),
        };
        assert_eq!(
            layout.installed("bin/enetstat"),
            Path::new("/usr/bin/enetstat")
        );
        assert_eq!(
            layout.staged("lib/systemd/system/enetstat.service"),
            Path::new("/tmp/stage/usr/lib/systemd/system/enetstat.service")
        );
        let direct = Layout {
            prefix: "/usr/local".into(),
            destdir: None,
        };
        assert_eq!(
            direct.staged("share/man/man8"),
            Path::new("/usr/local/share/man/man8")
        );
    }

    #[test]
    fn the_installed_unit_runs_the_installed_binary() {
        let shipped =
            std::fs::read_to_string(util::workspace_root().join("dist/enetstat.service")).unwrap();
        let installed = unit_for(&shipped, Path::new("/opt/e/bin/enetstat"));
        let exec: Vec<_> = installed
            .lines()
            .filter(|l| l.starts_with("ExecStart="))
            .collect();
        assert_eq!(exec, ["ExecStart=/opt/e/bin/enetstat serve"]);
        // Nothing else changes.
        let others = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.starts_with("ExecStart="))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(others(&installed), others(&shipped));
    }
}
