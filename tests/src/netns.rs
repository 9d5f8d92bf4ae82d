//! Scratch network namespaces: created with `ip netns add`, deleted on drop. All test traffic stays
//! inside them.

use std::{
    collections::HashMap,
    fs::File,
    os::fd::AsRawFd as _,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    thread,
};

use anyhow::{Context as _, bail};
use enetstat::{DevStats, InterfaceList};

pub struct Netns {
    name: String,
}

/// /proc/net/dev of the calling thread's namespace, by interface name (/proc/net is
/// /proc/self/net: the main thread's namespace, which a thread in `Netns::run` has left).
pub fn dev_counters_here() -> anyhow::Result<HashMap<String, DevStats>> {
    let text = std::fs::read("/proc/thread-self/net/dev").context("reading /proc/net/dev")?;
    let mut list = InterfaceList::default();
    list.add_proc_dev(&text);
    Ok(list
        .interfaces
        .into_iter()
        .filter_map(|listed| {
            Some((
                String::from_utf8_lossy(&listed.name).into_owned(),
                listed.stats?,
            ))
        })
        .collect())
}

/// /proc/net/dev of the calling thread's namespace, by the interface name's bytes (which need
/// not be UTF-8).
pub fn dev_counters_by_bytes_here() -> anyhow::Result<HashMap<Vec<u8>, DevStats>> {
    let text = std::fs::read("/proc/thread-self/net/dev").context("reading /proc/net/dev")?;
    let mut list = InterfaceList::default();
    list.add_proc_dev(&text);
    Ok(list
        .interfaces
        .into_iter()
        .filter_map(|listed| Some((listed.name, listed.stats?)))
        .collect())
}

/// Runs `ip ARGS`, failing with ip's own message.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Netns {
    /// A new namespace with its loopback up.
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "enetstat-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// /proc/net/dev inside this namespace, by interface name.
    pub fn dev_counters(&self) -> anyhow::Result<HashMap<String, DevStats>> {
        self.run(dev_counters_here)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until `iface` reports its operational state up (carrier on both ends of a veth).
    pub fn wait_for_link_up(&self, iface: &str) -> anyhow::Result<()> {
        let name = self.name.clone();
        crate::wait::until_true(
            format!("{iface} up in {name}"),
            std::time::Duration::from_secs(10),
            || {
                let out = Command::new("ip")
                    .args(["-n", &name, "-o", "link", "show", iface])
                    .output()?;
                Ok(String::from_utf8_lossy(&out.stdout).contains(" state UP "))
            },
        )
    }

    /// Waits until no counter in /proc/net/dev moves for `quiet`.
    pub fn wait_until_idle(&self, quiet: std::time::Duration) -> anyhow::Result<()> {
        let mut last = self.dev_counters()?;
        let mut since = std::time::Instant::now();
        crate::wait::until_true(
            format!("{} to be idle", self.name),
            std::time::Duration::from_secs(10),
            || {
                let now = self.dev_counters()?;
                if now != last {
                    last = now;
                    since = std::time::Instant::now();
                }
                Ok(since.elapsed() >= quiet)
            },
        )
    }

    /// Runs `f` on a thread that has entered this namespace (setns only moves the calling thread).
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        spawn_in(&self.name, f)?
            .join()
            .map_err(|_| anyhow::anyhow!("workload thread panicked"))?
    }
}

/// Starts `f` on a thread that enters the named namespace (`ip netns add NAME`) first.
pub fn spawn_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<thread::JoinHandle<anyhow::Result<T>>> {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).with_context(|| format!("opening {path}"))?;
    Ok(thread::spawn(move || {
        // SAFETY: a valid namespace fd; CLONE_NEWNET only affects this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setns");
        }
        f()
    }))
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}
