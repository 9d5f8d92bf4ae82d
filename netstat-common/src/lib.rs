//! The records exchanged between enetstat's eBPF programs and its userspace.
//!
//! Every type here is `#[repr(C)]` with its padding spelled out, so the kernel and userspace
//! builds agree byte for byte; the sizes are asserted at compile time.
#![no_std]

mod health;
mod interfaces;

pub use health::*;
pub use interfaces::*;

/// Length of a task's `comm`, including its NUL (the kernel's TASK_COMM_LEN).
pub const TASK_COMM_LEN: usize = 16;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;

/// How many ports one kernel-side port filter can hold.
pub const MAX_FILTER_PORTS: usize = 8;

/// One `sock:inet_sock_set_state` transition of a TCP socket, as written to the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpStateRecord {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC.
    pub ts_ns: u64,
    /// Kernel address of the `struct sock`: the socket's identity while it lives.
    pub skaddr: u64,
    /// Source (local) address: the first 4 bytes for AF_INET.
    pub saddr: [u8; 16],
    /// Destination (remote) address: the first 4 bytes for AF_INET.
    pub daddr: [u8; 16],
    /// `comm` of the task on the CPU, which is not always the socket's owner.
    pub comm: [u8; TASK_COMM_LEN],
    /// Thread-group id (the process id) of the task on the CPU.
    pub tgid: u32,
    /// Local port, host byte order (0 before connect() picks one).
    pub sport: u16,
    /// Remote port, host byte order.
    pub dport: u16,
    pub family: u16,
    pub oldstate: u8,
    pub newstate: u8,
    /// The socket's network namespace (the inode of /proc/PID/ns/net), 0 when unknown.
    pub netns: u32,
    /// The socket's counters as it enters CLOSE; all zero for every other transition. Read at
    /// one state change per socket only, to keep the common case cheap.
    pub close: CloseCounters,
    /// `bpf_get_socket_cookie(sk)`: the socket's identity for its whole life, never reused (the
    /// `idiag_cookie` sock_diag reports). 0 from the classic tracepoint, which cannot ask.
    pub cookie: u64,
}

const _: () = assert!(core::mem::size_of::<TcpStateRecord>() == 128);
const _: () = assert!(core::mem::align_of::<TcpStateRecord>() == 8);
const _: () = assert!(core::mem::offset_of!(TcpStateRecord, netns) == 76);
const _: () = assert!(core::mem::offset_of!(TcpStateRecord, close) == 80);
const _: () = assert!(core::mem::offset_of!(TcpStateRecord, cookie) == 120);

/// Where the BTF tracepoint finds a transition's fields in the socket it is handed, as offsets
/// into `struct tcp_sock` (which begins with the `struct sock`), found in the kernel's BTF by
/// userspace and set at load time. The same fields the classic tracepoint's record copies: the
/// local port and IPv4 address from `inet_sock` (`skc_num` is already 0 when a socket closes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOffsets {
    /// `skc_family` (u16).
    pub family: u32,
    /// `inet_sock.inet_sport`: the local port, network byte order (u16).
    pub sport: u32,
    /// `skc_dport`: the remote port, network byte order (u16).
    pub dport: u32,
    /// `inet_sock.inet_saddr` (u32, network order).
    pub saddr: u32,
    /// `skc_daddr` (u32, network order).
    pub daddr: u32,
    /// `skc_v6_rcv_saddr` (16 bytes).
    pub v6_rcv_saddr: u32,
    /// `skc_v6_daddr` (16 bytes).
    pub v6_daddr: u32,
    pub _pad: u32,
}

const _: () = assert!(core::mem::size_of::<SockOffsets>() == 32);

/// The bit of `sk_flags` the kernel sets when the peer's FIN arrives (`enum sock_flags`; checked
/// against the kernel's BTF at load time).
pub const SOCK_DONE: u32 = 1;

