//! `sock:inet_sock_set_state`: one record per TCP state transition.
//!
//! Two entry points write the same record. The BTF tracepoint (`tp_btf`), preferred, is handed
//! the `struct sock *` itself: its fields are plain loads at BTF offsets, which the verifier
//! checks and the kernel guards, and it can ask for the socket's cookie. The classic tracepoint,
//! the fallback where the kernel has no BTF, reads the formatted record the kernel copies for it
//! (and needs tracefs to attach). Userspace loads one of them.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use aya_ebpf::{
    EbpfContext as _,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_socket_cookie, bpf_ktime_get_ns,
        bpf_skc_to_tcp_sock,
    },
    macros::{btf_tracepoint, map, tracepoint},
    maps::{PerCpuArray, RingBuf, ring_buf::RingBufEntry},
    programs::{BtfTracePointContext, TracePointContext},
};
use netstat_common::{
    AF_INET, CloseCounters, CloseOffsets, IPPROTO_TCP, KernelFilter, NetnsOffsets, SockOffsets,
    TcpStateRecord,
};

/// Transition records. Its size is set by userspace before load (`EbpfLoader::set_max_entries`).
#[map]
static TCP_STATE_EVENTS: RingBuf = RingBuf::with_byte_size(0, 0);

/// Records the ring buffer could not take, per CPU (index 0).
#[map]
static TCP_STATE_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Set by userspace at load time; read volatile so the compiler cannot fold the default.
#[unsafe(no_mangle)]
pub(crate) static TCP_STATE_FILTER: KernelFilter = KernelFilter {
    family: 0,
    n_local_ports: 0,
    n_remote_ports: 0,
    _pad: 0,
    netns: 0,
    local_ports: [0; netstat_common::MAX_FILTER_PORTS],
    remote_ports: [0; netstat_common::MAX_FILTER_PORTS],
};

/// Set by userspace from the kernel's BTF; zero leaves records' netns at 0.
#[unsafe(no_mangle)]
static TCP_STATE_NETNS_OFFSETS: NetnsOffsets = NetnsOffsets {
    sock_net: 0,
    net_inum: 0,
};

/// Set by userspace from the kernel's BTF for the BTF tracepoint.
#[unsafe(no_mangle)]
pub(crate) static TCP_STATE_SOCK_OFFSETS: SockOffsets = SockOffsets {
    family: 0,
    sport: 0,
    dport: 0,
    saddr: 0,
    daddr: 0,
    v6_rcv_saddr: 0,
    v6_daddr: 0,
    _pad: 0,
};

/// The socket's network namespace inode: two kernel reads through BTF-resolved offsets.
#[inline(always)]
pub(crate) fn netns_of(skaddr: u64) -> u32 {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let offsets = unsafe { core::ptr::read_volatile(&TCP_STATE_NETNS_OFFSETS) };
    if offsets.net_inum == 0 {
        return 0;
    }
    // SAFETY: bpf_probe_read_kernel checks the addresses; a failed read yields 0.
    let net: u64 =
        unsafe { bpf_probe_read_kernel((skaddr + u64::from(offsets.sock_net)) as *const u64) }
            .unwrap_or(0);
    inode_of_net(net)
}

/// `net->ns.inum` of a `struct net *`, 0 when unknown.
#[inline(always)]
pub(crate) fn inode_of_net(net: u64) -> u32 {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let offsets = unsafe { core::ptr::read_volatile(&TCP_STATE_NETNS_OFFSETS) };
    if offsets.net_inum == 0 || net == 0 {
        return 0;
    }
    // SAFETY: bpf_probe_read_kernel checks the address; a failed read yields 0.
    unsafe { bpf_probe_read_kernel((net + u64::from(offsets.net_inum)) as *const u32) }.unwrap_or(0)
}

/// Set by userspace from the kernel's BTF; zero leaves records' close counters unread.
#[unsafe(no_mangle)]
static TCP_STATE_CLOSE_OFFSETS: CloseOffsets = CloseOffsets {
    bytes_acked: 0,
    bytes_received: 0,
    snd_una: 0,
    write_seq: 0,
    sk_flags: 0,
    total_retrans: 0,
    srtt_us: 0,
};

const TCP_CLOSE: i32 = 7;

