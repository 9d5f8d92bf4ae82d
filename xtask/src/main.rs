//! `cargo xtask`: set-up, run, test and benchmark enetstat from a fresh machine.

mod bench;
mod deb;
mod fuzz;
mod install;
mod setup;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "enetstat's developer tasks")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building enetstat needs: nightly rust-src and a matching bpf-linker.
    Setup,
    /// Set up, build enetstat (release) and run it with the given arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then run the unit tests and the root-only integration tests.
    Test {
        /// Extra arguments for the integration test binary (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmarks that compare enetstat with its peers side by side (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Build enetstat and write its man pages (enetstat.8, enetstat-watch.8, ...) into OUT_DIR.
    Man(install::ManArgs),
    /// Build and install enetstat: binary, man pages, shell completions, systemd unit.
    Install(install::InstallArgs),
    /// Build a Debian package (target/debian/enetstat_VERSION_ARCH.deb) of what install installs.
    Deb(deb::DebArgs),
    /// Run the cargo-fuzz targets (netstat-userspace/fuzz/) for --seconds each; not part of test.
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.task {
        Task::Setup => setup::ensure_toolchain(),
        Task::Run { args } => run(&args),
        Task::Test { args } => test(&args),
        Task::Bench(args) => bench::run(args),
        Task::Man(args) => install::man(args),
        Task::Install(args) => install::install(args),
        Task::Deb(args) => deb::deb(args),
        Task::Fuzz(args) => fuzz::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    setup::ensure_toolchain()?;
    let enetstat = util::build_enetstat()?;
    let status = std::process::Command::new(&enetstat).args(args).status()?;
    std::process::exit(status.code().unwrap_or(1));
}

/// rustfmt, and clippy with warnings as errors over the host crates and the eBPF crate.
fn lint() -> anyhow::Result<()> {
    util::cargo(&["fmt", "--all", "--check"])?;
    util::cargo(&[
        "clippy",
        "--workspace",
        "--exclude",
        "netstat-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // The fuzz targets' entry points (`fuzz_api`), so that a change cannot leave them broken
    // between fuzzing runs.
    util::cargo(&[
        "clippy",
        "-p",
        "netstat-userspace",
        "--lib",
        "--features",
        "fuzzing",
        "--",
        "-D",
        "warnings",
    ])?;
    // The kernel programs build for their own target only, with the nightly toolchain.
    util::check_status(
        std::process::Command::new("rustup")
            .args(["run", "nightly", "cargo", "clippy", "-p", "netstat-ebpf"])
            .args([
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
                "--release",
            ])
            .args(["--", "-D", "warnings"])
            .current_dir(util::workspace_root()),
    )
}

/// The programs the integration tests run, with their Debian packages: the oracles (netstat, ss,
/// Prometheus and promtool, curl, openssl), namespace and privilege tools, and the unit's
/// checkers. A test fails if one is missing.
const TEST_PROGRAMS: &[(&str, &str)] = &[
    ("netstat", "net-tools"),
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("setpriv", "util-linux"),
    ("unshare", "util-linux"),
    ("mountpoint", "util-linux"),
    ("umount", "mount"),
    ("strace", "strace"),
    ("systemd-analyze", "systemd"),
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
    ("curl", "curl"),
    ("openssl", "openssl"),
    // For kubernetes-validate's venv (setup::ensure_kubernetes_validate).
    ("python3", "python3-venv"),
];

fn test(args: &[String]) -> anyhow::Result<()> {
    setup::ensure_toolchain()?;
    lint()?;
    util::cargo(&[
        "test",
        "--workspace",
        "--exclude",
        "netstat-ebpf",
        "--exclude",
        "enetstat-integration-tests",
    ])?;
    if !util::is_root() {
        anyhow::bail!(
            "the integration tests load eBPF programs and create network namespaces: run as root"
        );
    }
    setup::ensure_debian_packages(TEST_PROGRAMS)?;
    let enetstat = util::build_enetstat()?;
    // tests/tests/package.rs installs this package and checks it with these tools.
    setup::ensure_debian_packages(deb::TEST_TOOLS)?;
    let deb = deb::build(&enetstat, &util::target_dir().join("debian"))?;
    // tests/tests/kubernetes.rs validates dist/kubernetes/ with it.
    let kubernetes_validate = setup::ensure_kubernetes_validate(&util::target_dir())?;
    let mut cmd = util::cargo_command(&[
        "test",
        "--release",
        "-p",
        "enetstat-integration-tests",
        "--",
        "--test-threads=1",
    ]);
    cmd.args(args)
        .env("ENETSTAT_BIN", &enetstat)
        .env("ENETSTAT_DEB", &deb)
        .env("ENETSTAT_KUBERNETES_VALIDATE", &kubernetes_validate);
    util::check_status(&mut cmd)
}
