//! Connection health: retransmits, resets and drops of sockets, as BTF tracepoints. Records go
//! into the TCP probe's ring (tcp_state.rs) through its reserve/submit, so they share its loss
//! counter and its kernel filter. Userspace attaches only the kinds a view asks for.
//!
//! Sockets here are of several types (full TCP sockets, request sockets, any socket a dropped
//! packet belonged to), so fields are read with bpf_probe_read_kernel at BTF offsets rather than
//! typed loads, which the verifier allows only within the pointer's own type. These programs
//! run per event, not per packet, except the drop program's early return.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_socket_cookie, bpf_ktime_get_ns,
        bpf_probe_read_kernel,
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use netstat_common::{
    AF_INET, AF_INET6, HEALTH_DROP, HEALTH_FLAG_NO_SOCKET, HEALTH_FLAG_SENT, HEALTH_FLAG_SYNACK,
    HEALTH_FLAG_TLP, HEALTH_RESET, HEALTH_RETRANSMIT, HealthOffsets, HealthRecord,
    ICSK_TIME_LOSS_PROBE, RETRANSMIT_UNCOUNTED_ERRORS, SockOffsets, TCP_CA_OPEN,
    TCP_SKB_CB_GSO_SEGS,
};

use crate::tcp_state::{
    TCP_STATE_FILTER, TCP_STATE_SOCK_OFFSETS, inode_of_net, ipv4_bytes, netns_of, reserve, submit,
};

/// Set by userspace from the kernel's BTF before load.
#[unsafe(no_mangle)]
static HEALTH_OFFSETS: HealthOffsets = HealthOffsets {
    skc_num: 0,
    skc_rcv_saddr: 0,
    skc_state: 0,
    skc_cookie: 0,
    sk_protocol: 0,
    skb_sk: 0,
    skb_cb: 0,
    skb_head: 0,
    skb_network_header: 0,
    skb_transport_header: 0,
    skb_dev: 0,
    dev_net: 0,
    icsk_pending: 0,
    icsk_ca_state_byte: 0,
    icsk_ca_state_shift: 0,
    drop_reason_queue_purge: 0,
};

#[inline(always)]
fn offsets() -> (HealthOffsets, SockOffsets) {
    // SAFETY: plain statics, read volatile so that userspace's values at load time are seen.
    unsafe {
        (
            core::ptr::read_volatile(&HEALTH_OFFSETS),
            core::ptr::read_volatile(&TCP_STATE_SOCK_OFFSETS),
        )
    }
}

/// `T` at a kernel address; zeroes when the read faults.
#[inline(always)]
fn read<T: Copy + Default>(address: u64) -> T {
    // SAFETY: bpf_probe_read_kernel checks the address; a failed read yields the default.
    unsafe { bpf_probe_read_kernel(address as *const T) }.unwrap_or_default()
}

#[inline(always)]
fn at<T: Copy + Default>(base: u64, offset: u32) -> T {
    read(base + u64::from(offset))
}

/// Which socket an event is about, and what is known of it.
struct Subject {
    skaddr: u64,
    cookie: u64,
    family: u16,
    sport: u16,
    dport: u16,
    saddr: [u8; 16],
    daddr: [u8; 16],
    netns: u32,
    state: u8,
    protocol: u8,
}

/// `TCP_TIME_WAIT` and `TCP_NEW_SYN_RECV`: mini sockets, which end with their `sock_common`
/// (no `inet_sock`, no `sk_protocol`), and are TCP's.
const TCP_TIME_WAIT: u8 = 6;
const TCP_NEW_SYN_RECV: u8 = 12;
const IPPROTO_TCP: u8 = 6;

