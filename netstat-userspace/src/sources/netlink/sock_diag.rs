//! NETLINK_SOCK_DIAG dumps of TCP and UDP sockets (what `ss` uses), decoded into the same rows
//! /proc/net/tcp gives. Message decoding is pure; `dump` does the I/O.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use super::{
    AsBytes, DumpAnswer, FromBytes, Message, attributes, bytes_of, messages, read, sock_diag_dump,
    tcp_info,
};

use crate::model::{sockets::InetSocketRow, tcp_info::TcpInfo};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The first request format's type for TCP, still served (inet_diag_rcv_compat). Its dumps cover
/// both families in one walk of the kernel's hash tables (it asks with AF_UNSPEC), where the
/// `SOCK_DIAG_BY_FAMILY` request names one family and each of the two requests walks every
/// socket, skipping the other family's.
const TCPDIAG_GETSOCK: u16 = 18;
/// The attribute carrying struct tcp_info (enum inet_diag_attr), sent for a full socket when the
/// request's `ext` has its bit, `1 << (INET_DIAG_INFO - 1)`.
const INET_DIAG_INFO: u16 = 2;

// The inet_diag structs of <linux/inet_diag.h>, which libc does not have.

/// struct inet_diag_sockid. Ports and addresses in network byte order (an IPv4 address in the
/// first 4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct InetDiagSockId {
    sport: u16,
    dport: u16,
    src: [u8; 16],
    dst: [u8; 16],
    interface: u32,
    cookie: [u32; 2],
}

/// struct inet_diag_req_v2: a dump request.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct InetDiagReqV2 {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    /// Bitmask of states (1 << state).
    states: u32,
    id: InetDiagSockId,
}

/// struct inet_diag_req: the first request format (`TCPDIAG_GETSOCK`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct InetDiagReq {
    family: u8,
    src_len: u8,
    dst_len: u8,
    ext: u8,
    id: InetDiagSockId,
    /// Bitmask of states (1 << state).
    states: u32,
    dbs: u32,
}

/// struct inet_diag_msg: one socket of the answer (attributes may follow it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct InetDiagMsg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: InetDiagSockId,
    /// Milliseconds.
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

const _: () = {
    assert!(size_of::<InetDiagSockId>() == 48);
    assert!(std::mem::offset_of!(InetDiagSockId, src) == 4);
    assert!(std::mem::offset_of!(InetDiagSockId, interface) == 36);
    assert!(size_of::<InetDiagReqV2>() == 56);
    assert!(size_of::<InetDiagReq>() == 60);
    assert!(std::mem::offset_of!(InetDiagReq, states) == 52);
    assert!(size_of::<InetDiagMsg>() == 72);
    assert!(std::mem::offset_of!(InetDiagMsg, expires) == 52);
    assert!(std::mem::offset_of!(InetDiagMsg, inode) == 68);
};

// SAFETY: #[repr(C)] structs of integers and byte arrays whose sizes, asserted above, leave no
// padding.
unsafe impl FromBytes for InetDiagMsg {}
// SAFETY: as above.
unsafe impl AsBytes for InetDiagMsg {}
// SAFETY: as above.
unsafe impl AsBytes for InetDiagReqV2 {}
// SAFETY: as above.
unsafe impl AsBytes for InetDiagReq {}

/// A sock_diag request: which family and protocol, and a bitmask of states (1 << state).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DumpRequest {
    pub(crate) v6: bool,
    pub(crate) protocol: u8,
    pub(crate) states: u32,
    /// Ask for each socket's struct tcp_info (TCP only; `--tcp-info`).
    pub(crate) tcp_info: bool,
}

/// The `ext` bits asking for INET_DIAG_INFO, or none.
fn extensions(tcp_info: bool) -> u8 {
    if tcp_info {
        1 << (INET_DIAG_INFO - 1)
    } else {
        0
    }
}

/// The request: inet_diag_req_v2 with the sockid zeroed (no filter).
fn request_bytes(request: DumpRequest) -> Vec<u8> {
    let family = if request.v6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    let payload = InetDiagReqV2 {
        family,
        protocol: request.protocol,
        ext: extensions(request.tcp_info),
        states: request.states,
        ..InetDiagReqV2::default()
    };
    super::request(
        SOCK_DIAG_BY_FAMILY,
        libc::NLM_F_DUMP as u16,
        bytes_of(&payload),
    )
}