/// The socket's counters, read only as it enters CLOSE (once per socket): seven fields at
/// BTF-resolved offsets of its `tcp_sock`, which starts where its `struct sock` does.
#[inline(always)]
fn close_counters(access: SockAccess, skaddr: u64, newstate: i32) -> CloseCounters {
    if newstate != TCP_CLOSE {
        return CloseCounters::default();
    }
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let offsets = unsafe { core::ptr::read_volatile(&TCP_STATE_CLOSE_OFFSETS) };
    if offsets.bytes_acked == 0 {
        return CloseCounters::default();
    }
    let read = match access {
        // Typed loads from the BTF tracepoint's `tcp_sock`: no helper calls.
        SockAccess::Load(tp) => (
            Ok(sock_field::<u64>(tp, offsets.bytes_acked)),
            Ok(sock_field::<u64>(tp, offsets.bytes_received)),
            Ok(sock_field::<u32>(tp, offsets.snd_una)),
            Ok(sock_field::<u32>(tp, offsets.write_seq)),
            Ok(sock_field::<u32>(tp, offsets.sk_flags)),
            Ok(sock_field::<u32>(tp, offsets.total_retrans)),
            Ok(sock_field::<u32>(tp, offsets.srtt_us)),
        ),
        SockAccess::Read => {
            let at = |offset: u32| skaddr + u64::from(offset);
            // SAFETY: bpf_probe_read_kernel checks the addresses; a failed read leaves `valid`
            // at 0.
            unsafe {
                (
                    bpf_probe_read_kernel(at(offsets.bytes_acked) as *const u64),
                    bpf_probe_read_kernel(at(offsets.bytes_received) as *const u64),
                    bpf_probe_read_kernel(at(offsets.snd_una) as *const u32),
                    bpf_probe_read_kernel(at(offsets.write_seq) as *const u32),
                    bpf_probe_read_kernel(at(offsets.sk_flags) as *const u32),
                    bpf_probe_read_kernel(at(offsets.total_retrans) as *const u32),
                    bpf_probe_read_kernel(at(offsets.srtt_us) as *const u32),
                )
            }
        }
    };
    match read {
        (
            Ok(bytes_acked),
            Ok(bytes_received),
            Ok(snd_una),
            Ok(write_seq),
            Ok(sk_flags),
            Ok(total_retrans),
            Ok(srtt_us_x8),
        ) => CloseCounters {
            bytes_acked,
            bytes_received,
            snd_una,
            write_seq,
            sk_flags,
            total_retrans,
            srtt_us_x8,
            valid: 1,
            _pad: [0; 3],
        },
        _ => CloseCounters::default(),
    }
}

/// Set by userspace: wake the reader only once this many bytes are waiting (0: on every record).
/// The reader also drains on a short timer, so under load the kernel rarely has to wake it; a
/// wakeup per record would cost the traced workload an IPI each time.
#[unsafe(no_mangle)]
static TCP_STATE_WAKEUP_BYTES: u64 = 0;

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

// Field offsets from /sys/kernel/tracing/events/sock/inet_sock_set_state/format. They have been
// stable since the tracepoint gained `protocol` (Linux 4.16).
const SKADDR: usize = 8;
const OLDSTATE: usize = 16;
const NEWSTATE: usize = 20;
const SPORT: usize = 24;
const DPORT: usize = 26;
const FAMILY: usize = 28;
const PROTOCOL: usize = 30;
const SADDR: usize = 32;
const DADDR: usize = 36;
const SADDR_V6: usize = 40;
const DADDR_V6: usize = 56;

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub(crate) fn enetstat_tcp_state(ctx: TracePointContext) -> u32 {
    let protocol: u16 = field(&ctx, PROTOCOL);
    if protocol != IPPROTO_TCP {
        return 0;
    }
    let family: u16 = field(&ctx, FAMILY);
    let (saddr, daddr) = if family == AF_INET {
        (
            ipv4_bytes(field(&ctx, SADDR)),
            ipv4_bytes(field(&ctx, DADDR)),
        )
    } else {
        (field16(&ctx, SADDR_V6), field16(&ctx, DADDR_V6))
    };
    let skaddr: u64 = field(&ctx, SKADDR);
    record_transition(Transition {
        skaddr,
        family,
        sport: field(&ctx, SPORT),
        dport: field(&ctx, DPORT),
        saddr,
        daddr,
        oldstate: field(&ctx, OLDSTATE),
        newstate: field(&ctx, NEWSTATE),
        access: SockAccess::Read,
        cookie: 0,
    });
    0
}

/// The tracepoint's arguments: `(const struct sock *sk, int oldstate, int newstate)`.
#[btf_tracepoint(function = "inet_sock_set_state")]
pub(crate) fn enetstat_tcp_state_btf(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let at = unsafe { core::ptr::read_volatile(&TCP_STATE_SOCK_OFFSETS) };
    let sk: u64 = ctx.arg(0);
    // A typed `struct tcp_sock *`, or null when the socket is not TCP (an MPTCP socket, say).
    // SAFETY: sk is the tracepoint's own socket argument, which the helper accepts.
    let tp = unsafe { bpf_skc_to_tcp_sock(sk as *mut _) } as u64;
    if tp == 0 {
        return 0;
    }
    let family: u16 = sock_field(tp, at.family);
    let (saddr, daddr) = if family == AF_INET {
        (
            ipv4_bytes(sock_field(tp, at.saddr)),
            ipv4_bytes(sock_field(tp, at.daddr)),
        )
    } else {
        (sock_field(tp, at.v6_rcv_saddr), sock_field(tp, at.v6_daddr))
    };
    let sport: u16 = sock_field(tp, at.sport);
    let dport: u16 = sock_field(tp, at.dport);
    record_transition(Transition {
        skaddr: sk,
        family,
        sport: u16::from_be(sport),
        dport: u16::from_be(dport),
        saddr,
        daddr,
        oldstate: ctx.arg(1),
        newstate: ctx.arg(2),
        access: SockAccess::Load(tp),
        // SAFETY: sk is the tracepoint's own socket argument, which the helper accepts from
        // tracing programs.
        cookie: unsafe { bpf_get_socket_cookie(sk as *mut _) },
    });
    0
}