#[inline(always)]
fn subject(sk: u64, cookie: u64) -> Subject {
    let (health, sock) = offsets();
    let state: u8 = at(sk, health.skc_state);
    // A full socket's `inet_sock` fields stay set after close unbinds the port (skc_num 0).
    let full = state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
    let family: u16 = at(sk, sock.family);
    let (saddr, daddr) = if family == AF_INET {
        let local = if full {
            at(sk, sock.saddr)
        } else {
            at(sk, health.skc_rcv_saddr)
        };
        (ipv4_bytes(local), ipv4_bytes(at(sk, sock.daddr)))
    } else {
        (at(sk, sock.v6_rcv_saddr), at(sk, sock.v6_daddr))
    };
    let sport = if full {
        u16::from_be(at(sk, sock.sport))
    } else {
        at(sk, health.skc_num)
    };
    Subject {
        skaddr: sk,
        cookie,
        family,
        sport,
        dport: u16::from_be(at(sk, sock.dport)),
        saddr,
        daddr,
        netns: netns_of(sk),
        state,
        protocol: if full {
            at::<u16>(sk, health.sk_protocol) as u8
        } else {
            IPPROTO_TCP
        },
    }
}

/// The segment's own addresses, turned to this host's view (local is where it was sent), for
/// a reset sent when no socket took it.
#[inline(always)]
fn segment_subject(skb: u64) -> Option<Subject> {
    let (health, _) = offsets();
    let head: u64 = at(skb, health.skb_head);
    if head == 0 {
        return None;
    }
    let ip = head + u64::from(at::<u16>(skb, health.skb_network_header));
    let tcp = head + u64::from(at::<u16>(skb, health.skb_transport_header));
    let version = read::<u8>(ip) >> 4;
    let (family, source, destination) = match version {
        4 => (
            AF_INET,
            ipv4_bytes(read(ip + 12)),
            ipv4_bytes(read(ip + 16)),
        ),
        6 => (AF_INET6, read(ip + 8), read(ip + 24)),
        _ => return None,
    };
    let dev: u64 = at(skb, health.skb_dev);
    let netns = if dev == 0 {
        0
    } else {
        inode_of_net(at(dev, health.dev_net))
    };
    Some(Subject {
        skaddr: 0,
        cookie: 0,
        family,
        sport: u16::from_be(read(tcp + 2)),
        dport: u16::from_be(read(tcp)),
        saddr: destination,
        daddr: source,
        netns,
        state: 0,
        protocol: 0,
    })
}

/// Writes one record, unless the kernel filter turns it away or the ring is full (counted).
#[inline(always)]
fn emit(s: &Subject, kind: u8, flags: u8, segments: u32, reason: i32) {
    if s.family != AF_INET && s.family != AF_INET6 {
        return;
    }
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    let filter = unsafe { core::ptr::read_volatile(&TCP_STATE_FILTER) };
    if !filter.accepts(s.family, s.sport, s.dport) || !filter.accepts_netns(s.netns) {
        return;
    }
    let Some(mut slot) = reserve::<HealthRecord>() else {
        return;
    };
    slot.write(HealthRecord {
        // SAFETY: a helper that takes no arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        cookie: s.cookie,
        skaddr: s.skaddr,
        saddr: s.saddr,
        daddr: s.daddr,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        tgid: (bpf_get_current_pid_tgid() >> 32) as u32,
        netns: s.netns,
        segments,
        reason,
        sport: s.sport,
        dport: s.dport,
        family: s.family,
        kind,
        flags,
        state: s.state,
        protocol: s.protocol,
        _pad: [0; 6],
    });
    submit(slot);
}

/// The socket's cookie, made now if it had none (the tracepoint's own socket argument).
#[inline(always)]
fn cookie_of(sk: u64) -> u64 {
    // SAFETY: sk is a tracepoint's BTF-typed socket argument, which the helper accepts from
    // tracing programs; callers checked it is not null.
    unsafe { bpf_get_socket_cookie(sk as *mut _) }
}

