//! Per-interface packet counting on the netdev tracepoints, and error/drop events.
//!
//! BTF tracepoints (tp_btf): they hand the program the tracepoint's own arguments (the skb, the
//! device) as typed pointers, without the formatted record a classic tracepoint copies for every
//! packet, and need no tracefs. Typed pointers are read with plain loads, which the verifier
//! checks against the kernel's BTF and the kernel guards against faults: a few nanoseconds each,
//! where a bpf_probe_read_kernel call costs tens. The offsets (from BTF, through `IFACE_CONFIG`)
//! are load-time constants, which the verifier needs them to be.
//!
//! One program per packet in each direction. Transmit: net_dev_xmit. Receive: where the driver
//! hands the packet to the stack — netif_rx (loopback, veth, tunnels), netif_receive_skb,
//! netif_receive_skb_list, napi_gro_receive or napi_gro_frags. A driver calls exactly one of
//! these per packet, before GRO merges packets and before the backlog re-enters the receive core
//! (which calls none of them), so none sees a packet twice. The receive core's own tracepoint
//! (net:netif_receive_skb) is not hooked: it would be a second run for every received packet.
//!
//! Counters: a per-CPU array indexed by ifindex, whose lookup the verifier inlines; ifindexes
//! past it use a per-CPU hash map.

use aya_ebpf::{
    helpers::{bpf_jiffies64, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map},
    maps::{PerCpuArray, PerCpuHashMap, RingBuf},
    programs::BtfTracePointContext,
};
use netstat_common::{
    DIRECT_IFINDEXES, DIRECTION_RX, DIRECTION_TX, EVENT_DROP, EVENT_XMIT_FAILED, EventBudget,
    IFNAMSIZ, InterfaceCounters, InterfaceEventRecord, InterfaceProbeConfig,
    STAT_DROPS_WITHOUT_DEVICE, STAT_EVENTS_LOST, STAT_EVENTS_SUPPRESSED, STAT_SLOTS,
    STAT_UNTRACKED,
};

/// Interfaces tracked at once; packets of any further interface are counted as untracked.
const MAX_INTERFACES: u32 = 1024;

/// Counters of ifindexes below DIRECT_IFINDEXES.
#[map]
static IFACE_DIRECT: PerCpuArray<InterfaceCounters> =
    PerCpuArray::with_max_entries(DIRECT_IFINDEXES, 0);

/// Counters of larger ifindexes.
#[map]
static IFACE_COUNTERS: PerCpuHashMap<u32, InterfaceCounters> =
    PerCpuHashMap::with_max_entries(MAX_INTERFACES, 0);

/// Error and drop events. Its size is set by userspace before load.
#[map]
static IFACE_EVENTS: RingBuf = RingBuf::with_byte_size(0, 0);

/// Per-CPU statistics about the probes themselves (slots: STAT_*).
#[map]
static IFACE_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_SLOTS, 0);

/// Per-CPU event budget (index 0).
#[map]
static IFACE_EVENT_BUDGET: PerCpuArray<EventBudget> = PerCpuArray::with_max_entries(1, 0);

/// Set by userspace at load time; read volatile so the compiler cannot fold the default.
#[unsafe(no_mangle)]
static IFACE_CONFIG: InterfaceProbeConfig = InterfaceProbeConfig {
    skb_dev: 0,
    skb_len: 0,
    skb_head: 0,
    skb_data: 0,
    skb_mac_header: 0,
    skb_iif: 0,
    skb_protocol: 0,
    dev_ifindex: 0,
    dev_name: 0,
    dev_net: 0,
    net_inum: 0,
    netns: 0,
    events_per_sec: 0,
    _pad: 0,
};

/// One field of `IFACE_CONFIG`, read volatile (the per-packet paths read only what they use).
macro_rules! cfg {
    ($field:ident) => {
        // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!(IFACE_CONFIG.$field)) }
    };
}

#[inline(always)]
fn config() -> InterfaceProbeConfig {
    // SAFETY: a plain static, read volatile so that userspace's value at load time is seen.
    unsafe { core::ptr::read_volatile(&IFACE_CONFIG) }
}

/// A load at `base + offset` of a BTF-typed kernel pointer; a faulting load yields zero.
#[inline(always)]
fn read<T>(base: u64, offset: u32) -> Option<T> {
    // SAFETY: the verifier checks the load against the struct's BTF layout, and the kernel turns
    // a fault into zeroes (BPF_PROBE_MEM).
    Some(unsafe { core::ptr::read_volatile((base + u64::from(offset)) as *const T) })
}

