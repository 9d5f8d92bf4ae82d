//! NETLINK_SOCK_DIAG dumps of TCP and UDP sockets (what `ss` uses), decoded into the same rows
//! /proc/net/tcp gives. Message decoding is pure; `dump` does the I/O.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use super::{Message, NetlinkSocket, messages};

use crate::model::sockets::InetSocketRow;

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_MSG_LEN: usize = 72;

/// A sock_diag request: which family and protocol, and a bitmask of states (1 << state).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DumpRequest {
    pub(crate) v6: bool,
    pub(crate) protocol: u8,
    pub(crate) states: u32,
}

/// The request: inet_diag_req_v2 with the sockid zeroed (no filter).
fn request_bytes(request: DumpRequest) -> Vec<u8> {
    let family = if request.v6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    let mut payload = vec![0u8; 56];
    payload[..4].copy_from_slice(&[family, request.protocol, 0, 0]);
    payload[4..8].copy_from_slice(&request.states.to_ne_bytes());
    super::request(SOCK_DIAG_BY_FAMILY, libc::NLM_F_DUMP as u16, &payload)
}

/// What one received buffer held.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) rows: Vec<InetSocketRow>,
    /// The dump is complete.
    pub(crate) done: bool,
    /// The kernel refused the request (errno), e.g. no udp_diag module.
    pub(crate) error: Option<i32>,
}

/// Decodes the netlink messages in `buf` into rows.
pub(crate) fn decode(buf: &[u8], into: &mut Decoded) {
    for message in messages(buf) {
        match message {
            Message::Done => into.done = true,
            Message::Error(errno) => {
                into.error = Some(errno);
                into.done = true;
            }
            Message::Truncated => into.error = Some(libc::EBADMSG),
            Message::Payload {
                kind: SOCK_DIAG_BY_FAMILY,
                payload,
            } => {
                if let Some(row) = decode_inet_diag_msg(payload) {
                    into.rows.push(row);
                }
            }
            Message::Payload { .. } => {}
        }
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
pub(crate) fn dump(request: DumpRequest) -> io::Result<Vec<InetSocketRow>> {
    let socket = NetlinkSocket::open(NETLINK_SOCK_DIAG, 0, false)?;
    socket.send(&request_bytes(request))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut decoded = Decoded::default();
    while !decoded.done {
        let n = socket.recv(&mut buf)?;
        if n == 0 {
            break;
        }
        decode(&buf[..n], &mut decoded);
    }
    match decoded.error {
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Ok(decoded.rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::netlink::{NLMSG_DONE, NLMSG_ERROR, test_support::message};

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
