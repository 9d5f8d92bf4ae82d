//! /proc as a source: the readers here do the I/O; each file's parser is pure and lives in its
//! own module, tested on fixture text.

pub(crate) mod cgroup;
pub(crate) mod dev;
pub(crate) mod igmp;
pub mod inet_sockets;
pub(crate) mod owners;
pub(crate) mod route;
mod scan;
pub(crate) mod snmp;
pub(crate) mod unix_sockets;

use std::{io, path::Path};

/// /proc/net of the calling thread's network namespace. /proc/net itself links to /proc/self/net,
/// the main thread's, which a thread that entered another namespace (`--netns`) must not read.
/// Where /proc has no thread-self (a /proc that is not procfs, as netstat's golden tests mount
/// one), /proc/net is what netstat reads, so it is read too.
pub(crate) fn proc_net() -> &'static Path {
    const THREAD_SELF: &str = "/proc/thread-self/net";
    if Path::new(THREAD_SELF).is_dir() {
        Path::new(THREAD_SELF)
    } else {
        Path::new("/proc/net")
    }
}

/// Reads /proc/net/NAME of this thread's network namespace (as netstat does). `Ok(None)` when
/// the file does not exist (a protocol the kernel lacks).
pub(crate) fn read_net_file(name: &str) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(proc_net().join(name)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENODEV)) => Ok(None),
        Err(err) => Err(err),
    }
}