/// The device's ifindex when it belongs to the traced network namespace.
#[inline(always)]
fn traced_ifindex(dev: u64) -> Option<u32> {
    if dev == 0 {
        return None;
    }
    let net: u64 = read(dev, cfg!(dev_net))?;
    let inum: u32 = read(net, cfg!(net_inum))?;
    if inum != cfg!(netns) {
        return None;
    }
    read(dev, cfg!(dev_ifindex))
}

#[inline(always)]
fn bump_stat(slot: u32) {
    if let Some(value) = IFACE_STATS.get_ptr_mut(slot) {
        // SAFETY: a per-CPU slot; raw tracepoint programs do not nest on one CPU.
        unsafe { *value += 1 };
    }
}

/// Applies `update` to this CPU's counters of `ifindex`, creating them on first use.
#[inline(always)]
fn update_counters(ifindex: u32, update: impl FnOnce(&mut InterfaceCounters)) {
    if ifindex < DIRECT_IFINDEXES {
        if let Some(counters) = IFACE_DIRECT.get_ptr_mut(ifindex) {
            // SAFETY: this CPU's copy of the slot.
            update(unsafe { &mut *counters });
        }
        return;
    }
    let counters = match IFACE_COUNTERS.get_ptr_mut(ifindex) {
        Some(counters) => counters,
        None => {
            // BPF_NOEXIST: another CPU may have created the entry meanwhile; that is fine.
            let _ = IFACE_COUNTERS.insert(ifindex, InterfaceCounters::default(), 1);
            match IFACE_COUNTERS.get_ptr_mut(ifindex) {
                Some(counters) => counters,
                None => {
                    bump_stat(STAT_UNTRACKED);
                    return;
                }
            }
        }
    };
    // SAFETY: this CPU's copy of the value.
    update(unsafe { &mut *counters });
}

/// Counts one received packet at a driver's hand-off to the stack.
#[inline(always)]
fn count_received(ctx: &BtfTracePointContext) {
    let skb: u64 = ctx.arg(0);
    let Some(dev) = read::<u64>(skb, cfg!(skb_dev)) else {
        return;
    };
    let Some(ifindex) = traced_ifindex(dev) else {
        return;
    };
    let len: u32 = read(skb, cfg!(skb_len)).unwrap_or(0);
    // Drivers count the link-layer header, which eth_type_trans has already pulled: add back
    // what lies between the mac header and the data.
    let head: u64 = read(skb, cfg!(skb_head)).unwrap_or(0);
    let data: u64 = read(skb, cfg!(skb_data)).unwrap_or(0);
    let mac_header: u16 = read(skb, cfg!(skb_mac_header)).unwrap_or(u16::MAX);
    let mac = head + u64::from(mac_header);
    let link_header = if mac_header != u16::MAX && data >= mac && data - mac < 256 {
        data - mac
    } else {
        0
    };
    update_counters(ifindex, |c| {
        c.rx_packets += 1;
        c.rx_bytes += u64::from(len) + link_header;
    });
}

#[btf_tracepoint(function = "netif_rx_entry")]
pub(crate) fn enetstat_netif_rx(ctx: BtfTracePointContext) -> i32 {
    count_received(&ctx);
    0
}

#[btf_tracepoint(function = "netif_receive_skb_entry")]
pub(crate) fn enetstat_netif_receive_skb_entry(ctx: BtfTracePointContext) -> i32 {
    count_received(&ctx);
    0
}

#[btf_tracepoint(function = "netif_receive_skb_list_entry")]
pub(crate) fn enetstat_netif_receive_skb_list(ctx: BtfTracePointContext) -> i32 {
    count_received(&ctx);
    0
}

#[btf_tracepoint(function = "napi_gro_receive_entry")]
pub(crate) fn enetstat_napi_gro_receive(ctx: BtfTracePointContext) -> i32 {
    count_received(&ctx);
    0
}

#[btf_tracepoint(function = "napi_gro_frags_entry")]
pub(crate) fn enetstat_napi_gro_frags(ctx: BtfTracePointContext) -> i32 {
    count_received(&ctx);
    0
}

