//! Network interfaces: their /proc/net/dev counters, what netstat -i learns of each, their IPv6
//! addresses, and the kernel's names for the reasons it drops packets.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, Ipv6Addr},
};

/// An interface's counters, as /proc/net/dev gives them. Serialized as they are for `-i --json`:
/// the field names are that view's (README, "JSON output").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DevStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub rx_fifo_errors: u64,
    pub rx_frame_errors: u64,
    pub rx_compressed: u64,
    pub rx_multicast: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    pub tx_fifo_errors: u64,
    pub collisions: u64,
    pub tx_carrier_errors: u64,
    pub tx_compressed: u64,
}

/// One line of /proc/net/if_inet6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Inet6Address {
    pub(crate) device: Vec<u8>,
    pub(crate) address: Ipv6Addr,
    pub(crate) prefix_len: u32,
    pub(crate) scope: u32,
}

/// An interface's IPv4 configuration; `None` where its ioctl failed (net-tools then zeroes the
/// address and prints "[NONE SET]").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ipv4Config {
    pub(crate) address: Ipv4Addr,
    pub(crate) netmask: Option<Ipv4Addr>,
    pub(crate) broadcast: Option<Ipv4Addr>,
    pub(crate) destination: Option<Ipv4Addr>,
}

/// SIOCGIFMAP's device map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeviceMap {
    pub(crate) mem_start: u64,
    pub(crate) mem_end: u64,
    pub(crate) base_addr: u16,
    pub(crate) irq: u8,
    pub(crate) dma: u8,
}

/// What if_fetch learns of an interface, with its /proc/net/dev counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interface {
    pub(crate) name: Vec<u8>,
    pub(crate) flags: u16,
    pub(crate) mtu: i32,
    pub(crate) stats: Option<DevStats>,
    /// The ARPHRD_* type.
    pub(crate) hw_type: u16,
    /// The first 8 bytes of the hardware address (all net-tools copies).
    pub(crate) hw_address: [u8; 8],
    pub(crate) tx_queue_len: Option<i32>,
    pub(crate) map: DeviceMap,
    pub(crate) ipv4: Option<Ipv4Config>,
}

/// The kernel's names for the values of one of its enums (`enum skb_drop_reason`,
/// `enum sk_rst_reason`), which differ between kernel versions; the probes read them from BTF.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReasonNames(HashMap<u32, String>);

impl ReasonNames {
    pub(crate) fn new(names: HashMap<u32, String>) -> Self {
        ReasonNames(names)
    }

    /// `NO_SOCKET`, or the number when this kernel does not name it.
    pub(crate) fn name(&self, reason: u32) -> String {
        self.0
            .get(&reason)
            .cloned()
            .unwrap_or_else(|| format!("reason {reason}"))
    }
}
