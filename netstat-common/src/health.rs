//! Connection-health records: retransmits, resets and drops of sockets. The health programs
//! (netstat-ebpf/src/health.rs) write them into the TCP probe's own ring, beside its
//! transitions, so that one reader sees both in order and one counter holds both kinds' losses.
//! Userspace tells the two records apart by their sizes, which differ (asserted below).

/// The programs, by the names both sides use.
pub const HEALTH_RETRANSMIT_PROGRAM: &str = "enetstat_tcp_retransmit_skb";
pub const HEALTH_RETRANSMIT_SYNACK_PROGRAM: &str = "enetstat_tcp_retransmit_synack";
pub const HEALTH_SEND_RESET_PROGRAM: &str = "enetstat_tcp_send_reset";
pub const HEALTH_RECEIVE_RESET_PROGRAM: &str = "enetstat_tcp_receive_reset";
pub const HEALTH_DROP_PROGRAM: &str = "enetstat_sock_kfree_skb";
/// The global holding [`HealthOffsets`].
pub const HEALTH_OFFSETS_GLOBAL: &str = "HEALTH_OFFSETS";

/// `HealthRecord::kind`.
pub const HEALTH_RETRANSMIT: u8 = 1;
pub const HEALTH_RESET: u8 = 2;
pub const HEALTH_DROP: u8 = 3;

/// `HealthRecord::flags` bits.
/// A retransmit sent as a tail-loss probe: the loss-probe timer is the one pending and the
/// congestion state is Open, the only case in which the kernel sends one.
pub const HEALTH_FLAG_TLP: u8 = 1;
/// A retransmitted SYN-ACK: the record describes the request socket.
pub const HEALTH_FLAG_SYNACK: u8 = 2;
/// A reset this host sent (`tcp_send_reset`); without it, one it received.
pub const HEALTH_FLAG_SENT: u8 = 4;
/// A reset sent for a segment no socket took: the addresses are the segment's, seen from
/// this host (local is the segment's destination).
pub const HEALTH_FLAG_NO_SOCKET: u8 = 8;

/// One health event, keyed by socket cookie like `TcpStateRecord`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthRecord {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC.
    pub ts_ns: u64,
    /// `bpf_get_socket_cookie(sk)`; 0 without a socket.
    pub cookie: u64,
    pub skaddr: u64,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub comm: [u8; crate::TASK_COMM_LEN],
    pub tgid: u32,
    /// The socket's network namespace inode, 0 when unknown.
    pub netns: u32,
    /// Retransmit: what the kernel added to `Tcp: RetransSegs` for it (0 when it gave up before
    /// counting, see `err`).
    pub segments: u32,
    /// Drop: `enum skb_drop_reason`; sent reset: `enum sk_rst_reason`; retransmit: the error
    /// (0 when the segment went out).
    pub reason: i32,
    /// Host byte order.
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub kind: u8,
    pub flags: u8,
    /// The socket's state (`skc_state`), 0 when there is no socket.
    pub state: u8,
    /// `sk_protocol` (IPPROTO_TCP, IPPROTO_UDP, …), 0 when there is no socket.
    pub protocol: u8,
    pub _pad: [u8; 6],
}

const _: () = assert!(core::mem::size_of::<HealthRecord>() == 104);
const _: () = assert!(core::mem::align_of::<HealthRecord>() == 8);
const _: () = assert!(core::mem::offset_of!(HealthRecord, segments) == 80);
const _: () = assert!(core::mem::offset_of!(HealthRecord, kind) == 94);
const _: () =
    assert!(core::mem::size_of::<HealthRecord>() != core::mem::size_of::<crate::TcpStateRecord>());

/// Offsets the health programs need beyond the TCP probe's [`crate::SockOffsets`] and
/// [`crate::NetnsOffsets`] (which they share), from the kernel's BTF, set before load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthOffsets {
    /// `sock_common.skc_num`: the local port, host order (a request socket has no inet_sport).
    pub skc_num: u32,
    /// `sock_common.skc_rcv_saddr`: a request socket's local IPv4 address.
    pub skc_rcv_saddr: u32,
    /// `sock_common.skc_state` (u8).
    pub skc_state: u32,
    /// `sock_common.skc_cookie` (u64): a dropping socket's cookie, 0 if it was never asked for.
    pub skc_cookie: u32,
    /// `sock.sk_protocol` (u16).
    pub sk_protocol: u32,
    /// `sk_buff.sk`.
    pub skb_sk: u32,
    /// `sk_buff.cb`: `tcp_skb_cb.tcp_gso_segs` is its u16 at [`TCP_SKB_CB_GSO_SEGS`].
    pub skb_cb: u32,
    /// `sk_buff.head`, `network_header` and `transport_header`: a no-socket reset's addresses
    /// come from the segment's headers.
    pub skb_head: u32,
    pub skb_network_header: u32,
    pub skb_transport_header: u32,
    /// `sk_buff.dev` and `net_device.nd_net.net`: a no-socket reset's namespace.
    pub skb_dev: u32,
    pub dev_net: u32,
    /// `inet_connection_sock.icsk_pending` (u8).
    pub icsk_pending: u32,
    /// The byte holding the `icsk_ca_state:5` bit-field, and the field's shift in it.
    pub icsk_ca_state_byte: u32,
    pub icsk_ca_state_shift: u32,
    /// `SKB_DROP_REASON_QUEUE_PURGE` on this kernel (0: none): not reported. The kernel frees a
    /// destroyed socket's leftover queues with it, typically the FIN of every connection whose
    /// owner closed without reading it: bookkeeping, not lost packets.
    pub drop_reason_queue_purge: u32,
}

const _: () = assert!(core::mem::size_of::<HealthOffsets>() == 64);

/// `tcp_skb_cb.tcp_gso_segs`' place in `sk_buff.cb`, fixed since the field appeared (3.x).
pub const TCP_SKB_CB_GSO_SEGS: u32 = 8;
/// `ICSK_TIME_LOSS_PROBE` of include/net/inet_connection_sock.h, `TCP_CA_Open` of tcp.h.
pub const ICSK_TIME_LOSS_PROBE: u8 = 5;
pub const TCP_CA_OPEN: u8 = 0;

/// The errors with which `__tcp_retransmit_skb` gives up before it counts the segments in
/// `RetransSegs` (-EBUSY, -EINVAL, -ENOMEM, -EHOSTUNREACH, -EAGAIN). Every later error comes
/// from sending the counted copy.
pub const RETRANSMIT_UNCOUNTED_ERRORS: [i32; 5] = [-16, -22, -12, -113, -11];
