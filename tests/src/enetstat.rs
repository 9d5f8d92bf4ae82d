//! A running `enetstat` under test: started with its output in files, stopped with a signal.

use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// The binary under test: $ENETSTAT_BIN (set by `cargo xtask test`), else the release build.
pub fn binary() -> PathBuf {
    std::env::var_os("ENETSTAT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/enetstat")
        })
}

pub struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: TempDir,
}

/// What a stopped `enetstat` left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Every stdout line parsed as JSON.
    pub fn json_lines(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).with_context(|| format!("not JSON: {line:?}")))
            .collect()
    }
}

/// The line `enetstat watch` prints on stderr once its probe is attached.
pub const READY: &str = "enetstat: watching";

impl Running {
    /// Starts `enetstat ARGS` and waits until it reports that it is watching.
    pub fn start(args: &[&str]) -> anyhow::Result<Self> {
        Self::start_in(None, args, READY)
    }

    /// Starts `enetstat ARGS`, inside namespace `ns` if given, and waits for `ready` on stderr.
    pub fn start_in(ns: Option<&str>, args: &[&str], ready: &str) -> anyhow::Result<Self> {
        match ns {
            Some(ns) => Self::start_under(&["ip", "netns", "exec", ns], args, ready),
            None => Self::start_under(&[], args, ready),
        }
    }

    /// Starts `WRAPPER... enetstat ARGS` (a command that runs the binary it is given, such as
    /// `ip netns exec NS`), and waits for `ready` on stderr.
    pub fn start_under(wrapper: &[&str], args: &[&str], ready: &str) -> anyhow::Result<Self> {
        let dir = TempDir::new()?;
        let stdout = dir.path.join("stdout");
        let stderr = dir.path.join("stderr");
        let mut command = match wrapper {
            [program, wrapper_args @ ..] => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary());
                command
            }
            [] => Command::new(binary()),
        };
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("starting {}", binary().display()))?;
        let mut running = Running {
            child,
            stdout,
            stderr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let err = std::fs::read_to_string(&running.stderr)?;
            if err.contains(ready) {
                return Ok(running);
            }
            if let Some(status) = running.child.try_wait()? {
                bail!("enetstat exited before attaching ({status}): {err}");
            }
            if Instant::now() > deadline {
                bail!("enetstat did not attach within 30 s: {err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits until its stdout so far satisfies `done`, failing with `what` after `deadline`.
    pub fn wait_for_stdout(
        &self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        crate::wait::until_true(what, deadline, || Ok(done(&self.stdout_so_far())))
    }

    /// Sends `signal` and waits for the process to exit.
    pub fn stop_with(self, signal: libc::c_int) -> anyhow::Result<Finished> {
        let pid = self.child.id();
        self.signal_and_wait(pid, signal)
    }

    /// Sends `signal` to `pid` (our child, or a process under it, such as the program a tracer
    /// runs) and waits for our child to exit.
    pub fn signal_and_wait(mut self, pid: u32, signal: libc::c_int) -> anyhow::Result<Finished> {
        // SAFETY: signalling a process we started.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("enetstat did not exit within 30 s of signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Ok(Finished {
            status,
            stdout: std::fs::read_to_string(&self.stdout)?,
            stderr: std::fs::read_to_string(&self.stderr)?,
        })
    }

    /// Ctrl-C.
    pub fn stop(self) -> anyhow::Result<Finished> {
        self.stop_with(libc::SIGINT)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private scratch directory, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> anyhow::Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "enetstat-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Ids of loaded BPF programs whose name starts with `prefix` (the kernel keeps 15 bytes of it).
pub fn loaded_program_ids(prefix: &str) -> Vec<u32> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|info| {
            info.name_as_str()
                .is_some_and(|name| name.starts_with(prefix))
        })
        .map(|info| info.id())
        .collect()
}
