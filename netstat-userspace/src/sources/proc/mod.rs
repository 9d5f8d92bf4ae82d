//! /proc as a source: the readers here do the I/O; each file's parser is pure and lives in its
//! own module, tested on fixture text.

pub mod dev;
pub mod igmp;
pub mod inet_sockets;
pub mod owners;
pub mod route;
mod scan;
pub mod snmp;
pub mod unix_sockets;

use std::{io, path::Path};

/// Reads /proc/net/NAME of this process's network namespace (as netstat does). `Ok(None)` when
/// the file does not exist (a protocol the kernel lacks).
pub fn read_net_file(name: &str) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(Path::new("/proc/net").join(name)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENODEV)) => Ok(None),
        Err(err) => Err(err),
    }
}
