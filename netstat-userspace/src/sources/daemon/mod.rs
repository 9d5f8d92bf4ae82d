//! The daemon's socket as a source: the wire types both ends speak ([`protocol`]) and the client
//! ([`client`]). The server (`daemon::server`) imports them from here.

pub(crate) mod client;
pub(crate) mod protocol;

/// The default socket: under /run, like other daemons' control sockets.
pub const DEFAULT_SOCKET: &str = "/run/enetstat/enetstat.sock";

/// This process's network namespace: the inode of /proc/self/ns/net.
pub(crate) fn own_netns() -> Option<u64> {
    let namespaces = procfs::process::Process::myself().ok()?.namespaces().ok()?;
    Some(namespaces.0.get(std::ffi::OsStr::new("net"))?.identifier)
}

/// The inode of a socket's fd, as /proc/net/unix lists it: each end leaves its own out of the
/// views it asks for or answers.
pub(crate) fn socket_inode(socket: &impl std::os::fd::AsRawFd) -> Option<u64> {
    // SAFETY: stat is plain data; all zeroes is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a valid fd with a valid out-pointer.
    (unsafe { libc::fstat(socket.as_raw_fd(), &mut stat) } == 0).then_some(stat.st_ino)
}
