//! /proc/net/dev and /proc/net/if_inet6, read as net-tools 2.10's lib/interface.c reads them,
//! and the interface list netstat -i walks: /proc/net/dev's names merged with SIOCGIFCONF's,
//! kept in nstrcmp order.

use std::cmp::Ordering;

use super::scan::{
    Conversion::{self, Hex, Space, Unsigned, Word},
    Scanned, lines, scan,
};
use crate::model::interfaces::{DevStats, Inet6Address};

/// One interface of the list, with its counters when /proc/net/dev had a line for it (an
/// alias that only SIOCGIFCONF names has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedInterface {
    pub name: Vec<u8>,
    pub stats: Option<DevStats>,
}

/// The interface list in netstat's order. Names are added as net-tools' if_cache_add adds
/// them: a name already present is found again, a new one goes in nstrcmp order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceList {
    pub interfaces: Vec<ListedInterface>,
}

impl InterfaceList {
    /// The entry for `name`, added if new. Searches from the end, as if_cache_add does.
    fn add(&mut self, name: &[u8]) -> &mut ListedInterface {
        let mut at = 0;
        for (index, listed) in self.interfaces.iter().enumerate().rev() {
            match nstrcmp(&listed.name, name) {
                Ordering::Equal => return &mut self.interfaces[index],
                Ordering::Less => {
                    at = index + 1;
                    break;
                }
                Ordering::Greater => {}
            }
        }
        self.interfaces.insert(
            at,
            ListedInterface {
                name: name.to_vec(),
                stats: None,
            },
        );
        &mut self.interfaces[at]
    }

    /// Adds /proc/net/dev's interfaces with their counters (if_readlist_proc). Fields a line
    /// lacks keep what an earlier line for the same name gave, as sscanf leaves them.
    pub fn add_proc_dev(&mut self, text: &[u8]) {
        let mut all = lines(text);
        all.next();
        // netstat tells the file's version from its second header line.
        let format = match all.next() {
            Some(header) if contains(header, b"compressed") => DevFormat::Compressed,
            Some(header) if contains(header, b"bytes") => DevFormat::Bytes,
            _ => DevFormat::Packets,
        };
        for line in all {
            let (name, rest) = split_name(line);
            let listed = self.add(&name);
            let stats = listed.stats.get_or_insert_with(DevStats::default);
            format.read(rest, stats);
        }
    }

    /// Adds an interface whose counters come from elsewhere (the live interface table).
    pub fn add_with_stats(&mut self, name: &[u8], stats: DevStats) {
        self.add(name).stats = Some(stats);
    }