/// tcp_retransmit_skb(sk, skb, err), at the end of `__tcp_retransmit_skb` whether or not the
/// segment went out; `tcp_skb_pcount(skb)` was added to RetransSegs unless it gave up first.
#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub(crate) fn enetstat_tcp_retransmit_skb(ctx: BtfTracePointContext) -> i32 {
    let sk: u64 = ctx.arg(0);
    if sk == 0 {
        return 0;
    }
    let skb: u64 = ctx.arg(1);
    let err = ctx.arg::<u64>(2) as i32;
    let (health, _) = offsets();
    let counted = !RETRANSMIT_UNCOUNTED_ERRORS.contains(&err);
    let segments = if counted && skb != 0 {
        u32::from(at::<u16>(skb, health.skb_cb + TCP_SKB_CB_GSO_SEGS))
    } else {
        0
    };
    let mut flags = 0;
    if health.icsk_pending != 0 {
        let pending: u8 = at(sk, health.icsk_pending);
        let ca_state =
            (at::<u8>(sk, health.icsk_ca_state_byte) >> health.icsk_ca_state_shift) & 0x1f;
        if pending == ICSK_TIME_LOSS_PROBE && ca_state == TCP_CA_OPEN {
            flags |= HEALTH_FLAG_TLP;
        }
    }
    emit(
        &subject(sk, cookie_of(sk)),
        HEALTH_RETRANSMIT,
        flags,
        segments,
        err,
    );
    0
}

/// tcp_retransmit_synack(sk, req): fired only once the SYN-ACK went out, which added 1 to
/// RetransSegs. The record is the request socket's.
#[btf_tracepoint(function = "tcp_retransmit_synack")]
pub(crate) fn enetstat_tcp_retransmit_synack(ctx: BtfTracePointContext) -> i32 {
    let req: u64 = ctx.arg(1);
    if req == 0 {
        return 0;
    }
    let (health, _) = offsets();
    let cookie: u64 = at(req, health.skc_cookie);
    emit(
        &subject(req, cookie),
        HEALTH_RETRANSMIT,
        HEALTH_FLAG_SYNACK,
        1,
        0,
    );
    0
}

/// tcp_send_reset(sk, skb, reason): sk is null for a segment no socket took (then the
/// segment's headers name the endpoints); skb is null for a reset the socket sends on its own
/// (an abort).
#[btf_tracepoint(function = "tcp_send_reset")]
pub(crate) fn enetstat_tcp_send_reset(ctx: BtfTracePointContext) -> i32 {
    let sk: u64 = ctx.arg(0);
    let skb: u64 = ctx.arg(1);
    let reason = ctx.arg::<u64>(2) as i32;
    if sk != 0 {
        let s = subject(sk, cookie_of(sk));
        emit(&s, HEALTH_RESET, HEALTH_FLAG_SENT, 0, reason);
    } else if skb != 0
        && let Some(s) = segment_subject(skb)
    {
        emit(
            &s,
            HEALTH_RESET,
            HEALTH_FLAG_SENT | HEALTH_FLAG_NO_SOCKET,
            0,
            reason,
        );
    }
    0
}

/// tcp_receive_reset(sk): a valid reset arrived for the socket.
#[btf_tracepoint(function = "tcp_receive_reset")]
pub(crate) fn enetstat_tcp_receive_reset(ctx: BtfTracePointContext) -> i32 {
    let sk: u64 = ctx.arg(0);
    if sk != 0 {
        emit(&subject(sk, cookie_of(sk)), HEALTH_RESET, 0, 0, 0);
    }
    0
}

/// kfree_skb(skb, location, reason, rx_sk): a dropped packet that belongs to a socket (rx_sk
/// on receive, else skb->sk). Every other drop returns at once, as do a destroyed socket's queue
/// purges (see `HealthOffsets::drop_reason_queue_purge`).
#[btf_tracepoint(function = "kfree_skb")]
pub(crate) fn enetstat_sock_kfree_skb(ctx: BtfTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let reason = ctx.arg::<u64>(2) as i32;
    let (health, _) = offsets();
    if health.drop_reason_queue_purge != 0 && reason as u32 == health.drop_reason_queue_purge {
        return 0;
    }
    let mut sk: u64 = ctx.arg(3);
    if sk == 0 {
        sk = at(skb, health.skb_sk);
    }
    if sk == 0 {
        return 0;
    }
    let cookie: u64 = at(sk, health.skc_cookie);
    emit(&subject(sk, cookie), HEALTH_DROP, 0, 0, reason);
    0
}
