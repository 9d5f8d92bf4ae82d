//! Netlink sources: sock_diag dumps the kernel's socket tables without formatting them as text,
//! which is several times cheaper than /proc/net/tcp at 100,000 sockets (BENCHMARKS.md); route
//! (rtnetlink) lists interfaces and reports them appearing, changing and vanishing.
//!
//! This module holds what both share: the socket, request framing, message splitting and the
//! attribute iterator. Kernel structs are `#[repr(C)]` types (libc's where libc 0.2 has them,
//! else defined beside their decoder with their layout asserted) read with [`read`]: a length
//! check, then one unaligned copy.
//!
//! Not the netlink-packet-core/-route/-sock-diag crates: they are not in the dependency tree,
//! and they parse each message's attributes into a `Vec` of owned values, an allocation or more
//! per socket on the 100,000-socket dump that is the hot path of `-tan`; the six structs read
//! here take less code than adopting them would.

pub(crate) mod link;
pub(crate) mod sock_diag;
mod tcp_info;
pub(crate) mod unix_diag;

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd as _, OwnedFd, RawFd},
};

pub(crate) const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
pub(crate) const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
const NLMSG_HEADER_LEN: usize = size_of::<libc::nlmsghdr>();
const _: () = assert!(NLMSG_HEADER_LEN == 16);
const _: () = assert!(size_of::<libc::nlmsgerr>() == 20);
const _: () = assert!(size_of::<libc::rtattr>() == 4);

/// A kernel struct that may be read from any bytes: `#[repr(C)]`, made only of integers, byte
/// arrays, other `FromBytes` structs and libc's `Padding` (a `MaybeUninit`), so every bit pattern
/// is a valid value.
///
/// # Safety
/// Implement only for types like that.
pub(crate) unsafe trait FromBytes: Copy {}

/// A kernel struct whose bytes may all be sent: `#[repr(C)]` with no padding, implicit or libc's.
///
/// # Safety
/// Implement only for types like that (every byte of a value is initialised).
pub(crate) unsafe trait AsBytes: Copy {}

// SAFETY: an integer, and libc's #[repr(C)] structs of integer fields (ifinfomsg's one pad byte
// is libc's MaybeUninit `Padding`, valid for any byte). nlmsghdr (4+2+2+4+4) and rtattr (2+2)
// have no padding.
unsafe impl FromBytes for u32 {}
// SAFETY: as above.
unsafe impl FromBytes for libc::nlmsghdr {}
// SAFETY: as above.
unsafe impl FromBytes for libc::nlmsgerr {}
// SAFETY: as above.
unsafe impl FromBytes for libc::rtattr {}
// SAFETY: as above.
unsafe impl FromBytes for libc::ifinfomsg {}
// SAFETY: as above; AsBytes needs no padding, which nlmsghdr has none of.
unsafe impl AsBytes for libc::nlmsghdr {}
// SAFETY: as above; rtattr has no padding.
unsafe impl AsBytes for libc::rtattr {}