/// `struct tcp_sock` fields read as a socket enters CLOSE, through BTF-resolved offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloseCounters {
    /// `tcp_sock.bytes_acked`: sequence space the peer acknowledged (a SYN and a FIN count 1).
    pub bytes_acked: u64,
    /// `tcp_sock.bytes_received`: sequence space received in order (a FIN counts 1).
    pub bytes_received: u64,
    /// `tcp_sock.snd_una`: first unacknowledged sequence number.
    pub snd_una: u32,
    /// `tcp_sock.write_seq`: one past the last byte queued, FIN included.
    pub write_seq: u32,
    /// The low 32 bits of `sock.sk_flags` (`SOCK_DONE`: the peer's FIN arrived).
    pub sk_flags: u32,
    /// `tcp_sock.total_retrans`: segments retransmitted over the connection's life (`ss -ti`'s
    /// `retrans:…/N`).
    pub total_retrans: u32,
    /// `tcp_sock.srtt_us`: the smoothed RTT in microseconds, times 8 (the kernel's fixed point).
    pub srtt_us_x8: u32,
    /// 1 when the fields above were read, 0 when not (no BTF, or not a close).
    pub valid: u8,
    pub _pad: [u8; 3],
}

const _: () = assert!(core::mem::size_of::<CloseCounters>() == 40);

/// Filters applied in the kernel before a record is reserved. Set as a read-only global at load
/// time. Only fields that are fixed for a socket's whole life are filtered here, so userspace still
/// sees every transition it needs to attribute owners and time states.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelFilter {
    /// 0 for any family, else AF_INET or AF_INET6.
    pub family: u16,
    /// How many of `local_ports` are in use (0: no local-port filter).
    pub n_local_ports: u16,
    /// How many of `remote_ports` are in use (0: no remote-port filter).
    pub n_remote_ports: u16,
    pub _pad: u16,
    /// 0 for any network namespace, else the one inode whose sockets pass (records whose
    /// namespace is unknown, 0, pass too: userspace decides those).
    pub netns: u32,
    pub local_ports: [u16; MAX_FILTER_PORTS],
    pub remote_ports: [u16; MAX_FILTER_PORTS],
}

const _: () = assert!(core::mem::size_of::<KernelFilter>() == 44);

impl KernelFilter {
    /// Whether a socket of namespace `netns` (0: unknown) passes.
    #[inline(always)]
    pub fn accepts_netns(&self, netns: u32) -> bool {
        self.netns == 0 || netns == 0 || netns == self.netns
    }

    /// Whether a transition with these fields passes. A local port of 0 always passes: connect()
    /// enters SYN_SENT before it picks the port, and that record names the socket's owner.
    #[inline(always)]
    pub fn accepts(&self, family: u16, sport: u16, dport: u16) -> bool {
        if self.family != 0 && self.family != family {
            return false;
        }
        if sport != 0 && !port_in(&self.local_ports, self.n_local_ports, sport) {
            return false;
        }
        port_in(&self.remote_ports, self.n_remote_ports, dport)
    }
}

/// True when `n` is 0 (no filter) or `port` is among the first `n` entries.
#[inline(always)]
fn port_in(ports: &[u16; MAX_FILTER_PORTS], n: u16, port: u16) -> bool {
    if n == 0 {
        return true;
    }
    let mut i = 0;
    while i < MAX_FILTER_PORTS {
        if (i as u16) < n && ports[i] == port {
            return true;
        }
        i += 1;
    }
    false
}

/// Where a socket's network namespace number lives, found in the kernel's BTF by userspace and
/// set as a global at load time (the Rust eBPF backend has no CO-RE). Zero: not known.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetnsOffsets {
    /// Offset of the `struct net *` in `struct sock` (`__sk_common.skc_net.net`).
    pub sock_net: u32,
    /// Offset of the namespace's inode number in `struct net` (`ns.inum`).
    pub net_inum: u32,
}

const _: () = assert!(core::mem::size_of::<NetnsOffsets>() == 8);

/// Where the [`CloseCounters`] fields live in `struct tcp_sock` (whose first member is the
/// `struct sock`), found in the kernel's BTF by userspace. `bytes_acked == 0`: not known.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloseOffsets {
    pub bytes_acked: u32,
    pub bytes_received: u32,
    pub snd_una: u32,
    pub write_seq: u32,
    /// Offset of `sk_flags` (`__sk_common.skc_flags`).
    pub sk_flags: u32,
    pub total_retrans: u32,
    pub srtt_us: u32,
}

const _: () = assert!(core::mem::size_of::<CloseOffsets>() == 28);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data with explicit padding and no invalid bit patterns.
    unsafe impl aya::Pod for super::TcpStateRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::KernelFilter {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::NetnsOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CloseOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SockOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::HealthRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::HealthOffsets {}
}