/// One socket of a dump: the row /proc would show, and what only sock_diag tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiagSocket {
    pub(crate) row: InetSocketRow,
    /// `sock_gen_cookie`: what `bpf_get_socket_cookie` returns for the same socket, never reused.
    /// A time-wait socket carries the cookie of the socket it replaced.
    pub(crate) cookie: u64,
    /// Milliseconds until the socket's timer fires (for a time-wait socket, until it goes).
    pub(crate) expires_ms: u32,
    /// INET_DIAG_INFO, when asked for and sent: the kernel sends it for full sockets (listeners
    /// included), not for time-wait and request sockets. Boxed: most dumps carry none.
    pub(crate) tcp_info: Option<Box<TcpInfo>>,
}

/// What one received buffer held.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) rows: Vec<DiagSocket>,
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
                kind: SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK,
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
fn decode_inet_diag_msg(payload: &[u8]) -> Option<DiagSocket> {
    let msg = read::<InetDiagMsg>(payload)?;
    let v6 = i32::from(msg.family) == libc::AF_INET6;
    let addr = |bytes: [u8; 16]| -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        }
    };
    const TCP_LISTEN: u8 = 10;
    // For a listener sock_diag reports the backlog limit as its write queue; /proc reports 0.
    let tx_queue = if msg.state == TCP_LISTEN {
        0
    } else {
        u64::from(msg.wqueue)
    };
    let row = InetSocketRow {
        local: addr(msg.id.src),
        local_port: u16::from_be(msg.id.sport),
        remote: addr(msg.id.dst),
        remote_port: u16::from_be(msg.id.dport),
        state: msg.state,
        timer: msg.timer,
        timer_ticks: u64::from(msg.expires) / 10,
        retransmits: u64::from(msg.retrans),
        rx_queue: u64::from(msg.rqueue),
        tx_queue,
        uid: msg.uid,
        timeout: 0,
        inode: u64::from(msg.inode),
    };
    let tcp_info = attributes(payload.get(size_of::<InetDiagMsg>()..).unwrap_or_default())
        .find(|&(kind, _)| kind == INET_DIAG_INFO)
        .map(|(_, value)| Box::new(tcp_info::decode(value)));
    Some(DiagSocket {
        row,
        // sock_diag_save_cookie: the low half first.
        cookie: u64::from(msg.id.cookie[0]) | (u64::from(msg.id.cookie[1]) << 32),
        expires_ms: msg.expires,
        tcp_info,
    })
}

/// Dumps one family/protocol. Errors mean "use /proc instead" (no diag module, no netlink).
///
/// The rows come in the kernel's hash-table order, the order /proc/net/tcp prints. Only
/// `timer`, `timer_ticks`, `retransmits` and `timeout` are not /proc's: sock_diag reports
/// probes instead of retransmits for some timers and has no probe count, so `-o` uses /proc.
/// Each socket keeps its cookie and timer, and its tcp_info when the request asks for it.
pub(crate) fn dump(request: DumpRequest) -> io::Result<Vec<DiagSocket>> {
    Ok(sock_diag_dump::<Decoded>(&request_bytes(request))?.rows)
}

/// Every TCP socket of both families in `states`, with cookies and timers (and tcp_info when
/// asked), in the kernel's hash-table order (a family's rows keep the order its own dump would
/// give): in one walk where the kernel serves `TCPDIAG_GETSOCK`, else one dump per family.
pub(crate) fn dump_tcp(states: u32, tcp_info: bool) -> io::Result<Vec<DiagSocket>> {
    dump_tcp_both_families(states, tcp_info).or_else(|_| {
        let family = |v6| {
            dump(DumpRequest {
                v6,
                protocol: libc::IPPROTO_TCP as u8,
                states,
                tcp_info,
            })
        };
        let mut sockets = family(false)?;
        sockets.extend(family(true)?);
        Ok(sockets)
    })
}

/// Both families' TCP sockets, each visited once (see `TCPDIAG_GETSOCK`).
fn dump_tcp_both_families(states: u32, tcp_info: bool) -> io::Result<Vec<DiagSocket>> {
    let payload = InetDiagReq {
        // Ignored: the kernel dumps this request with AF_UNSPEC.
        family: libc::AF_INET as u8,
        ext: extensions(tcp_info),
        states,
        ..InetDiagReq::default()
    };
    let request = super::request(TCPDIAG_GETSOCK, libc::NLM_F_DUMP as u16, bytes_of(&payload));
    Ok(sock_diag_dump::<Decoded>(&request)?.rows)
}

impl DumpAnswer for Decoded {
    fn decode(&mut self, datagram: &[u8]) {
        decode(datagram, self);
    }

    fn done(&self) -> bool {
        self.done
    }

