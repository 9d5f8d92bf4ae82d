//! /proc/net/igmp and /proc/net/igmp6, read as netstat 2.10's igmp_do_one reads them.
//!
//! netstat reads both files with one line handler whose state (which format, the current
//! device) lives across lines and across the two files; [`parse_memberships`] keeps that state
//! the same way, so odd files are read as netstat reads them.

use std::net::{IpAddr, Ipv6Addr};

use super::scan::{
    Conversion::{Bytes, Hex, HexDigits, Int, Space, Word},
    Scanned, ipv4_from_kernel_hex, lines, scan,
};
use crate::model::groups::Membership;

/// A line netstat warns about and skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BogusLine {
    /// Which format the line was read in ("igmp" or "igmp6" in netstat's warning).
    pub(crate) ipv6: bool,
    /// The line's index in its file, counting from 0, as netstat reports it.
    pub(crate) index: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memberships {
    pub(crate) groups: Vec<Membership>,
    pub(crate) bogus: Vec<BogusLine>,
}

/// Reads the igmp file, then the igmp6 file (either may be absent or not asked for).
pub(crate) fn parse_memberships(igmp: Option<&[u8]>, igmp6: Option<&[u8]>) -> Memberships {
    let mut reader = Reader::default();
    for text in [igmp, igmp6].into_iter().flatten() {
        for (index, line) in lines(text).enumerate() {
            reader.line(index, line);
        }
    }
    reader.memberships
}

/// The size of netstat's device buffer: up to 15 bytes and a NUL.
const DEVICE_BUFFER: usize = 16;

#[derive(Default)]
struct Reader {
    /// Set for good by a first line without "Device" (igmp6 has no header).
    ipv6: bool,
    /// igmp's device lines start with an index (since Linux 2.1).
    index_column: bool,
    /// netstat's static `char device[16]`: v4 device lines overwrite only the bytes they have.
    device: [u8; DEVICE_BUFFER],
    memberships: Memberships,
}

impl Reader {
    fn line(&mut self, index: usize, line: &[u8]) {
        if index == 0 {
            if contains(line, b"Device") {
                self.index_column = line.starts_with(b"Idx");
                return;
            }
            self.ipv6 = true;
        }
        let membership = if self.ipv6 {
            self.ipv6_line(line)
        } else if line.first() != Some(&b'\t') {
            // A device line: it names the device for the group lines that follow.
            match self.ipv4_device_line(line) {
                Some(()) => return,
                None => None,
            }
        } else {
            self.ipv4_group_line(line)
        };
        match membership {
            Some(membership) => self.memberships.groups.push(membership),
            None => self.memberships.bogus.push(BogusLine {
                ipv6: self.ipv6,
                index,
            }),
        }
    }