/// The `T` at the start of `bytes` (which may be longer), or None if `bytes` is too short.
pub(crate) fn read<T: FromBytes>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the check above keeps the read inside `bytes`; read_unaligned has no alignment
    // requirement; and any bytes are a valid T (FromBytes).
    Some(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

/// The bytes of `value`, as the kernel reads them.
pub(crate) fn bytes_of<T: AsBytes>(value: &T) -> &[u8] {
    // SAFETY: the slice covers exactly the referenced value, borrowed for the slice's lifetime,
    // and all of its bytes are initialised (AsBytes: no padding).
    unsafe { std::slice::from_raw_parts((&raw const *value).cast::<u8>(), size_of::<T>()) }
}

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

/// A dump's answer, decoded datagram by datagram.
pub(crate) trait DumpAnswer: Default {
    /// Decodes the messages of one datagram.
    fn decode(&mut self, datagram: &[u8]);
    /// NLMSG_DONE (or an error) has arrived.
    fn done(&self) -> bool;
    /// The kernel refused the request (errno).
    fn error(&self) -> Option<i32>;
}

/// Sends one NETLINK_SOCK_DIAG dump request (a whole message) and decodes its answer.
pub(crate) fn sock_diag_dump<A: DumpAnswer>(request: &[u8]) -> io::Result<A> {
    let socket = NetlinkSocket::open(libc::NETLINK_SOCK_DIAG, 0, false)?;
    socket.send(request)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut answer = A::default();
    while !answer.done() {
        let n = socket.recv(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.decode(&buf[..n]);
    }
    match answer.error() {
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Ok(answer),
    }
}

/// A request: nlmsghdr (kernel as the peer, sequence 1) followed by `payload`.
pub(crate) fn request(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let total = NLMSG_HEADER_LEN + payload.len();
    let header = libc::nlmsghdr {
        nlmsg_len: total as u32,
        nlmsg_type: kind,
        nlmsg_flags: flags | libc::NLM_F_REQUEST as u16,
        nlmsg_seq: 1,
        nlmsg_pid: 0, // the kernel's
    };
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(bytes_of(&header));
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
    let mut rest = buf;
    std::iter::from_fn(move || {
        let header = read::<libc::nlmsghdr>(rest)?;
        let len = header.nlmsg_len as usize;
        let Some(payload) = rest.get(NLMSG_HEADER_LEN..len) else {
            // Shorter than its header, or running past the buffer.
            rest = &[];
            return Some(Message::Truncated);
        };
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some(match header.nlmsg_type {
            NLMSG_DONE => Message::Done,
            NLMSG_ERROR => Message::Error(
                read::<libc::nlmsgerr>(payload).map_or(libc::EBADMSG, |err| {
                    err.error.checked_neg().unwrap_or(libc::EBADMSG)
                }),
            ),
            kind => Message::Payload { kind, payload },
        })
    })
}

/// Route attributes (struct rtattr, its value padded to 4) as (type, value). A length that runs
/// past the buffer ends the list.
pub(crate) fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let header = read::<libc::rtattr>(buf)?;
        let len = usize::from(header.rta_len);
        let Some(value) = buf.get(size_of::<libc::rtattr>()..len) else {
            buf = &[];
            return None;
        };
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((header.rta_type, value))
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

    /// A route attribute as the kernel frames it.
    pub(crate) fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let header = libc::rtattr {
            rta_len: (size_of::<libc::rtattr>() + value.len()) as u16,
            rta_type: kind,
        };
        let mut out = super::bytes_of(&header).to_vec();
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{test_support::*, *};

    #[test]
    fn reads_need_the_whole_struct() {
        let header = libc::nlmsghdr {
            nlmsg_len: 20,
            nlmsg_type: 16,
            nlmsg_flags: 2,
            nlmsg_seq: 7,
            nlmsg_pid: 9,
        };
        let mut bytes = vec![0xff]; // unaligned from here
        bytes.extend_from_slice(bytes_of(&header));
        let read_back = read::<libc::nlmsghdr>(&bytes[1..]).unwrap();
        assert_eq!((read_back.nlmsg_len, read_back.nlmsg_seq), (20, 7));
        assert!(read::<libc::nlmsghdr>(&bytes[1..16]).is_none());
        assert!(read::<u32>(&[]).is_none());
    }

    #[test]
    fn splits_messages_and_stops_at_a_bad_length() {
        let mut buf = message(16, &[1, 2, 3]);
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        assert_eq!(
            messages(&buf).collect::<Vec<_>>(),
            vec![
                Message::Payload {
                    kind: 16,
                    payload: &[1, 2, 3]
                },
                Message::Done
            ]
        );
        for bad_len in [0u32, 15, 100, u32::MAX] {
            let mut bad = buf.clone();
            bad[..4].copy_from_slice(&bad_len.to_ne_bytes());
            assert_eq!(messages(&bad).collect::<Vec<_>>(), vec![Message::Truncated]);
        }
        // Fewer bytes than a header: nothing.
        assert_eq!(messages(&buf[..15]).count(), 0);
    }

    #[test]
    fn iterates_attributes_and_stops_at_a_bad_length() {
        let mut buf = attribute(3, b"lo\0");
        buf.extend(attribute(4, &65536u32.to_ne_bytes()));
        let all: Vec<_> = attributes(&buf).collect();
        assert_eq!(
            all,
            vec![(3, &b"lo\0"[..]), (4, &65536u32.to_ne_bytes()[..])]
        );
        for bad_len in [0u16, 3, 9, u16::MAX] {
            let mut bad = buf.clone();
            bad[8..10].copy_from_slice(&bad_len.to_ne_bytes());
            assert_eq!(attributes(&bad).count(), 1, "rta_len {bad_len}");
        }
        // The last attribute may lack its padding.
        assert_eq!(attributes(&buf[..buf.len() - 1]).count(), 1);
        assert_eq!(attributes(&buf[..7]).count(), 1);
    }
}
