//! Netlink sources: sock_diag dumps the kernel's socket tables without formatting them as text,
//! which is several times cheaper than /proc/net/tcp at 100,000 sockets (BENCHMARKS.md); route
//! (rtnetlink) lists interfaces and reports them appearing, changing and vanishing.
//!
//! This module holds what both share: the socket, request framing and message splitting.

pub(crate) mod link;
pub(crate) mod sock_diag;

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd as _, OwnedFd, RawFd},
};

pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_HEADER_LEN: usize = 16;

/// A netlink socket to the kernel.
pub(crate) struct NetlinkSocket {
    fd: OwnedFd,
}

impl NetlinkSocket {
    /// Opens a `protocol` socket subscribed to the multicast `groups` (a bitmask; 0 for none).
    pub(crate) fn open(protocol: libc::c_int, groups: u32, nonblocking: bool) -> io::Result<Self> {
        let flags = if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
        // SAFETY: plain socket(2); the fd is owned from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | flags,
                protocol,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if groups != 0 {
            // SAFETY: sockaddr_nl is plain data; all-zero is valid.
            let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            addr.nl_family = libc::AF_NETLINK as u16;
            addr.nl_groups = groups;
            // SAFETY: binding our socket to a valid, correctly sized address.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_nl>() as u32,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(NetlinkSocket { fd })
    }

    pub(crate) fn send(&self, message: &[u8]) -> io::Result<()> {
        // SAFETY: sending a valid buffer on our socket (to the kernel: no address needed).
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One datagram into `buf`; retries on EINTR.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: receiving into a buffer of the stated length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NetlinkSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A request: nlmsghdr (kernel as the peer, sequence 1) followed by `payload`.
pub(crate) fn request(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let total = NLMSG_HEADER_LEN + payload.len();
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    msg.extend_from_slice(payload);
    msg
}

/// One message of a received buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    Payload {
        kind: u16,
        payload: &'a [u8],
    },
    Done,
    /// The kernel refused the request (errno).
    Error(i32),
    /// A length that runs past the buffer: the rest is unusable.
    Truncated,
}

/// Splits a received buffer into its messages.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset + NLMSG_HEADER_LEN > buf.len() {
            return None;
        }
        let len =
            u32::from_ne_bytes(buf[offset..offset + 4].try_into().unwrap_or_default()) as usize;
        let kind = u16::from_ne_bytes([buf[offset + 4], buf[offset + 5]]);
        if len < NLMSG_HEADER_LEN || offset + len > buf.len() {
            offset = buf.len();
            return Some(Message::Truncated);
        }
        let payload = &buf[offset + NLMSG_HEADER_LEN..offset + len];
        offset += len.next_multiple_of(4);
        Some(match kind {
            NLMSG_DONE => Message::Done,
            NLMSG_ERROR => Message::Error(payload.get(..4).map_or(libc::EBADMSG, |b| {
                -i32::from_ne_bytes(b.try_into().unwrap_or_default())
            })),
            kind => Message::Payload { kind, payload },
        })
    })
}

/// Route attributes (struct rtattr: u16 length, u16 type, value padded to 4) as (type, value).
pub(crate) fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]);
        if len < 4 || len > buf.len() {
            buf = &[];
            return None;
        }
        let value = &buf[4..len];
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((kind, value))
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    /// A netlink message as the kernel frames it.
    pub(crate) fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut msg = super::request(kind, 0, payload);
        msg.resize(msg.len().next_multiple_of(4), 0);
        msg
    }
}
