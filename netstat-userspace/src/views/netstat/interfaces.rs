//! `netstat -i`: the interface table, short (lib/interface.c ife_print_short) or, with -e, in
//! ifconfig's long form (ife_print_long).

use std::{io, io::Write, net::Ipv4Addr};

use super::address::{inet_sprint, inet6_name};
use crate::model::{
    interfaces::{Inet6Address, Interface},
    names::Names,
};

/// The IFF_* flags net-tools prints.
pub(crate) mod iff {
    pub(crate) const UP: u16 = 0x1;
    pub(crate) const BROADCAST: u16 = 0x2;
    pub(crate) const DEBUG: u16 = 0x4;
    pub(crate) const LOOPBACK: u16 = 0x8;
    pub(crate) const POINTOPOINT: u16 = 0x10;
    pub(crate) const NOTRAILERS: u16 = 0x20;
    pub(crate) const RUNNING: u16 = 0x40;
    pub(crate) const NOARP: u16 = 0x80;
    pub(crate) const PROMISC: u16 = 0x100;
    pub(crate) const ALLMULTI: u16 = 0x200;
    pub(crate) const MASTER: u16 = 0x400;
    pub(crate) const SLAVE: u16 = 0x800;
    pub(crate) const MULTICAST: u16 = 0x1000;
    pub(crate) const DYNAMIC: u16 = 0x8000;
}

/// "Kernel Interface table" (netstat prints it once, also with -c) and, for the short form,
/// the column heading (with -c, on every refresh).
pub(crate) fn write_heading(first: bool, long: bool, out: &mut dyn Write) -> io::Result<()> {
    if first {
        out.write_all(b"Kernel Interface table\n")?;
    }
    if !long {
        out.write_all(b"Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg\n")?;
    }
    Ok(())
}

/// One line of the short table.
pub(crate) fn write_short(iface: &Interface, out: &mut dyn Write) -> io::Result<()> {
    let name = &iface.name[..iface.name.len().min(15)];
    out.write_all(name)?;
    write!(out, "{:width$} ", "", width = 15 - name.len())?;
    write!(out, "{:5} ", iface.mtu)?;
    match &iface.stats {
        Some(s) => write!(
            out,
            "{:8} {:6} {:6} {:<6} {:8} {:6} {:6} {:6} ",
            s.rx_packets,
            s.rx_errors,
            s.rx_dropped,
            s.rx_fifo_errors,
            s.tx_packets,
            s.tx_errors,
            s.tx_dropped,
            s.tx_fifo_errors
        )?,
        None => write!(out, "{:<56}", "     - no statistics available -")?,
    }
    if iface.flags == 0 {
        out.write_all(b"[NO FLAGS]")?;
    }
    // net-tools prints P both for PROMISC and for POINTOPOINT.
    let letters = [
        (iff::ALLMULTI, 'A'),
        (iff::BROADCAST, 'B'),
        (iff::DEBUG, 'D'),
        (iff::LOOPBACK, 'L'),
        (iff::MULTICAST, 'M'),
        (iff::DYNAMIC, 'd'),
        (iff::PROMISC, 'P'),
        (iff::NOTRAILERS, 'N'),
        (iff::NOARP, 'O'),
        (iff::POINTOPOINT, 'P'),
        (iff::SLAVE, 's'),
        (iff::MASTER, 'm'),
        (iff::RUNNING, 'R'),
        (iff::UP, 'U'),
    ];
    let flags: String = letters
        .iter()
        .filter(|(bit, _)| iface.flags & bit != 0)
        .map(|(_, letter)| *letter)
        .collect();
    writeln!(out, "{flags}")
}