    /// "%d %15s %64[0-9A-Fa-f] %d": index, device, group in hex, users.
    fn ipv6_line(&mut self, line: &[u8]) -> Option<Membership> {
        let fields = scan(
            line,
            &[Int, Space, Word(15), Space, HexDigits(64), Space, Int],
        );
        if let Some(Scanned::Text(device)) = fields.get(1) {
            self.set_device(device, true);
        }
        let [_, _, Scanned::Text(hex), Scanned::Int(refcnt)] = fields.as_slice() else {
            return None;
        };
        // "%08X" four times, each word in network order.
        let words = scan(
            hex,
            &[Hex(Some(8)), Hex(Some(8)), Hex(Some(8)), Hex(Some(8))],
        );
        // Fewer than four words would leave part of the address uninitialised in netstat.
        if words.len() != 4 {
            return None;
        }
        let mut octets = [0_u8; 16];
        for (chunk, word) in octets.chunks_exact_mut(4).zip(&words) {
            let Scanned::Hex(word) = word else {
                return None;
            };
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Some(Membership {
            device: self.device_name(),
            refcnt: *refcnt,
            group: IpAddr::V6(Ipv6Addr::from(octets)),
        })
    }

    /// "%d\t%15c" (or "%15c" without the index column): 15 bytes, cut at their last ':'.
    fn ipv4_device_line(&mut self, line: &[u8]) -> Option<()> {
        let (format, needed) = if self.index_column {
            (&[Int, Space, Bytes(15)][..], 2)
        } else {
            (&[Bytes(15)][..], 1)
        };
        let fields = scan(line, format);
        if let Some(Scanned::Text(device)) = fields.last() {
            self.set_device(device, false);
        }
        if fields.len() < needed {
            return None;
        }
        let name_len = self.device_name().len();
        if let Some(colon) = self.device[..name_len].iter().rposition(|b| *b == b':') {
            self.device[colon] = 0;
        }
        Some(())
    }

    /// "\t%8[0-9A-Fa-f] %d": the group as the kernel printed its network-order bits, and users.
    fn ipv4_group_line(&self, line: &[u8]) -> Option<Membership> {
        let fields = scan(line, &[Space, HexDigits(8), Space, Int]);
        let [Scanned::Text(hex), Scanned::Int(refcnt)] = fields.as_slice() else {
            return None;
        };
        let [Scanned::Hex(group)] = scan(hex, &[Hex(None)])[..] else {
            return None;
        };
        Some(Membership {
            device: self.device_name(),
            refcnt: *refcnt,
            group: IpAddr::V4(ipv4_from_kernel_hex(group)),
        })
    }

    /// Copies `bytes` over the start of the buffer; a %s conversion also ends the string there.
    fn set_device(&mut self, bytes: &[u8], terminate: bool) {
        let len = bytes.len().min(DEVICE_BUFFER - 1);
        self.device[..len].copy_from_slice(&bytes[..len]);
        if terminate {
            self.device[len] = 0;
        }
    }

    /// The buffer as a C string.
    fn device_name(&self) -> Vec<u8> {
        let end = self
            .device
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(DEVICE_BUFFER);
        self.device[..end].to_vec()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IGMP: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
1\tlo        :     1      V3\n\
\t\t\t\t010000E0     1 0:00000000\t\t0\n\
9\tabcdefghijklmno:     2      V3\n\
\t\t\t\tFAFFFFEF     3 0:00000000\t\t0\n\
8\tabcdefghijklmn:     1      V3\n\
\t\t\t\t010000E0 12345 0:00000000\t\t0\n";

    const IGMP6: &str = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
4    eth0            ff0200000000000000000001ff000001     2 00000004 0\n";

    fn group(device: &str, refcnt: i32, group: &str) -> Membership {
        Membership {
            device: device.as_bytes().to_vec(),
            refcnt,
            group: group.parse().unwrap(),
        }
    }

    #[test]
    fn both_files_in_order() {
        let parsed = parse_memberships(Some(IGMP.as_bytes()), Some(IGMP6.as_bytes()));
        assert_eq!(parsed.bogus, vec![]);
        let little = cfg!(target_endian = "little");
        let (all_hosts, ssdp) = if little {
            ("224.0.0.1", "239.255.255.250")
        } else {
            ("1.0.0.224", "250.255.255.239")
        };
        assert_eq!(
            parsed.groups,
            vec![
                // Padding up to the ':' stays part of the name: netstat pads to 15 anyway.
                group("lo        ", 1, all_hosts),
                group("abcdefghijklmno", 3, ssdp),
                group("abcdefghijklmn", 12345, all_hosts),
                group("lo", 1, "ff02::1"),
                group("eth0", 2, "ff02::1:ff00:1"),
            ]
        );
    }

    #[test]
    fn only_one_file() {
        let v6 = parse_memberships(None, Some(IGMP6.as_bytes()));
        assert_eq!(v6.groups.len(), 2);
        let v4 = parse_memberships(Some(IGMP.as_bytes()), None);
        assert_eq!(v4.groups.len(), 3);
        assert_eq!(parse_memberships(None, None), Memberships::default());
    }

    #[test]
    fn bogus_lines_are_reported_and_skipped() {
        let igmp = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
x\n\
1\tlo        :     1      V3\n\
\t\t\t\tzz\n\
\t\t\t\t010000E0     1 0:00000000\t\t0\n";
        let igmp6 = "1    lo              ff02     1 0000000C 0\n\
1    lo\n";
        let parsed = parse_memberships(Some(igmp.as_bytes()), Some(igmp6.as_bytes()));
        assert_eq!(parsed.groups.len(), 1);
        assert_eq!(
            parsed.bogus,
            vec![
                BogusLine {
                    ipv6: false,
                    index: 1
                },
                BogusLine {
                    ipv6: false,
                    index: 3
                },
                BogusLine {
                    ipv6: true,
                    index: 0
                },
                BogusLine {
                    ipv6: true,
                    index: 1
                },
            ]
        );
    }

    #[test]
    fn truncated_or_mangled_files_never_panic() {
        for text in [IGMP, IGMP6] {
            let text = text.as_bytes();
            for end in 0..text.len() {
                let mut mangled = text[..end].to_vec();
                let _ = parse_memberships(Some(&mangled), Some(&mangled));
                if let Some(byte) = mangled.get_mut(end / 2) {
                    *byte = [b'\t', b' ', b'\n', b':', 0xff][end % 5];
                }
                let _ = parse_memberships(Some(&mangled), Some(&mangled));
            }
        }
    }

    #[test]
    fn a_headerless_igmp_file_is_read_as_igmp6() {
        let parsed = parse_memberships(Some(IGMP6.as_bytes()), None);
        assert_eq!(parsed.groups.len(), 2);
        assert_eq!(parsed.groups[0].group, "ff02::1".parse::<IpAddr>().unwrap());
    }
}
