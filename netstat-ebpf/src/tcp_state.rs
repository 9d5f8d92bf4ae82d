//! `sock:inet_sock_set_state`: one record per TCP state transition.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{PerCpuArray, RingBuf},
    programs::TracePointContext,
};
use netstat_common::{
    AF_INET, CloseCounters, CloseOffsets, IPPROTO_TCP, KernelFilter, NetnsOffsets, TcpStateRecord,
};

/// Transition records. Its size is set by userspace before load (`EbpfLoader::set_max_entries`).
#[map]
static TCP_STATE_EVENTS: RingBuf = RingBuf::with_byte_size(0, 0);

/// Records the ring buffer could not take, per CPU (index 0).
#[map]
static TCP_STATE_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Set by userspace at load time; read volatile so the compiler cannot fold the default.
#[unsafe(no_mangle)]
static TCP_STATE_FILTER: KernelFilter = KernelFilter {
    family: 0,
    n_local_ports: 0,
    n_remote_ports: 0,
    _pad: 0,
    local_ports: [0; netstat_common::MAX_FILTER_PORTS],
    remote_ports: [0; netstat_common::MAX_FILTER_PORTS],
};

/// Set by userspace from the kernel's BTF; zero leaves records' netns at 0.
#[unsafe(no_mangle)]
static TCP_STATE_NETNS_OFFSETS: NetnsOffsets = NetnsOffsets {
    sock_net: 0,
    net_inum: 0,
};

/// The socket's network namespace inode: two kernel reads through BTF-resolved offsets.
#[inline(always)]
fn netns_of(skaddr: u64) -> u32 {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let offsets = unsafe { core::ptr::read_volatile(&TCP_STATE_NETNS_OFFSETS) };
    if offsets.net_inum == 0 {
        return 0;
    }
    // SAFETY: bpf_probe_read_kernel checks the addresses; a failed read yields 0.
    let net: u64 =
        unsafe { bpf_probe_read_kernel((skaddr + u64::from(offsets.sock_net)) as *const u64) }
            .unwrap_or(0);
    if net == 0 {
        return 0;
    }
    // SAFETY: as above.
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
    _pad: 0,
};

const TCP_CLOSE: i32 = 7;

/// The socket's counters, read only as it enters CLOSE (once per socket): five kernel reads
/// through BTF-resolved offsets. `skaddr` is a `struct sock *`, the start of its `tcp_sock`.
#[inline(always)]
fn close_counters(skaddr: u64, newstate: i32) -> CloseCounters {
    if newstate != TCP_CLOSE {
        return CloseCounters::default();
    }
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let offsets = unsafe { core::ptr::read_volatile(&TCP_STATE_CLOSE_OFFSETS) };
    if offsets.bytes_acked == 0 {
        return CloseCounters::default();
    }
    let at = |offset: u32| skaddr + u64::from(offset);
    // SAFETY: bpf_probe_read_kernel checks the addresses; a failed read leaves `valid` at 0.
    let read = unsafe {
        (
            bpf_probe_read_kernel(at(offsets.bytes_acked) as *const u64),
            bpf_probe_read_kernel(at(offsets.bytes_received) as *const u64),
            bpf_probe_read_kernel(at(offsets.snd_una) as *const u32),
            bpf_probe_read_kernel(at(offsets.write_seq) as *const u32),
            bpf_probe_read_kernel(at(offsets.sk_flags) as *const u32),
        )
    };
    match read {
        (Ok(bytes_acked), Ok(bytes_received), Ok(snd_una), Ok(write_seq), Ok(sk_flags)) => {
            CloseCounters {
                bytes_acked,
                bytes_received,
                snd_una,
                write_seq,
                sk_flags,
                valid: 1,
                _pad: [0; 3],
            }
        }
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
    record_transition(&ctx);
    0
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

#[inline(always)]
fn record_transition(ctx: &TracePointContext) {
    let protocol: u16 = field(ctx, PROTOCOL);
    if protocol != IPPROTO_TCP {
        return;
    }
    let family: u16 = field(ctx, FAMILY);
    let sport: u16 = field(ctx, SPORT);
    let dport: u16 = field(ctx, DPORT);
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let filter = unsafe { core::ptr::read_volatile(&TCP_STATE_FILTER) };
    if !filter.accepts(family, sport, dport) {
        return;
    }

    let Some(mut slot) = TCP_STATE_EVENTS.reserve::<TcpStateRecord>(0) else {
        if let Some(lost) = TCP_STATE_LOST.get_ptr_mut(0) {
            // SAFETY: a per-CPU slot, and tracepoint programs do not nest on one CPU.
            unsafe { *lost += 1 };
        }
        return;
    };
    let (saddr, daddr) = if family == AF_INET {
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s[..4].copy_from_slice(&field::<u32>(ctx, SADDR).to_ne_bytes());
        d[..4].copy_from_slice(&field::<u32>(ctx, DADDR).to_ne_bytes());
        (s, d)
    } else {
        (field16(ctx, SADDR_V6), field16(ctx, DADDR_V6))
    };
    let skaddr: u64 = field(ctx, SKADDR);
    let oldstate: i32 = field(ctx, OLDSTATE);
    let newstate: i32 = field(ctx, NEWSTATE);
    slot.write(TcpStateRecord {
        // SAFETY: a helper that takes no arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        skaddr,
        saddr,
        daddr,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        tgid: (bpf_get_current_pid_tgid() >> 32) as u32,
        sport,
        dport,
        family,
        oldstate: oldstate as u8,
        newstate: newstate as u8,
        netns: netns_of(skaddr),
        close: close_counters(skaddr, newstate),
    });
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