/// The names of the IFF_* flags set, in ifconfig's order.
pub(crate) fn flag_names(flags: u16) -> Vec<&'static str> {
    let words = [
        (iff::UP, "UP"),
        (iff::BROADCAST, "BROADCAST"),
        (iff::DEBUG, "DEBUG"),
        (iff::LOOPBACK, "LOOPBACK"),
        (iff::POINTOPOINT, "POINTOPOINT"),
        (iff::NOTRAILERS, "NOTRAILERS"),
        (iff::RUNNING, "RUNNING"),
        (iff::NOARP, "NOARP"),
        (iff::PROMISC, "PROMISC"),
        (iff::ALLMULTI, "ALLMULTI"),
        (iff::SLAVE, "SLAVE"),
        (iff::MASTER, "MASTER"),
        (iff::MULTICAST, "MULTICAST"),
        (iff::DYNAMIC, "DYNAMIC"),
    ];
    words
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, word)| *word)
        .collect()
}

/// The hardware type's name and the address as -e shows them (none for types without one).
pub(crate) fn hardware(iface: &Interface) -> (&'static str, Option<String>) {
    let hw = HwType::of(iface.hw_type);
    (hw.name, hw.address(&iface.hw_address))
}

/// The ifconfig-like block of -e. `inet6` is /proc/net/if_inet6 (this interface's lines are
/// picked out here).
pub(crate) fn write_long(
    iface: &Interface,
    inet6: &[Inet6Address],
    names: &dyn Names,
    out: &mut dyn Write,
) -> io::Result<()> {
    let set = flag_names(iface.flags);
    out.write_all(&iface.name)?;
    // net-tools keeps the flags in a C short, so IFF_DYNAMIC prints negative; with no flag
    // its trimming of the list leaves a lone '<'.
    let list = if set.is_empty() {
        String::new()
    } else {
        format!("{}>", set.join(","))
    };
    writeln!(
        out,
        ": flags={}<{list}  mtu {}",
        iface.flags as i16, iface.mtu
    )?;

    // Only the numeric bit: ifconfig never resolves these.
    let v4 = |addr: Option<Ipv4Addr>| match addr {
        Some(addr) => inet_sprint(addr, 1, names),
        None => "[NONE SET]".to_string(),
    };
    if let Some(ipv4) = &iface.ipv4 {
        write!(
            out,
            "        inet {}  netmask {}",
            v4(Some(ipv4.address)),
            v4(ipv4.netmask)
        )?;
        if iface.flags & iff::BROADCAST != 0 {
            write!(out, "  broadcast {}", v4(ipv4.broadcast))?;
        }
        if iface.flags & iff::POINTOPOINT != 0 {
            write!(out, "  destination {}", v4(ipv4.destination))?;
        }
        out.write_all(b"\n")?;
    }

    for addr in inet6.iter().filter(|a| a.device == iface.name) {
        write!(
            out,
            "        inet6 {}  prefixlen {}  scopeid 0x{:x}",
            inet6_name(addr.address, 1, names),
            addr.prefix_len,
            addr.scope
        )?;
        writeln!(out, "{}", scope_words(addr.scope))?;
    }

    let hw = HwType::of(iface.hw_type);
    match hw.address(&iface.hw_address) {
        Some(address) => write!(out, "        {} {}", hw.name, address)?,
        None => write!(out, "        {}", hw.name)?,
    }
    if let Some(len) = iface.tx_queue_len {
        write!(out, "  txqueuelen {len}")?;
    }
    writeln!(out, "  ({})", hw.title)?;

    if let Some(s) = &iface.stats {
        let (rx_short, rx_unit) = short_bytes(s.rx_bytes);
        writeln!(
            out,
            "        RX packets {}  bytes {} ({}.{} {})",
            s.rx_packets,
            s.rx_bytes,
            rx_short / 10,
            rx_short % 10,
            rx_unit
        )?;
        writeln!(
            out,
            "        RX errors {}  dropped {}  overruns {}  frame {}",
            s.rx_errors, s.rx_dropped, s.rx_fifo_errors, s.rx_frame_errors
        )?;
        let (tx_short, tx_unit) = short_bytes(s.tx_bytes);
        writeln!(
            out,
            "        TX packets {}  bytes {} ({}.{} {})",
            s.tx_packets,
            s.tx_bytes,
            tx_short / 10,
            tx_short % 10,
            tx_unit
        )?;
        writeln!(
            out,
            "        TX errors {}  dropped {} overruns {}  carrier {}  collisions {}",
            s.tx_errors, s.tx_dropped, s.tx_fifo_errors, s.tx_carrier_errors, s.collisions
        )?;
    }

    let map = &iface.map;
    if map.irq != 0 || map.mem_start != 0 || map.dma != 0 || map.base_addr >= 0x100 {
        out.write_all(b"        device ")?;
        if map.irq != 0 {
            write!(out, "interrupt {}  ", map.irq)?;
        }
        // Only I/O-mapped devices use a base address.
        if map.base_addr >= 0x100 {
            write!(out, "base 0x{:x}  ", map.base_addr)?;
        }
        if map.mem_start != 0 {
            write!(out, "memory 0x{:x}-{:x}  ", map.mem_start, map.mem_end)?;
        }
        if map.dma != 0 {
            write!(out, "  dma 0x{:x}", map.dma)?;
        }
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// The "<global>"-style words after an IPv6 scope id (empty when none applies).
fn scope_words(scope: u32) -> String {
    let words = scope_names(scope);
    if words.is_empty() {
        String::new()
    } else {
        format!("<{}>", words.join(","))
    }
}

/// The names of an IPv6 address's scope bits, as ifconfig names them.
pub(crate) fn scope_names(scope: u32) -> Vec<&'static str> {
    let mut words = Vec::new();
    let mut scope = scope;
    if scope & 0x80 != 0 {
        words.push("compat");
        scope -= 0x80;
    }
    if scope == 0 {
        words.push("global");
    }
    for (bit, word) in [(0x20, "link"), (0x40, "site"), (0x10, "host")] {
        if scope & bit != 0 {
            words.push(word);
        }
    }
    words
}

/// A byte count in tenths of the largest binary unit it exceeds, as ife_print_long rounds it
/// (down), with the unit.
fn short_bytes(bytes: u64) -> (u64, &'static str) {
    const UNITS: [(u64, &str); 5] = [
        (1 << 50, "PiB"),
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    if bytes > 1 << 60 {
        // net-tools divides the count itself here, not ten times it.
        return (bytes / 115_292_150_460_684_697, "EiB");
    }
    let tenths = bytes.wrapping_mul(10);
    UNITS
        .iter()
        .find(|(size, _)| bytes > *size)
        .map_or((tenths, "B"), |(size, unit)| (tenths / size, unit))
}

/// The hardware types of net-tools' table that Linux interfaces have; any other is "unspec".
struct HwType {
    name: &'static str,
    title: &'static str,
    print: HwPrint,
}

#[derive(Clone, Copy)]
enum HwPrint {
    /// No address printer: only the name is shown.
    None,
    /// Six colon-separated bytes.
    Ether,
    /// IPIP tunnels print an empty address.
    Empty,
    /// The bytes of a struct sockaddr's data, as "XX-XX-...".
    Unspec,
}

impl HwType {
    fn of(hw_type: u16) -> HwType {
        let (name, title, print) = match hw_type {
            1 => ("ether", "Ethernet", HwPrint::Ether),
            772 => ("loop", "Local Loopback", HwPrint::None),
            768 => ("tunnel", "IPIP Tunnel", HwPrint::Empty),
            776 => ("sit", "IPv6-in-IPv4", HwPrint::None),
            512 => ("ppp", "Point-to-Point Protocol", HwPrint::None),
            _ => ("unspec", "UNSPEC", HwPrint::Unspec),
        };
        HwType { name, title, print }
    }

    fn address(&self, bytes: &[u8; 8]) -> Option<String> {
        let hex = |bytes: &[u8], sep: &str, upper: bool| {
            bytes
                .iter()
                .map(|b| {
                    if upper {
                        format!("{b:02X}")
                    } else {
                        format!("{b:02x}")
                    }
                })
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self.print {
            HwPrint::None => None,
            HwPrint::Ether => Some(hex(&bytes[..6], ":", false)),
            HwPrint::Empty => Some(String::new()),
            // sizeof(struct sockaddr) bytes: the 8 net-tools copied, then zeroes.
            HwPrint::Unspec => {
                let mut all = [0_u8; 16];
                all[..8].copy_from_slice(bytes);
                Some(hex(&all, "-", true))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use crate::model::{
        interfaces::{DevStats, DeviceMap, Ipv4Config},
        names::NoNames,
    };

    /// An Ethernet interface with an IPv4 address and counters (also the JSON view's fixture).
    pub(crate) fn eth0() -> Interface {
        Interface {
            name: b"eth0".to_vec(),
            flags: 4163,
            mtu: 1400,
            stats: Some(DevStats {
                rx_bytes: 125930535,
                rx_packets: 6182,
                tx_bytes: 378049,
                tx_packets: 3797,
                ..DevStats::default()
            }),
            hw_type: 1,
            hw_address: [2, 0xfc, 0, 0, 0, 1, 0, 0],
            tx_queue_len: Some(1000),
            map: DeviceMap::default(),
            ipv4: Some(Ipv4Config {
                address: Ipv4Addr::new(192, 0, 2, 2),
                netmask: Some(Ipv4Addr::new(255, 255, 255, 0)),
                broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
                destination: Some(Ipv4Addr::UNSPECIFIED),
            }),
        }
    }

    fn render(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn short_lines() {
        let mut no_stats = eth0();
        no_stats.name = b"a-very-long-interface:1".to_vec();
        no_stats.stats = None;
        no_stats.flags = 0x1000 | 0x100 | 0x10 | 0x41;
        let text = render(|out| {
            write_heading(true, false, out)?;
            write_short(&eth0(), out)?;
            write_short(&no_stats, out)
        });
        assert_eq!(
            text,
            "Kernel Interface table
Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg
eth0             1400     6182      0      0 0          3797      0      0      0 BMRU
a-very-long-int  1400      - no statistics available -                        MPPRU
"
        );
    }

    /// /proc/net/if_inet6's lines: one for eth0, one for lo.
    pub(crate) fn inet6() -> [Inet6Address; 2] {
        [
            Inet6Address {
                device: b"eth0".to_vec(),
                address: "fd00::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
                prefix_len: 64,
                scope: 0,
            },
            Inet6Address {
                device: b"lo".to_vec(),
                address: Ipv6Addr::LOCALHOST,
                prefix_len: 128,
                scope: 0x10,
            },
        ]
    }

    #[test]
    fn long_block() {
        let text = render(|out| write_long(&eth0(), &inet6(), &NoNames, out));
        assert_eq!(
            text,
            "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1400
        inet 192.0.2.2  netmask 255.255.255.0  broadcast 192.0.2.255
        inet6 fd00::2  prefixlen 64  scopeid 0x0<global>
        ether 02:fc:00:00:00:01  txqueuelen 1000  (Ethernet)
        RX packets 6182  bytes 125930535 (120.0 MiB)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 3797  bytes 378049 (369.1 KiB)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

"
        );
    }

    #[test]
    fn units_and_scopes() {
        assert_eq!(short_bytes(1024), (10240, "B"));
        assert_eq!(short_bytes(1025), (10, "KiB"));
        assert_eq!(short_bytes(u64::MAX).1, "EiB");
        assert_eq!(scope_words(0x20), "<link>");
        assert_eq!(scope_words(0x80), "<compat,global>");
        assert_eq!(scope_words(0x01), "");
    }
}
