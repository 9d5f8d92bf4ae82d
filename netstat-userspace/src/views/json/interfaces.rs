//! `-i --json`: one object per interface, with everything the long form (-e) shows.

use std::{
    io::{self, Write},
    net::{Ipv4Addr, Ipv6Addr},
};

use serde::Serialize;

use super::write_line;
use crate::{
    model::interfaces::{DevStats, Inet6Address, Interface},
    views::{
        escape::escape_bytes,
        netstat::interfaces::{flag_names, hardware, iff, scope_names},
    },
};

#[derive(Debug, Serialize)]
struct InterfaceJson {
    iface: String,
    mtu: i32,
    flags: Vec<&'static str>,
    tx_queue_len: Option<i32>,
    hw_type: &'static str,
    hw_address: Option<String>,
    ipv4: Option<Ipv4Json>,
    inet6: Vec<Inet6Json>,
    /// `null` for an alias that only SIOCGIFCONF names (netstat: "no statistics available").
    stats: Option<DevStats>,
}

/// `null` where the ioctl failed (netstat: "[NONE SET]"); the broadcast address only on a
/// broadcast interface and the destination only on a point-to-point one, as -e shows them.
#[derive(Debug, Serialize)]
struct Ipv4Json {
    address: Ipv4Addr,
    netmask: Option<Ipv4Addr>,
    broadcast: Option<Ipv4Addr>,
    destination: Option<Ipv4Addr>,
}

#[derive(Debug, Serialize)]
struct Inet6Json {
    address: Ipv6Addr,
    prefix_len: u32,
    scope_id: u32,
    scope: Vec<&'static str>,
}

/// One interface; `inet6` is /proc/net/if_inet6 (this interface's lines are picked out here).
pub(crate) fn write_interface(
    iface: &Interface,
    inet6: &[Inet6Address],
    out: &mut dyn Write,
) -> io::Result<()> {
    let (hw_type, hw_address) = hardware(iface);
    let only = |bit: u16, addr: Option<Ipv4Addr>| addr.filter(|_| iface.flags & bit != 0);
    let interface = InterfaceJson {
        iface: escape_bytes(&iface.name),
        mtu: iface.mtu,
        flags: flag_names(iface.flags),
        tx_queue_len: iface.tx_queue_len,
        hw_type,
        hw_address,
        ipv4: iface.ipv4.map(|ipv4| Ipv4Json {
            address: ipv4.address,
            netmask: ipv4.netmask,
            broadcast: only(iff::BROADCAST, ipv4.broadcast),
            destination: only(iff::POINTOPOINT, ipv4.destination),
        }),
        inet6: inet6
            .iter()
            .filter(|addr| addr.device == iface.name)
            .map(|addr| Inet6Json {
                address: addr.address,
                prefix_len: addr.prefix_len,
                scope_id: addr.scope,
                scope: scope_names(addr.scope),
            })
            .collect(),
        stats: iface.stats,
    };
    write_line(out, &interface)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::views::netstat::interfaces::tests::{eth0, inet6};

    fn render(iface: &Interface, inet6: &[Inet6Address]) -> Value {
        let mut out = Vec::new();
        write_interface(iface, inet6, &mut out).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn every_counter_flag_and_address() {
        let mut iface = eth0();
        iface.stats.as_mut().expect("eth0 has counters").collisions = 2;
        let value = render(&iface, &inet6());
        assert_eq!(
            value,
            json!({
                "iface": "eth0", "mtu": 1400,
                "flags": ["UP", "BROADCAST", "RUNNING", "MULTICAST"],
                "tx_queue_len": 1000, "hw_type": "ether", "hw_address": "02:fc:00:00:00:01",
                "ipv4": {
                    "address": "192.0.2.2", "netmask": "255.255.255.0",
                    "broadcast": "192.0.2.255", "destination": null
                },
                "inet6": [{"address": "fd00::2", "prefix_len": 64, "scope_id": 0, "scope": ["global"]}],
                "stats": {
                    "rx_bytes": 125930535, "rx_packets": 6182, "rx_errors": 0, "rx_dropped": 0,
                    "rx_fifo_errors": 0, "rx_frame_errors": 0, "rx_compressed": 0,
                    "rx_multicast": 0, "tx_bytes": 378049, "tx_packets": 3797, "tx_errors": 0,
                    "tx_dropped": 0, "tx_fifo_errors": 0, "collisions": 2,
                    "tx_carrier_errors": 0, "tx_compressed": 0
                }
            })
        );
    }

    #[test]
    fn aliases_without_counters_and_odd_names() {
        let mut alias = eth0();
        alias.name = b"eth0:\x1b".to_vec();
        alias.stats = None;
        alias.ipv4 = None;
        alias.hw_type = 772;
        let value = render(&alias, &[]);
        assert_eq!(value["iface"], "eth0:\\x1b");
        assert_eq!(value["stats"], Value::Null);
        assert_eq!(value["ipv4"], Value::Null);
        assert_eq!(value["hw_type"], "loop");
        assert_eq!(value["hw_address"], Value::Null);
        assert_eq!(value["inet6"], json!([]));
    }
}
