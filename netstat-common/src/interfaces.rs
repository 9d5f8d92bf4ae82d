//! The interface probes' layout: per-interface counters in a per-CPU array indexed by ifindex
//! (a per-CPU hash map for ifindexes past it), error and drop events through a ring buffer, and
//! the kernel struct offsets they read with.

/// Interface name length, as the kernel's IFNAMSIZ.
pub const IFNAMSIZ: usize = 16;

/// Interfaces whose ifindex is below this are counted in the per-CPU array (a lookup the
/// verifier inlines); larger ifindexes go to the per-CPU hash map.
pub const DIRECT_IFINDEXES: u32 = 256;

/// Per-interface counters, one copy per CPU; userspace sums them. Keyed by ifindex.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// Packets a driver handed to the stack (netif_rx, netif_receive_skb[_list], napi_gro_*),
    /// counted before GRO merges them.
    pub rx_packets: u64,
    /// Their bytes, link-layer header included (as drivers count them).
    pub rx_bytes: u64,
    /// Packets a driver accepted for transmission (net_dev_xmit with rc 0).
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Transmissions a driver refused (net_dev_xmit with rc != 0).
    pub tx_errors: u64,
    /// Packets freed as dropped (skb:kfree_skb) after arriving on this interface.
    pub rx_dropped: u64,
    /// Packets freed as dropped while leaving through this interface.
    pub tx_dropped: u64,
    /// Unused: keeps the value one 64-byte line.
    pub _reserved: u64,
}

const _: () = assert!(core::mem::size_of::<InterfaceCounters>() == 64);

/// What an interface event reports.
pub const EVENT_XMIT_FAILED: u8 = 1;
pub const EVENT_DROP: u8 = 2;

pub const DIRECTION_RX: u8 = 0;
pub const DIRECTION_TX: u8 = 1;

/// One transmit failure or drop. Rate-limited in the kernel; what the limit held back is counted.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceEventRecord {
    pub ts_ns: u64,
    /// Where kfree_skb was called from (a kernel text address); 0 for transmit failures.
    pub location: u64,
    pub ifname: [u8; IFNAMSIZ],
    pub ifindex: u32,
    pub netns: u32,
    /// `enum skb_drop_reason` for drops; the driver's return code for transmit failures.
    pub reason: u32,
    pub len: u32,
    /// skb->protocol, network byte order (an ETH_P_* value).
    pub protocol: u16,
    /// EVENT_XMIT_FAILED or EVENT_DROP.
    pub kind: u8,
    /// DIRECTION_RX or DIRECTION_TX.
    pub direction: u8,
    pub _pad: [u8; 4],
}

const _: () = assert!(core::mem::size_of::<InterfaceEventRecord>() == 56);

/// Kernel struct offsets (from BTF) and settings, set by userspace before load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceProbeConfig {
    pub skb_dev: u32,
    pub skb_len: u32,
    pub skb_head: u32,
    pub skb_data: u32,
    pub skb_mac_header: u32,
    pub skb_iif: u32,
    pub skb_protocol: u32,
    pub dev_ifindex: u32,
    pub dev_name: u32,
    /// `net_device.nd_net.net`.
    pub dev_net: u32,
    /// `net.ns.inum`.
    pub net_inum: u32,
    /// Only this network namespace's interfaces are counted (its inode number).
    pub netns: u32,
    /// Events allowed per second on each CPU (and as a burst); 0 turns events off.
    pub events_per_sec: u32,
    pub _pad: u32,
}

const _: () = assert!(core::mem::size_of::<InterfaceProbeConfig>() == 56);

/// Slots of the probes' per-CPU statistics array.
pub const STAT_UNTRACKED: u32 = 0;
pub const STAT_EVENTS_LOST: u32 = 1;
pub const STAT_EVENTS_SUPPRESSED: u32 = 2;
pub const STAT_DROPS_WITHOUT_DEVICE: u32 = 3;
pub const STAT_SLOTS: u32 = 4;

/// A CPU's event budget: tokens refill at `events_per_sec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventBudget {
    pub last_ns: u64,
    pub tokens: u64,
    /// While jiffies are below this, the budget is known spent: no clock read needed.
    pub spent_until_jiffies: u64,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data with explicit padding and no invalid bit patterns.
    unsafe impl aya::Pod for super::InterfaceCounters {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::InterfaceEventRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::InterfaceProbeConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::EventBudget {}
}