/// net_dev_xmit(skb, rc, dev, skb_len): after the driver's ndo_start_xmit returned rc.
#[btf_tracepoint(function = "net_dev_xmit")]
pub(crate) fn enetstat_net_dev_xmit(ctx: BtfTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let rc = ctx.arg::<u64>(1) as i32;
    let dev: u64 = ctx.arg(2);
    let len = ctx.arg::<u64>(3) as u32;
    let Some(ifindex) = traced_ifindex(dev) else {
        return 0;
    };
    update_counters(ifindex, |c| {
        if rc == 0 {
            c.tx_packets += 1;
            c.tx_bytes += u64::from(len);
        } else {
            c.tx_errors += 1;
        }
    });
    if rc != 0 {
        emit(
            skb,
            dev,
            ifindex,
            EVENT_XMIT_FAILED,
            DIRECTION_TX,
            rc as u32,
            0,
            len,
        );
    }
    0
}

/// kfree_skb(skb, location, reason, ...): a packet freed as dropped.
#[btf_tracepoint(function = "kfree_skb")]
pub(crate) fn enetstat_kfree_skb(ctx: BtfTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let location: u64 = ctx.arg(1);
    let reason = ctx.arg::<u64>(2) as u32;
    let dev: u64 = read(skb, cfg!(skb_dev)).unwrap_or(0);
    if dev == 0 {
        // Not yet or no longer on an interface (a local socket's buffer, say).
        bump_stat(STAT_DROPS_WITHOUT_DEVICE);
        return 0;
    }
    let Some(ifindex) = traced_ifindex(dev) else {
        return 0;
    };
    // The receive core stamps skb_iif with the interface a packet arrived on.
    let iif: i32 = read(skb, cfg!(skb_iif)).unwrap_or(0);
    let direction = if iif as u32 == ifindex {
        DIRECTION_RX
    } else {
        DIRECTION_TX
    };
    update_counters(ifindex, |c| {
        if direction == DIRECTION_RX {
            c.rx_dropped += 1;
        } else {
            c.tx_dropped += 1;
        }
    });
    let len: u32 = read(skb, cfg!(skb_len)).unwrap_or(0);
    emit(
        skb, dev, ifindex, EVENT_DROP, direction, reason, location, len,
    );
    0
}

/// Takes one token from this CPU's budget of `events_per_sec` (also the burst). The clock is
/// read only once the budget is spent, to refill it by the time since the last refill, and at
/// most once per tick while it stays spent (jiffies are a memory read): under a drop storm every
/// dropped packet runs this. (Tracing programs may not call bpf_ktime_get_coarse_ns.)
#[inline(always)]
fn take_token() -> bool {
    let rate = u64::from(cfg!(events_per_sec));
    if rate == 0 {
        return false;
    }
    let Some(budget) = IFACE_EVENT_BUDGET.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's slot.
    let budget = unsafe { &mut *budget };
    if budget.tokens > 0 {
        budget.tokens -= 1;
        return true;
    }
    // SAFETY: a helper that takes no arguments.
    let jiffies = unsafe { bpf_jiffies64() };
    if jiffies < budget.spent_until_jiffies {
        return false;
    }
    // SAFETY: a helper that takes no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let interval = (1_000_000_000 / rate).max(1);
    let elapsed = now.saturating_sub(budget.last_ns);
    if elapsed < interval {
        budget.spent_until_jiffies = jiffies + 1;
        return false;
    }
    budget.tokens = (elapsed / interval).min(rate) - 1;
    budget.last_ns = now;
    true
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn emit(
    skb: u64,
    dev: u64,
    ifindex: u32,
    kind: u8,
    direction: u8,
    reason: u32,
    location: u64,
    len: u32,
) {
    if !take_token() {
        bump_stat(STAT_EVENTS_SUPPRESSED);
        return;
    }
    let cfg = config();
    let Some(mut slot) = IFACE_EVENTS.reserve::<InterfaceEventRecord>(0) else {
        bump_stat(STAT_EVENTS_LOST);
        return;
    };
    slot.write(InterfaceEventRecord {
        // SAFETY: a helper that takes no arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        location,
        ifname: read::<[u8; IFNAMSIZ]>(dev, cfg.dev_name).unwrap_or([0; IFNAMSIZ]),
        ifindex,
        netns: cfg.netns,
        reason,
        len,
        protocol: read(skb, cfg.skb_protocol).unwrap_or(0),
        kind,
        direction,
        _pad: [0; 4],
    });
    slot.submit(0);
}
