//! A tracer running beside a benchmark's workload: output to files, stopped with Ctrl-C, and
//! never left attached (it would slow every later measurement, and the machine).

use std::{
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

pub(crate) struct TracerProcess {
    pub(crate) child: Child,
}

impl TracerProcess {
    /// Starts `cmd` with stdout and stderr going to `out` and `err`.
    pub(crate) fn spawn(
        mut cmd: Command,
        label: &str,
        out: &Path,
        err: &Path,
    ) -> anyhow::Result<Self> {
        let child = cmd
            .stdout(std::fs::File::create(out)?)
            .stderr(std::fs::File::create(err)?)
            .spawn()
            .with_context(|| format!("starting {label}"))?;
        Ok(TracerProcess { child })
    }

    /// Polls `ready` until it holds; fails with the tracer's stderr (`err`) if it exits first,
    /// or after 60 s.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        mut ready: impl FnMut() -> bool,
        err: &Path,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "tracer exited early ({status}): {}",
                    std::fs::read_to_string(err).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("tracer had not {what} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C, then wait for it to flush and exit.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        self.interrupt_and_wait()
    }

    fn interrupt_and_wait(&mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("tracer did not exit within 60 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for TracerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.interrupt_and_wait();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
