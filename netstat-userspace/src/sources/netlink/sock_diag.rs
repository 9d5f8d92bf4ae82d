//! NETLINK_SOCK_DIAG dumps of TCP and UDP sockets (what `ss` uses), decoded into the same rows
//! /proc/net/tcp gives. Message decoding is pure; `dump` does the I/O.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use crate::sources::proc::inet_sockets::InetSocketRow;

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HEADER_LEN: usize = 16;
const INET_DIAG_MSG_LEN: usize = 72;

/// A sock_diag request: which family and protocol, and a bitmask of states (1 << state).
#[derive(Clone, Copy, Debug)]
pub struct DumpRequest {
    pub v6: bool,
    pub protocol: u8,
    pub states: u32,
}

/// The request message: nlmsghdr followed by inet_diag_req_v2 (sockid zeroed: no filter).
fn request_bytes(request: DumpRequest) -> Vec<u8> {
    let total = NLMSG_HEADER_LEN + 56;
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    let family = if request.v6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    msg.extend_from_slice(&[family, request.protocol, 0, 0]);
    msg.extend_from_slice(&request.states.to_ne_bytes());
    msg.resize(total, 0);
    msg
}

/// What one received buffer held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub rows: Vec<InetSocketRow>,
    /// The dump is complete.
    pub done: bool,
    /// The kernel refused the request (errno), e.g. no udp_diag module.
    pub error: Option<i32>,
}

/// Decodes the netlink messages in `buf` into rows.
pub fn decode(buf: &[u8], into: &mut Decoded) {
    let mut offset = 0;
    while offset + NLMSG_HEADER_LEN <= buf.len() {
        let u32_at = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default());
        let len = u32_at(offset) as usize;
        let kind = u16::from_ne_bytes([buf[offset + 4], buf[offset + 5]]);
        if len < NLMSG_HEADER_LEN || offset + len > buf.len() {
            into.error = Some(libc::EBADMSG);
            return;
        }
        let payload = &buf[offset + NLMSG_HEADER_LEN..offset + len];
        match kind {
            NLMSG_DONE => into.done = true,
            NLMSG_ERROR => {
                let errno = payload.get(..4).map_or(libc::EBADMSG, |b| {
                    -i32::from_ne_bytes(b.try_into().unwrap_or_default())
                });
                into.error = Some(errno);
                into.done = true;
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(row) = decode_inet_diag_msg(payload) {
                    into.rows.push(row);
                }
            }
            _ => {}
        }
        offset += len.next_multiple_of(4);
    }
}

/// struct inet_diag_msg -> the /proc row netstat would have read. The timer columns differ in
/// meaning from /proc's (see `dump`), so callers that print timers use /proc.
fn decode_inet_diag_msg(msg: &[u8]) -> Option<InetSocketRow> {
    if msg.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let u32_ne = |at: usize| u32::from_ne_bytes(msg[at..at + 4].try_into().unwrap_or_default());
    let port = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let addr = |at: usize| -> IpAddr {
        if i32::from(msg[0]) == libc::AF_INET6 {
            let octets: [u8; 16] = msg[at..at + 16].try_into().unwrap_or_default();
            IpAddr::V6(Ipv6Addr::from(octets))
        } else {
            IpAddr::V4(Ipv4Addr::new(
                msg[at],
                msg[at + 1],
                msg[at + 2],
                msg[at + 3],
            ))
        }
    };
    const TCP_LISTEN: u8 = 10;
    let state = msg[1];
    // For a listener sock_diag reports the backlog limit as its write queue; /proc reports 0.
    let tx_queue = if state == TCP_LISTEN {
        0
    } else {
        u64::from(u32_ne(60))
    };
    Some(InetSocketRow {
        local: addr(8),
        local_port: port(4),
        remote: addr(24),
        remote_port: port(6),
        state,
        timer: msg[2],
        timer_ticks: u64::from(u32_ne(52)) / 10,
        retransmits: u64::from(msg[3]),
        rx_queue: u64::from(u32_ne(56)),
        tx_queue,
        uid: u32_ne(64),
        timeout: 0,
        inode: u64::from(u32_ne(68)),
    })
}

/// Dumps one family/protocol. Errors mean "use /proc instead" (no diag module, no netlink).
///
/// The rows come in the kernel's hash-table order, the order /proc/net/tcp prints. Only
/// `timer`, `timer_ticks`, `retransmits` and `timeout` are not /proc's: sock_diag reports
/// probes instead of retransmits for some timers and has no probe count, so `-o` uses /proc.
pub fn dump(request: DumpRequest) -> io::Result<Vec<InetSocketRow>> {
    // SAFETY: plain socket(2); the fd is owned from here on.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let message = request_bytes(request);
    // SAFETY: sending a valid buffer on our socket (to the kernel: no address needed).
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut decoded = Decoded::default();
    while !decoded.done {
        // SAFETY: receiving into a buffer of the stated length.
        let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            break;
        }
        decode(&buf[..n as usize], &mut decoded);
    }
    match decoded.error {
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Ok(decoded.rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HEADER_LEN + payload.len();
        let mut msg = Vec::new();
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(payload);
        msg.resize(len.next_multiple_of(4), 0);
        msg
    }

    fn diag_msg() -> Vec<u8> {
        let mut m = vec![0u8; INET_DIAG_MSG_LEN];
        m[0] = libc::AF_INET as u8;
        m[1] = 1; // ESTABLISHED
        m[2] = 2; // keepalive
        m[4..6].copy_from_slice(&8080u16.to_be_bytes());
        m[6..8].copy_from_slice(&41938u16.to_be_bytes());
        m[8..12].copy_from_slice(&[127, 0, 0, 1]);
        m[24..28].copy_from_slice(&[10, 0, 0, 2]);
        m[52..56].copy_from_slice(&47190u32.to_ne_bytes());
        m[56..60].copy_from_slice(&5u32.to_ne_bytes());
        m[60..64].copy_from_slice(&16u32.to_ne_bytes());
        m[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        m[68..72].copy_from_slice(&83817u32.to_ne_bytes());
        m
    }

    #[test]
    fn decodes_rows_and_done() {
        let mut buf = message(SOCK_DIAG_BY_FAMILY, &diag_msg());
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        let mut decoded = Decoded::default();
        decode(&buf, &mut decoded);
        assert!(decoded.done);
        assert_eq!(decoded.error, None);
        let row = &decoded.rows[0];
        assert_eq!(row.local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((row.local_port, row.remote_port), (8080, 41938));
        assert_eq!(row.remote, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            (row.rx_queue, row.tx_queue, row.uid, row.inode),
            (5, 16, 1000, 83817)
        );
        assert_eq!((row.state, row.timer, row.timer_ticks), (1, 2, 4719));
    }

    #[test]
    fn errors_and_truncation_are_reported() {
        let mut decoded = Decoded::default();
        decode(
            &message(NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes()),
            &mut decoded,
        );
        assert_eq!(decoded.error, Some(libc::ENOENT));
        let mut decoded = Decoded::default();
        let mut buf = message(SOCK_DIAG_BY_FAMILY, &diag_msg());
        buf.truncate(40);
        decode(&buf, &mut decoded);
        assert_eq!(decoded.error, Some(libc::EBADMSG));
        assert!(decoded.rows.is_empty());
    }

    #[test]
    fn short_payloads_are_skipped() {
        let mut decoded = Decoded::default();
        decode(&message(SOCK_DIAG_BY_FAMILY, &[0; 10]), &mut decoded);
        assert!(decoded.rows.is_empty());
    }
}