/// A field of the `struct tcp_sock` the BTF tracepoint works from: a plain load, which the
/// verifier checks against the kernel's BTF (the offset is a load-time constant) and the kernel
/// guards against faults.
#[inline(always)]
fn sock_field<T: Copy>(sk: u64, offset: u32) -> T {
    // SAFETY: as above; the offsets come from the same BTF the program is verified against.
    unsafe { core::ptr::read_volatile((sk + u64::from(offset)) as *const T) }
}

/// The socket's network namespace through typed loads (`sk->__sk_common.skc_net.net->ns.inum`),
/// for the BTF tracepoint.
#[inline(always)]
fn netns_by_load(sk: u64) -> u32 {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let offsets = unsafe { core::ptr::read_volatile(&TCP_STATE_NETNS_OFFSETS) };
    if offsets.net_inum == 0 {
        return 0;
    }
    let net: u64 = sock_field(sk, offsets.sock_net);
    if net == 0 {
        return 0;
    }
    sock_field(net, offsets.net_inum)
}

/// An IPv4 address in the first 4 bytes of the record's 16.
#[inline(always)]
pub(crate) fn ipv4_bytes(addr: u32) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&addr.to_ne_bytes());
    bytes
}

/// A field of the tracepoint's record, at one of the format offsets above.
#[inline(always)]
fn field<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: every caller passes a constant offset inside this tracepoint's record, aligned to
    // the field's size; the verifier rejects any context read outside the record at load time.
    unsafe { core::ptr::read_volatile(ctx.as_ptr().cast::<u8>().add(offset).cast::<T>()) }
}

/// 16 bytes at an 8-aligned offset, read as two u64 loads (the verifier rejects wider ones).
#[inline(always)]
fn field16(ctx: &TracePointContext, offset: usize) -> [u8; 16] {
    let lo: u64 = field(ctx, offset);
    let hi: u64 = field(ctx, offset + 8);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&lo.to_ne_bytes());
    out[8..].copy_from_slice(&hi.to_ne_bytes());
    out
}

/// How a program reads the socket beyond what its context hands it (namespace, close counters).
#[derive(Clone, Copy)]
enum SockAccess {
    /// bpf_probe_read_kernel: the classic tracepoint's socket address is an untyped number.
    Read,
    /// Typed loads from the BTF tracepoint's `tcp_sock` pointer.
    Load(u64),
}

/// What either entry point knows of one transition.
struct Transition {
    skaddr: u64,
    family: u16,
    sport: u16,
    dport: u16,
    saddr: [u8; 16],
    daddr: [u8; 16],
    oldstate: i32,
    newstate: i32,
    access: SockAccess,
    cookie: u64,
}

#[inline(always)]
fn record_transition(t: Transition) {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let filter = unsafe { core::ptr::read_volatile(&TCP_STATE_FILTER) };
    if !filter.accepts(t.family, t.sport, t.dport) {
        return;
    }
    let netns = match t.access {
        SockAccess::Read => netns_of(t.skaddr),
        SockAccess::Load(tp) => netns_by_load(tp),
    };
    if !filter.accepts_netns(netns) {
        return;
    }

    let Some(mut slot) = reserve::<TcpStateRecord>() else {
        return;
    };
    slot.write(TcpStateRecord {
        // SAFETY: a helper that takes no arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        skaddr: t.skaddr,
        saddr: t.saddr,
        daddr: t.daddr,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        tgid: (bpf_get_current_pid_tgid() >> 32) as u32,
        sport: t.sport,
        dport: t.dport,
        family: t.family,
        oldstate: t.oldstate as u8,
        newstate: t.newstate as u8,
        netns,
        close: close_counters(t.access, t.skaddr, t.newstate),
        cookie: t.cookie,
    });
    submit(slot);
}

/// A slot in the ring for one record, or `None` after counting it lost (the ring is full).
#[inline(always)]
pub(crate) fn reserve<T: 'static>() -> Option<RingBufEntry<T>> {
    let slot = TCP_STATE_EVENTS.reserve::<T>(0);
    if slot.is_none()
        && let Some(lost) = TCP_STATE_LOST.get_ptr_mut(0)
    {
        // SAFETY: a per-CPU slot, and tracepoint programs do not nest on one CPU.
        unsafe { *lost += 1 };
    }
    slot
}

/// Hands a written record to the reader, waking it only once enough is waiting.
#[inline(always)]
pub(crate) fn submit<T: 'static>(slot: RingBufEntry<T>) {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let wakeup_bytes = unsafe { core::ptr::read_volatile(&TCP_STATE_WAKEUP_BYTES) };
    let flags = if wakeup_bytes == 0 {
        0
    } else if TCP_STATE_EVENTS.query(BPF_RB_AVAIL_DATA) >= wakeup_bytes {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    slot.submit(flags);
}
