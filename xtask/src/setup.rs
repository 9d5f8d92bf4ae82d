//! Installs what building the eBPF programs needs, idempotently:
//! - the nightly toolchain's rust-src (for `-Z build-std=core`), and stable's rustfmt and clippy;
//! - bpf-linker, built from crates.io against the nightly's own libLLVM, since the LLVM major
//!   must match the rustc that compiles the eBPF crate and no system LLVM matches.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, anyhow};

use crate::util::{check_status, output_of};

const TOOLCHAIN: &str = "nightly";
/// Offers the llvm-21/22/23 features that match the nightly toolchains this project builds with.
const BPF_LINKER_VERSION: &str = "0.13.0";

pub(crate) fn ensure_toolchain() -> anyhow::Result<()> {
    ensure_components(TOOLCHAIN, &["rust-src"])?;
    // The test command lints with both; a minimal rustup profile lacks them.
    ensure_components("stable", &["rustfmt", "clippy"])?;
    ensure_bpf_linker()
}

/// Adds whichever of `components` the toolchain lacks, listing what it has once.
fn ensure_components(toolchain: &str, components: &[&str]) -> anyhow::Result<()> {
    let installed = output_of(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        toolchain,
    ]))?;
    let has = |component: &str| {
        installed
            .lines()
            .any(|line| line.trim() == component || line.starts_with(&format!("{component}-")))
    };
    for component in components.iter().filter(|component| !has(component)) {
        eprintln!("xtask: installing {component} for the {toolchain} toolchain");
        check_status(Command::new("rustup").args([
            "component",
            "add",
            component,
            "--toolchain",
            toolchain,
        ]))?;
    }
    Ok(())
}

/// Where the libLLVM symlinks that bpf-linker is linked against live: the binary keeps an rpath
/// to this directory, so it must outlive /tmp.
fn llvm_prefix() -> PathBuf {
    cargo_home().join("bpf-linker-llvm")
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

fn ensure_bpf_linker() -> anyhow::Result<()> {
    let sysroot =
        output_of(Command::new("rustc").args([&format!("+{TOOLCHAIN}"), "--print", "sysroot"]))?;
    let sysroot = PathBuf::from(sysroot.trim());
    let version = output_of(Command::new("rustc").args([&format!("+{TOOLCHAIN}"), "-vV"]))?;
    let major = llvm_major(&version)
        .ok_or_else(|| anyhow!("no LLVM version in `rustc +{TOOLCHAIN} -vV`"))?;
    let lib = std::fs::read_dir(sysroot.join("lib"))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("libLLVM.so."))
        .ok_or_else(|| anyhow!("no libLLVM.so.* in {}/lib", sysroot.display()))?;

    let prefix = llvm_prefix();
    let prefix_lib = prefix.join("lib");
    std::fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("creating {}", prefix_lib.display()))?;
    for name in ["libLLVM.so", lib.as_str()] {
        let link = prefix_lib.join(name);
        // Made beside it and renamed over it: two xtask runs at once must not race between a
        // remove and a create.
        let fresh = prefix_lib.join(format!("{name}.{}", std::process::id()));
        let _ = std::fs::remove_file(&fresh);
        std::os::unix::fs::symlink(sysroot.join("lib").join(&lib), &fresh)
            .and_then(|()| std::fs::rename(&fresh, &link))
            .with_context(|| format!("linking {}", link.display()))?;
    }

    // aya-build finds bpf-linker on PATH; make sure that is the one installed here.
    let bin = cargo_home().join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|dir| dir == bin) {
        let joined =
            std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))?;
        // SAFETY: xtask is single-threaded here; children inherit the new PATH.
        unsafe { std::env::set_var("PATH", joined) };
    }

    // Installed and loading its LLVM: nothing to do.
    let works = Command::new(bin.join("bpf-linker"))
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let stamp = prefix.join("built-against");
    let built_against = std::fs::read_to_string(&stamp).unwrap_or_default();
    if works && built_against.trim() == lib {
        return Ok(());
    }
    eprintln!(
        "xtask: building bpf-linker against {lib} (LLVM {major}); this takes a minute or two"
    );
    check_status(
        Command::new("cargo")
            .args([
                "install",
                "--force",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--no-default-features",
                "--features",
                &format!("llvm-{major}"),
            ])
            .env("LLVM_PREFIX", &prefix),
    )?;
    std::fs::write(&stamp, &lib)?;
    Ok(())
}

/// The LLVM major version from `rustc -vV` output.
fn llvm_major(version_text: &str) -> Option<u32> {
    version_text
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))?
        .split('.')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Installs Debian packages for the commands that are missing: `(command, package)` pairs.
pub(crate) fn ensure_debian_packages(wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} from Debian", missing.join(" "));
    check_status(Command::new("apt-get").args(["update", "-qq"]))?;
    check_status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|dir| std::path::Path::new(dir).join(command).is_file())
}

/// PyPI's kubernetes-validate, which tests/tests/kubernetes.rs checks dist/kubernetes/ with.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

/// Installs kubernetes-validate into a venv of its own under `target/` (idempotently), and
/// returns its program's path.
pub(crate) fn ensure_kubernetes_validate(target: &std::path::Path) -> anyhow::Result<PathBuf> {
    let venv = target.join("kubernetes-validate");
    let program = venv.join("bin/kubernetes-validate");
    let stamp = venv.join("installed");
    if program.exists()
        && std::fs::read_to_string(&stamp).unwrap_or_default() == KUBERNETES_VALIDATE
    {
        return Ok(program);
    }
    eprintln!(
        "xtask: installing {KUBERNETES_VALIDATE} from PyPI into {}",
        venv.display()
    );
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .is_ok_and(|status| status.success());
    if !made {
        // A Debian python3 without its venv module (ensurepip): install it and use that python.
        eprintln!("xtask: python3 cannot make a venv; installing python3-venv from Debian");
        check_status(Command::new("apt-get").args(["update", "-qq"]))?;
        check_status(
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                    "python3-venv",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        check_status(
            Command::new("/usr/bin/python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )
        .context("creating a Python venv for kubernetes-validate")?;
    }
    check_status(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        KUBERNETES_VALIDATE,
    ]))
    .context("installing kubernetes-validate from PyPI")?;
    std::fs::write(&stamp, KUBERNETES_VALIDATE)?;
    Ok(program)
}

#[cfg(test)]
mod tests {
    #[test]
    fn llvm_major_from_rustc_vv() {
        let text = "rustc 1.97.0-nightly\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(super::llvm_major(text), Some(22));
        assert_eq!(super::llvm_major("rustc 1.0"), None);
    }
}
