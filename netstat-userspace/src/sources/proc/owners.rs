//! Which process owns each socket inode: one pass over /proc/*/fd, as netstat -p does it.

use std::{ffi::CString, fs, path::Path, sync::Arc};

use super::cgroup;
use crate::model::{
    containers::Container,
    owners::{Owner, SocketOwners},
};

/// Fills the model's socket owners from /proc.
pub(crate) trait ScanOwners: Sized {
    /// One pass over /proc, with each owner's container. Processes that vanish mid-scan are
    /// skipped.
    fn scan() -> Self {
        Self::scan_with(true)
    }
    /// One pass over /proc; with `containers`, each owning process's cgroup is read too (one
    /// more file per process, which netstat's own views do not show).
    fn scan_with(containers: bool) -> Self;
    /// Re-reads one process's fds (a daemon does this for the processes its events name, instead
    /// of a full scan per request). A socket already attributed keeps its owner unless that owner
    /// is gone or has a higher pid (netstat's lowest-pid rule). Entries for sockets this process
    /// closed stay: a socket whose owner has exited shows its last owner.
    fn rescan_pid(&mut self, pid: u32);
}

impl ScanOwners for SocketOwners {
    fn scan_with(containers: bool) -> Self {
        let mut owners = SocketOwners::default();
        let mut pids: Vec<u32> = match procfs::process::all_processes() {
            Ok(processes) => processes
                .filter_map(Result::ok)
                .filter_map(|p| u32::try_from(p.pid()).ok())
                .collect(),
            Err(_) => return owners,
        };
        pids.sort_unstable();
        for pid in pids {
            scan_pid(&mut owners, pid, containers, |_| false);
        }
        owners
    }

    fn rescan_pid(&mut self, pid: u32) {
        scan_pid(self, pid, true, |owner| {
            owner.pid > pid || !Path::new(&format!("/proc/{}", owner.pid)).exists()
        });
    }
}

fn scan_pid(
    owners: &mut SocketOwners,
    pid: u32,
    containers: bool,
    replace: impl Fn(&Owner) -> bool,
) {
    // procfs' FDInfo costs four syscalls per fd (open, readlink, stat, close); this scan is
    // the hot path of -p, so list /proc/PID/fd and readlinkat() each entry relative to the
    // directory: one syscall per fd and no path walk.
    let Some(mut dir) = FdDir::open(pid, &mut owners.incomplete) else {
        return;
    };
    let mut link = [0u8; 64];
    let mut owner: Option<Owner> = None;
    while let Some(inode) = dir.next_socket_inode(&mut link) {
        if owners.get(inode).is_some_and(|owner| !replace(owner)) {
            continue;
        }
        let owner = owner.get_or_insert_with(|| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut owner = owner_from_cmdline(pid, &cmdline);
            if containers {
                owner.container = container_of(pid).map(Arc::new);
            }
            owner
        });
        owners.insert(inode, owner.clone());
    }
}

/// The container a process's cgroup names: read once per process that holds a socket.
pub(crate) fn container_of(pid: u32) -> Option<Container> {
    let text = fs::read(format!("/proc/{pid}/cgroup")).ok()?;
    Container::from_cgroup_path(cgroup::v2_path(&text)?)
}

/// An open /proc/PID/fd directory.
struct FdDir {
    dir: *mut libc::DIR,
}

impl FdDir {
    fn open(pid: u32, denied: &mut bool) -> Option<Self> {
        let path = CString::new(format!("/proc/{pid}/fd")).ok()?;
        // SAFETY: a valid NUL-terminated path.
        let dir = unsafe { libc::opendir(path.as_ptr()) };
        if dir.is_null() {
            *denied |= std::io::Error::last_os_error().raw_os_error() == Some(libc::EACCES);
            return None;
        }
        Some(FdDir { dir })
    }

    /// The next fd that is a socket, as its inode. Vanished fds are skipped.
    fn next_socket_inode(&mut self, link: &mut [u8; 64]) -> Option<u64> {
        loop {
            // SAFETY: self.dir is an open DIR stream; the entry is valid until the next readdir.
            let entry = unsafe { libc::readdir(self.dir) };
            if entry.is_null() {
                return None;
            }
            // SAFETY: d_name is NUL-terminated; dirfd of an open stream is valid.
            let len = unsafe {
                let name = (*entry).d_name.as_ptr();
                if *name == b'.' as libc::c_char {
                    continue;
                }
                libc::readlinkat(
                    libc::dirfd(self.dir),
                    name,
                    link.as_mut_ptr().cast(),
                    link.len(),
                )
            };
            if let Ok(len) = usize::try_from(len)
                && let Some(inode) = socket_inode(&link[..len])
            {
                return Some(inode);
            }
        }
    }
}

impl Drop for FdDir {
    fn drop(&mut self) {
        // SAFETY: closing the stream opened in `open`, once.
        unsafe { libc::closedir(self.dir) };
    }
}

/// The inode of an fd link `socket:[12345]`.
pub(crate) fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// netstat's owner from /proc/PID/cmdline: argv[0] (the first 511 bytes, up to the first NUL),
/// reduced to its basename when it starts with '/'.
pub(crate) fn owner_from_cmdline(pid: u32, cmdline: &[u8]) -> Owner {
    let cmdline = &cmdline[..cmdline.len().min(511)];
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let program = match argv0.iter().rposition(|&b| b == b'/') {
        Some(slash) if argv0.first() == Some(&b'/') => &argv0[slash + 1..],
        _ => argv0,
    };
    Owner::new(pid, program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[12x]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn labels_follow_netstat() {
        let label = |pid, cmdline: &[u8]| owner_from_cmdline(pid, cmdline).label;
        assert_eq!(label(42, b"/usr/sbin/sshd\0-D\0"), b"42/sshd");
        assert_eq!(label(7, b"sshd: root@pts/0\0"), b"7/sshd: root@pts/0");
        assert_eq!(
            label(1234567, b"/opt/very-long-program-name\0"),
            b"1234567/very-long-p"
        );
        assert_eq!(label(9, b""), b"9/");
        assert_eq!(label(9, b"/"), b"9/");
        assert_eq!(label(3, b"rel/ative\0"), b"3/rel/ative");
        assert_eq!(
            owner_from_cmdline(3, b"rel/ative\0").program(),
            b"rel/ative"
        );
    }
}