    fn error(&self) -> Option<i32> {
        self.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::netlink::{NLMSG_DONE, NLMSG_ERROR, test_support::message};

    fn established() -> InetDiagMsg {
        let mut msg = InetDiagMsg {
            family: libc::AF_INET as u8,
            state: 1, // ESTABLISHED
            timer: 2, // keepalive
            expires: 47190,
            rqueue: 5,
            wqueue: 16,
            uid: 1000,
            inode: 83817,
            ..InetDiagMsg::default()
        };
        msg.id.sport = 8080u16.to_be();
        msg.id.dport = 41938u16.to_be();
        msg.id.src[..4].copy_from_slice(&[127, 0, 0, 1]);
        msg.id.dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        msg.id.cookie = [0x1c72e, 2];
        msg
    }

    fn decode_all(buf: &[u8]) -> Decoded {
        let mut decoded = Decoded::default();
        decode(buf, &mut decoded);
        decoded
    }

    fn error_message(errno: i32) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        payload.extend(super::super::request(SOCK_DIAG_BY_FAMILY, 0, &[])); // the request echoed
        message(NLMSG_ERROR, &payload)
    }

    #[test]
    fn decodes_rows_and_done() {
        let mut buf = message(SOCK_DIAG_BY_FAMILY, bytes_of(&established()));
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        let decoded = decode_all(&buf);
        assert!(decoded.done);
        assert_eq!(decoded.error, None);
        let socket = &decoded.rows[0];
        assert_eq!(socket.cookie, 0x0000_0002_0001_c72e);
        assert_eq!(socket.expires_ms, 47190);
        let row = &socket.row;
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
    fn decodes_the_kernel_layout() {
        // The same socket laid out by hand at <linux/inet_diag.h>'s offsets.
        let mut m = vec![0u8; 72];
        m[0] = libc::AF_INET as u8;
        m[1] = 1;
        m[2] = 2;
        m[4..6].copy_from_slice(&8080u16.to_be_bytes());
        m[6..8].copy_from_slice(&41938u16.to_be_bytes());
        m[8..12].copy_from_slice(&[127, 0, 0, 1]);
        m[24..28].copy_from_slice(&[10, 0, 0, 2]);
        m[44..48].copy_from_slice(&0x1c72eu32.to_ne_bytes());
        m[48..52].copy_from_slice(&2u32.to_ne_bytes());
        m[52..56].copy_from_slice(&47190u32.to_ne_bytes());
        m[56..60].copy_from_slice(&5u32.to_ne_bytes());
        m[60..64].copy_from_slice(&16u32.to_ne_bytes());
        m[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        m[68..72].copy_from_slice(&83817u32.to_ne_bytes());
        assert_eq!(m, bytes_of(&established()));
    }

    #[test]
    fn decodes_ipv6_listeners_and_skips_trailing_attributes() {
        let mut msg = InetDiagMsg {
            family: libc::AF_INET6 as u8,
            state: 10, // LISTEN
            wqueue: 4096,
            ..InetDiagMsg::default()
        };
        msg.id.sport = 22u16.to_be();
        msg.id.src = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
        let mut payload = bytes_of(&msg).to_vec();
        payload.extend([8, 0, 1, 0, 0, 0, 0, 0]); // an INET_DIAG_MEMINFO-like attribute
        let decoded = decode_all(&message(SOCK_DIAG_BY_FAMILY, &payload));
        let row = &decoded.rows[0].row;
        assert_eq!(row.local, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(row.remote, "::".parse::<IpAddr>().unwrap());
        assert_eq!((row.local_port, row.state, row.tx_queue), (22, 10, 0));
    }

    #[test]
    fn errors_and_truncation_are_reported() {
        let decoded = decode_all(&error_message(libc::ENOENT));
        assert_eq!(decoded.error, Some(libc::ENOENT));
        assert!(decoded.done);
        let mut buf = message(SOCK_DIAG_BY_FAMILY, bytes_of(&established()));
        buf.truncate(40);
        let decoded = decode_all(&buf);
        assert_eq!(decoded.error, Some(libc::EBADMSG));
        assert!(decoded.rows.is_empty());
    }

    #[test]
    fn a_short_or_absurd_error_is_ebadmsg() {
        let decoded = decode_all(&message(NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes()));
        assert_eq!(decoded.error, Some(libc::EBADMSG));
        let mut buf = error_message(libc::ENOENT);
        buf[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert_eq!(decode_all(&buf).error, Some(libc::EBADMSG));
    }

    #[test]
    fn short_payloads_are_skipped() {
        let decoded = decode_all(&message(SOCK_DIAG_BY_FAMILY, &[0; 10]));
        assert!(decoded.rows.is_empty());
    }

    #[test]
    fn every_truncation_and_bad_length_is_survived() {
        let mut buf = message(SOCK_DIAG_BY_FAMILY, bytes_of(&established()));
        buf.extend(message(SOCK_DIAG_BY_FAMILY, bytes_of(&established())));
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        for len in 0..buf.len() {
            let decoded = decode_all(&buf[..len]);
            assert!(decoded.rows.len() <= 2 && !decoded.done, "at {len}");
        }
        for bad_len in [0u32, 1, 15, 16, 17, 89, u32::MAX] {
            let mut bad = buf.clone();
            bad[..4].copy_from_slice(&bad_len.to_ne_bytes());
            let decoded = decode_all(&bad);
            assert!(decoded.rows.len() <= 2, "nlmsg_len {bad_len}");
        }
    }

    #[test]
    fn one_dump_lists_both_families_with_their_cookies() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        let sockets = dump_tcp_both_families(1 << 10, false).unwrap();
        for listener in [&v4, &v6] {
            let addr = listener.local_addr().unwrap();
            let socket = sockets
                .iter()
                .find(|s| s.row.local == addr.ip() && s.row.local_port == addr.port())
                .unwrap_or_else(|| panic!("{addr} not dumped"));
            assert_ne!(socket.cookie, 0);
            let single = dump(DumpRequest {
                v6: addr.is_ipv6(),
                protocol: libc::IPPROTO_TCP as u8,
                states: 1 << 10,
                tcp_info: false,
            })
            .unwrap();
            assert!(
                single.contains(socket),
                "the same row and cookie as a v2 dump"
            );
        }
    }

    #[test]
    fn dumps_a_listener_of_this_process() {
        // sock_diag dumps need no privileges.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rows = dump(DumpRequest {
            v6: false,
            protocol: libc::IPPROTO_TCP as u8,
            states: 1 << 10,
            tcp_info: false,
        })
        .unwrap();
        let socket = rows.iter().find(|s| s.row.local_port == port).unwrap();
        let row = &socket.row;
        assert_eq!(row.local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((row.state, row.tx_queue), (10, 0));
        assert_ne!(row.inode, 0);
        assert_eq!(socket.tcp_info, None, "not asked for");
    }

    #[test]
    fn tcp_info_comes_only_when_asked_for() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        for tcp_info in [false, true] {
            let sockets = dump_tcp(1 << 10, tcp_info).unwrap();
            let socket = sockets.iter().find(|s| s.row.local_port == port).unwrap();
            // A listener is a full socket: the kernel sends its tcp_info (cwnd starts at 10).
            assert_eq!(socket.tcp_info.is_some(), tcp_info);
            if let Some(info) = &socket.tcp_info {
                assert_eq!(info.cwnd, Some(10));
                assert_eq!(info.bytes_acked, Some(0));
            }
        }
    }

    #[test]
    fn decodes_an_inet_diag_info_attribute() {
        let info = tcp_info::tests::fixture();
        let mut payload = bytes_of(&established()).to_vec();
        // An attribute before it, as INET_DIAG_PAD or MEMINFO may come first.
        payload.extend([8, 0, 1, 0, 0, 0, 0, 0]);
        let len = u16::try_from(4 + info.len()).unwrap();
        payload.extend(len.to_ne_bytes());
        payload.extend(INET_DIAG_INFO.to_ne_bytes());
        payload.extend(&info);
        let decoded = decode_all(&message(SOCK_DIAG_BY_FAMILY, &payload));
        let got = decoded.rows[0].tcp_info.as_deref().unwrap();
        assert_eq!(*got, tcp_info::decode(&info));
        assert_eq!((got.rtt_us, got.cwnd), (Some(41), Some(10)));
        // Without the attribute, none; a value cut short by the message keeps what it holds.
        let plain = decode_all(&message(SOCK_DIAG_BY_FAMILY, bytes_of(&established())));
        assert_eq!(plain.rows[0].tcp_info, None);
        let short = &payload[..payload.len() - 120];
        let mut cut = short.to_vec();
        let at = cut.len() - (info.len() - 120) - 4;
        cut[at..at + 2]
            .copy_from_slice(&u16::try_from(4 + info.len() - 120).unwrap().to_ne_bytes());
        let decoded = decode_all(&message(SOCK_DIAG_BY_FAMILY, &cut));
        let got = decoded.rows[0].tcp_info.as_deref().unwrap();
        assert_eq!(got.total_retrans, Some(7));
        assert_eq!(got.bytes_acked, None);
    }
}