    /// Adds SIOCGIFCONF's names (if_readconf), after /proc/net/dev's.
    pub fn add_names<'a>(&mut self, names: impl IntoIterator<Item = &'a [u8]>) {
        for name in names {
            self.add(name);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The three layouts /proc/net/dev has had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DevFormat {
    /// Packets only (before 2.1.x kernels counted bytes).
    Packets,
    /// Bytes, without the compressed and multicast columns.
    Bytes,
    /// Today's sixteen columns.
    Compressed,
}

impl DevFormat {
    /// Reads a line's numbers into `stats` in this layout's order; the fields after the first
    /// that does not scan are left alone, and those the layout lacks are zeroed as netstat does.
    fn read(self, rest: &[u8], stats: &mut DevStats) {
        let s = stats;
        let fields: Vec<&mut u64> = match self {
            DevFormat::Compressed => vec![
                &mut s.rx_bytes,
                &mut s.rx_packets,
                &mut s.rx_errors,
                &mut s.rx_dropped,
                &mut s.rx_fifo_errors,
                &mut s.rx_frame_errors,
                &mut s.rx_compressed,
                &mut s.rx_multicast,
                &mut s.tx_bytes,
                &mut s.tx_packets,
                &mut s.tx_errors,
                &mut s.tx_dropped,
                &mut s.tx_fifo_errors,
                &mut s.collisions,
                &mut s.tx_carrier_errors,
                &mut s.tx_compressed,
            ],
            DevFormat::Bytes => {
                s.rx_multicast = 0;
                vec![
                    &mut s.rx_bytes,
                    &mut s.rx_packets,
                    &mut s.rx_errors,
                    &mut s.rx_dropped,
                    &mut s.rx_fifo_errors,
                    &mut s.rx_frame_errors,
                    &mut s.tx_bytes,
                    &mut s.tx_packets,
                    &mut s.tx_errors,
                    &mut s.tx_dropped,
                    &mut s.tx_fifo_errors,
                    &mut s.collisions,
                    &mut s.tx_carrier_errors,
                ]
            }
            DevFormat::Packets => {
                s.rx_bytes = 0;
                s.tx_bytes = 0;
                s.rx_multicast = 0;
                vec![
                    &mut s.rx_packets,
                    &mut s.rx_errors,
                    &mut s.rx_dropped,
                    &mut s.rx_fifo_errors,
                    &mut s.rx_frame_errors,
                    &mut s.tx_packets,
                    &mut s.tx_errors,
                    &mut s.tx_dropped,
                    &mut s.tx_fifo_errors,
                    &mut s.collisions,
                    &mut s.tx_carrier_errors,
                ]
            }
        };
        let format = vec![Unsigned; fields.len()];
        for (field, value) in fields.into_iter().zip(scan(rest, &format)) {
            if let Scanned::Unsigned(value) = value {
                *field = value;
            }
        }
    }
}

/// net-tools' get_name: the interface name before the ':' and the rest of the line. An alias
/// "eth0:1:" keeps its ":1"; a name followed by white space instead of ':' ends there.
fn split_name(line: &[u8]) -> (Vec<u8>, &[u8]) {
    let is_space = |b: u8| b.is_ascii_whitespace() || b == 0x0b;
    let start = line
        .iter()
        .position(|b| !is_space(*b))
        .unwrap_or(line.len());
    let mut name = Vec::new();
    let mut pos = start;
    while let Some(&b) = line.get(pos) {
        if is_space(b) {
            break;
        }
        if b == b':' {
            let digits = line[pos + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let after = pos + 1 + digits;
            if line.get(after) == Some(&b':') {
                name.extend_from_slice(&line[pos..after]);
                pos = after;
            }
            pos += 1;
            break;
        }
        name.push(b);
        pos += 1;
    }
    (name, &line[pos.min(line.len())..])
}

/// net-tools' nstrcmp: names compared with their trailing numbers as numbers and a ":N" alias
/// suffix last, so eth2 sorts before eth10 and eth0:1 after eth0.
pub(crate) fn nstrcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (a, a_alias) = cut_alias(a);
    let (b, b_alias) = cut_alias(b);
    let a_index = digits_start(a);
    let b_index = digits_start(b);
    let common = a_index.min(b_index);
    a[..common]
        .cmp(&b[..common])
        // A longer non-digit part sorts after, whatever it holds.
        .then(a_index.cmp(&b_index))
        .then_with(|| atoi(&a[a_index..]).cmp(&atoi(&b[b_index..])))
        .then_with(|| a.cmp(b))
        .then_with(|| {
            let number = |alias: Option<&[u8]>| alias.map_or(-1, atoi);
            number(a_alias).cmp(&number(b_alias))
        })
        .then_with(|| match (a_alias, b_alias) {
            (Some(a), Some(b)) => a.cmp(b),
            _ => Ordering::Equal,
        })
}

/// net-tools' cutalias: the name and its alias number when it ends in ':' and digits.
fn cut_alias(name: &[u8]) -> (&[u8], Option<&[u8]>) {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let colon = name.len() - digits;
    if digits > 0 && colon > 0 && name[colon - 1] == b':' {
        (&name[..colon - 1], Some(&name[colon..]))
    } else {
        (name, None)
    }
}

/// Where a name's trailing digits start.
fn digits_start(name: &[u8]) -> usize {
    name.len() - name.iter().rev().take_while(|b| b.is_ascii_digit()).count()
}

/// C's atoi on a string of digits, kept from overflowing.
fn atoi(digits: &[u8]) -> i64 {
    digits.iter().fold(0_i64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(i64::from(digit - b'0'))
    })
}

/// /proc/net/if_inet6, read with ife_print_long's scanf format; lines that do not scan fully
/// are skipped.
pub(crate) fn parse_if_inet6(text: &[u8]) -> Vec<Inet6Address> {
    let mut format: Vec<Conversion> = vec![Word(4); 8];
    format.extend([
        Space,
        Hex(Some(8)),
        Space,
        Hex(Some(2)),
        Space,
        Hex(Some(2)),
        Space,
        Hex(Some(2)),
        Space,
        Word(20),
    ]);
    lines(text)
        .filter_map(|line| {
            let fields = scan(line, &format);
            let words: Vec<&[u8]> = fields
                .iter()
                .filter_map(|field| match field {
                    Scanned::Text(text) => Some(text.as_slice()),
                    _ => None,
                })
                .collect();
            let numbers: Vec<u32> = fields
                .iter()
                .filter_map(|field| match field {
                    Scanned::Hex(value) => Some(*value),
                    _ => None,
                })
                .collect();
            let ([groups @ .., device], [_, prefix_len, scope, _]) =
                (words.as_slice(), numbers.as_slice())
            else {
                return None;
            };
            if groups.len() != 8 {
                return None;
            }
            let text = groups
                .iter()
                .map(|group| String::from_utf8_lossy(group))
                .collect::<Vec<_>>()
                .join(":");
            Some(Inet6Address {
                device: device.to_vec(),
                address: text.parse().ok()?,
                prefix_len: *prefix_len,
                scope: *scope,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    const DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3673      38    0    0    0     0          0         0     3673      38    0    0    0     0       0          0
  eth10: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
  eth2:1: 5 6
  eth2: 125930535    6182    0    0    0     0          0         0   378049    3797    0    0    0     0       0          0
";

    #[test]
    fn names_in_nstrcmp_order_with_counters() {
        let mut list = InterfaceList::default();
        list.add_proc_dev(DEV.as_bytes());
        list.add_names([&b"eth2:0"[..], b"lo", b"eth2"]);
        let names: Vec<_> = list
            .interfaces
            .iter()
            .map(|i| String::from_utf8_lossy(&i.name).into_owned())
            .collect();
        assert_eq!(names, ["eth2", "eth2:0", "eth2:1", "eth10", "lo"]);
        let eth10 = list.interfaces[3].stats.unwrap_or_default();
        assert_eq!((eth10.rx_bytes, eth10.tx_compressed), (1, 16));
        assert_eq!(list.interfaces[1].stats, None);
        let alias = list.interfaces[2].stats.unwrap_or_default();
        assert_eq!(
            (alias.rx_bytes, alias.rx_packets, alias.tx_bytes),
            (5, 6, 0)
        );
        assert_eq!(
            list.interfaces[0].stats.map(|s| s.rx_bytes),
            Some(125930535)
        );
    }

    #[test]
    fn older_layouts() {
        let mut list = InterfaceList::default();
        list.add_proc_dev(b"h\n face |bytes packets\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13\n");
        let stats = list.interfaces[0].stats.unwrap_or_default();
        assert_eq!(
            (stats.rx_packets, stats.tx_bytes, stats.tx_carrier_errors),
            (2, 7, 13)
        );
        let mut list = InterfaceList::default();
        list.add_proc_dev(b"h\n face |packets\n  eth0: 1 2 3 4 5 6 7 8 9 10 11\n");
        let stats = list.interfaces[0].stats.unwrap_or_default();
        assert_eq!(
            (stats.rx_packets, stats.tx_packets, stats.rx_bytes),
            (1, 6, 0)
        );
    }

    #[test]
    fn nstrcmp_orders_as_net_tools() {
        assert_eq!(nstrcmp(b"eth2", b"eth10"), Ordering::Less);
        assert_eq!(nstrcmp(b"eth0", b"eth0:1"), Ordering::Less);
        assert_eq!(nstrcmp(b"eth0:2", b"eth0:10"), Ordering::Less);
        assert_eq!(nstrcmp(b"eth", b"lo"), Ordering::Less);
        // A longer non-digit part sorts after.
        assert_eq!(nstrcmp(b"veth1", b"lo"), Ordering::Greater);
        assert_eq!(nstrcmp(b"ab1", b"abc"), Ordering::Less);
        assert_eq!(nstrcmp(b"eth01", b"eth1"), Ordering::Less);
    }

    #[test]
    fn if_inet6_lines() {
        let text = b"00000000000000000000000000000001 01 80 10 80       lo\n\
fe8000000000000000fc00fffe000001 02 40 20 80     eth0\nbogus\n";
        let parsed = parse_if_inet6(text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].address, Ipv6Addr::LOCALHOST);
        assert_eq!((parsed[0].prefix_len, parsed[0].scope), (128, 0x10));
        assert_eq!(parsed[1].device, b"eth0");
        assert_eq!(parsed[1].address.to_string(), "fe80::fc:ff:fe00:1");
    }
}
