//! /proc/net/route, /proc/net/rt_cache and /proc/net/ipv6_route, read as net-tools 2.10 reads
//! them (lib/inet_gr.c, lib/inet6_gr.c).
//!
//! netstat scans every line into the same variables, so a field a line lacks keeps the value the
//! previous line gave it; these parsers keep that, and skip the lines netstat skips.

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr},
};

use super::scan::{
    Conversion::{self, Hex, Int, Space, Word},
    Scanned, header_format, ipv4_from_kernel_text, lines, scan,
};
use crate::model::route::{
    CacheExtra, CacheFormat, CacheHeader, Ipv4CacheEntry, Ipv4Route, Ipv4RouteCache, Ipv6Route,
};

/// Why a routing file cannot be read as netstat reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RouteFileError {
    /// Not even a header line.
    Empty,
    /// The header lacks a column netstat needs.
    MissingColumn(&'static str),
    /// A line netstat would print from garbage (it does not check this).
    Malformed { line: usize, reason: String },
}

impl fmt::Display for RouteFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteFileError::Empty => write!(f, "no header line"),
            RouteFileError::MissingColumn(column) => {
                write!(f, "does not contain required field {column}")
            }
            RouteFileError::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

impl std::error::Error for RouteFileError {}

/// The columns netstat's rprint_fib asks for, in its order.
const ROUTE_COLUMNS: [(&str, Conversion); 11] = [
    ("Iface", Word(15)),
    ("Destination", Word(127)),
    ("Gateway", Word(127)),
    ("Flags", Hex(None)),
    ("RefCnt", Int),
    ("Use", Int),
    ("Metric", Int),
    ("Mask", Word(127)),
    ("MTU", Int),
    ("Window", Int),
    ("IRTT", Int),
];

/// Fields up to Window must be on a line for netstat to show it.
const ROUTE_REQUIRED_FIELDS: usize = 10;

/// Every route line netstat reads (down routes included: showing only the up ones is the view's
/// business).
pub(crate) fn parse_ipv4_routes(text: &[u8]) -> Result<Vec<Ipv4Route>, RouteFileError> {
    let mut lines = lines(text);
    let header = lines.next().ok_or(RouteFileError::Empty)?;
    let format = header_format(header, &ROUTE_COLUMNS).map_err(RouteFileError::MissingColumn)?;
    let mut irtt = 0;
    let mut routes = Vec::new();
    for (index, line) in lines.enumerate() {
        let fields = Fields::new(scan(line, &format), index + 2);
        if fields.len() < ROUTE_REQUIRED_FIELDS {
            continue;
        }
        if let Some(value) = fields.optional_int(10)? {
            irtt = value;
        }
        routes.push(Ipv4Route {
            iface: fields.text(0)?.to_vec(),
            destination: fields.ipv4(1)?,
            gateway: fields.ipv4(2)?,
            flags: fields.hex(3)?,
            refcnt: fields.int(4)?,
            uses: fields.int(5)?,
            metric: fields.int(6)?,
            mask: fields.ipv4(7)?,
            mss: fields.int(8)?,
            window: fields.int(9)?,
            irtt,
        });
    }
    Ok(routes)
}

/// Header words and the bits proc_guess_fmt sets for them (a substring test: "HH" is also
/// found in "HHRef").
const CACHE_HEADER_BITS: [(&str, u32); 7] = [
    ("IRTT", 1),
    ("TOS", 2),
    ("HHRef", 4),
    ("HHUptod", 8),
    ("SpecDst", 16),
    ("HH", 32),
    ("ARP", 64),
];
const CACHE_LINUX2_2_CODE: u32 = 63;
const CACHE_LINUX2_0_CODE: u32 = 97;

/// The columns both layouts share, in rprint_cache's order.
const CACHE_COMMON_COLUMNS: [(&str, Conversion); 11] = [
    ("Iface", Word(15)),
    ("Destination", Word(127)),
    ("Gateway", Word(127)),
    ("Flags", Hex(None)),
    ("RefCnt", Int),
    ("Use", Int),
    ("Metric", Int),
    ("Source", Word(127)),
    ("MTU", Int),
    ("Window", Int),
    ("IRTT", Int),
];
const CACHE_LINUX2_0_COLUMNS: [(&str, Conversion); 2] = [("HH", Int), ("ARP", Int)];
// TOS is printed in hex but read with %d, as net-tools does.
const CACHE_LINUX2_2_COLUMNS: [(&str, Conversion); 4] = [
    ("TOS", Int),
    ("HHRef", Int),
    ("HHUptod", Int),
    ("SpecDst", Word(127)),
];

/// Fields up to the twelfth must be on a line for netstat to show it.
const CACHE_REQUIRED_FIELDS: usize = 12;

/// net-tools' proc_guess_fmt on the header line.
pub(crate) fn ipv4_cache_header(text: &[u8]) -> Result<CacheHeader, RouteFileError> {
    let mut lines = lines(text);
    let header = lines.next().ok_or(RouteFileError::Empty)?;
    let header = String::from_utf8_lossy(header);
    let code = CACHE_HEADER_BITS
        .iter()
        .filter(|(word, _)| header.contains(word))
        .fold(0, |code, (_, bit)| code | bit);
    let (unrecognised, format) = match code {
        CACHE_LINUX2_2_CODE => (None, Some(CacheFormat::Linux2_2)),
        CACHE_LINUX2_0_CODE => (None, Some(CacheFormat::Linux2_0)),
        1 => (Some(code), Some(CacheFormat::Linux2_0)),
        2 => (Some(code), Some(CacheFormat::Linux2_2)),
        _ => (Some(code), None),
    };
    Ok(CacheHeader {
        unrecognised,
        format,
        data_lines: lines.count(),
    })
}

/// The cache's entries; an unrecognised layout leaves them empty (see [`CacheHeader`]).
pub(crate) fn parse_ipv4_cache(text: &[u8]) -> Result<Ipv4RouteCache, RouteFileError> {
    let header = ipv4_cache_header(text)?;
    let empty = Ipv4RouteCache {
        header,
        entries: Vec::new(),
    };
    let (format, extra_columns): (_, &[(&str, Conversion)]) = match header.format {
        Some(CacheFormat::Linux2_2) => (CacheFormat::Linux2_2, &CACHE_LINUX2_2_COLUMNS),
        Some(CacheFormat::Linux2_0) => (CacheFormat::Linux2_0, &CACHE_LINUX2_0_COLUMNS),
        None => return Ok(empty),
    };
    let mut lines = lines(text);
    let header_line = lines.next().ok_or(RouteFileError::Empty)?;
    let columns: Vec<_> = CACHE_COMMON_COLUMNS
        .iter()
        .chain(extra_columns)
        .copied()
        .collect();
    // netstat only needs the columns to read lines (it warns about the header regardless).
    let scan_format = match header_format(header_line, &columns) {
        Ok(scan_format) => scan_format,
        Err(_) if header.data_lines == 0 => return Ok(empty),
        Err(missing) => return Err(RouteFileError::MissingColumn(missing)),
    };
    // What netstat initialises; later lines that lack these fields keep earlier values.
    let mut carried = [0_i32; 3];
    let mut entries = Vec::new();
    for (index, line) in lines.enumerate() {
        let fields = Fields::new(scan(line, &scan_format), index + 2);
        if fields.len() < CACHE_REQUIRED_FIELDS {
            continue;
        }
        for (slot, field) in carried.iter_mut().zip(11..) {
            if let Some(value) = fields.optional_int(field)? {
                *slot = value;
            }
        }
        let source = fields.ipv4(7)?;
        let extra = match format {
            CacheFormat::Linux2_0 => CacheExtra::Linux2_0 {
                hh: carried[0],
                arp: carried[1],
            },
            CacheFormat::Linux2_2 => CacheExtra::Linux2_2 {
                tos: carried[0],
                hh_ref: carried[1],
                hh_uptodate: carried[2],
                // Without the field netstat re-reads its previous (printed) text, which never
                // parses as hex, and so prints the address it read last: the source.
                spec_dst: fields.optional_ipv4(14)?.unwrap_or(source),
            },
        };
        entries.push(Ipv4CacheEntry {
            iface: fields.text(0)?.to_vec(),
            destination: fields.ipv4(1)?,
            gateway: fields.ipv4(2)?,
            flags: fields.hex(3)?,
            refcnt: fields.int(4)?,
            uses: fields.int(5)?,
            metric: fields.int(6)?,
            source,
            mss: fields.int(8)?,
            window: fields.int(9)?,
            irtt: fields.int(10)?,
            extra,
        });
    }
    Ok(Ipv4RouteCache { header, entries })
}

/// rprint_fib6's format: "%4s" eight times per address, hex lengths and counters, the device.
fn ipv6_route_format() -> Vec<Conversion> {
    let address = [Word(4); 8];
    let mut format = Vec::new();
    for _ in 0..2 {
        format.extend(address);
        format.extend([Space, Hex(Some(2)), Space]);
    }
    format.extend(address);
    format.extend([Space, Hex(Some(8)), Space, Hex(Some(8)), Space]);
    format.extend([Hex(Some(8)), Space, Hex(Some(8)), Space, Word(15)]);
    format
}

const IPV6_ROUTE_FIELDS: usize = 31;
const DESTINATION: usize = 0;
const PREFIX_LEN: usize = 8;
const SOURCE: usize = 9;
const SOURCE_LEN: usize = 17;
const NEXT_HOP: usize = 18;
const METRIC: usize = 26;

/// Every line: netstat skips none (its check on the field count is disabled), so a short line
/// repeats what the previous one left behind.
pub(crate) fn parse_ipv6_routes(text: &[u8]) -> Result<Vec<Ipv6Route>, RouteFileError> {
    let format = ipv6_route_format();
    let mut slots: Vec<Option<Scanned>> = vec![None; IPV6_ROUTE_FIELDS];
    let mut routes = Vec::new();
    for (index, line) in lines(text).enumerate() {
        for (slot, value) in slots.iter_mut().zip(scan(line, &format)) {
            *slot = Some(value);
        }
        let fields = Fields::from_slots(&slots, index + 1)?;
        routes.push(Ipv6Route {
            destination: fields.ipv6(DESTINATION)?,
            prefix_len: fields.hex(PREFIX_LEN)?,
            source: fields.ipv6(SOURCE)?,
            source_len: fields.hex(SOURCE_LEN)?,
            next_hop: fields.ipv6(NEXT_HOP)?,
            metric: fields.hex(METRIC)? as i32,
            refcnt: fields.hex(METRIC + 1)? as i32,
            uses: fields.hex(METRIC + 2)? as i32,
            flags: fields.hex(METRIC + 3)?,
            iface: fields.text(METRIC + 4)?.to_vec(),
        });
    }
    Ok(routes)
}

/// A line's scanned fields, with its number for errors.
struct Fields {
    values: Vec<Scanned>,
    line: usize,
}

impl Fields {
    fn new(values: Vec<Scanned>, line: usize) -> Self {
        Fields { values, line }
    }

    /// Fields that earlier lines may have set; all must be set by now.
    fn from_slots(slots: &[Option<Scanned>], line: usize) -> Result<Self, RouteFileError> {
        let values = slots
            .iter()
            .cloned()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed(line, "too few fields"))?;
        Ok(Fields::new(values, line))
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn get(&self, index: usize) -> Result<&Scanned, RouteFileError> {
        self.values
            .get(index)
            .ok_or_else(|| malformed(self.line, "too few fields"))
    }

    fn text(&self, index: usize) -> Result<&[u8], RouteFileError> {
        match self.get(index)? {
            Scanned::Text(text) => Ok(text),
            _ => Err(malformed(self.line, "a number where text belongs")),
        }
    }

    fn int(&self, index: usize) -> Result<i32, RouteFileError> {
        match self.get(index)? {
            Scanned::Int(value) => Ok(*value),
            _ => Err(malformed(self.line, "not a decimal number")),
        }
    }

    fn hex(&self, index: usize) -> Result<u32, RouteFileError> {
        match self.get(index)? {
            Scanned::Hex(value) => Ok(*value),
            _ => Err(malformed(self.line, "not a hexadecimal number")),
        }
    }

    fn optional_int(&self, index: usize) -> Result<Option<i32>, RouteFileError> {
        if index < self.len() {
            self.int(index).map(Some)
        } else {
            Ok(None)
        }
    }

    fn ipv4(&self, index: usize) -> Result<Ipv4Addr, RouteFileError> {
        let text = self.text(index)?;
        ipv4_from_kernel_text(text).ok_or_else(|| {
            let reason = format!("not an address: {}", String::from_utf8_lossy(text));
            malformed(self.line, &reason)
        })
    }

    fn optional_ipv4(&self, index: usize) -> Result<Option<Ipv4Addr>, RouteFileError> {
        if index < self.len() {
            self.ipv4(index).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Eight groups of up to four hex digits, joined with ':' and read with inet_pton.
    fn ipv6(&self, first: usize) -> Result<Ipv6Addr, RouteFileError> {
        let groups = (first..first + 8)
            .map(|index| self.text(index).map(String::from_utf8_lossy))
            .collect::<Result<Vec<_>, _>>()?;
        let text = groups.join(":");
        text.parse()
            .map_err(|_| malformed(self.line, &format!("not an IPv6 address: {text}")))
    }
}

fn malformed(line: usize, reason: &str) -> RouteFileError {
    RouteFileError::Malformed {
        line,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE_HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n";

    /// An address as this machine's kernel prints it in these files.
    fn kernel_hex(addr: &str) -> String {
        let addr: Ipv4Addr = addr.parse().unwrap();
        format!("{:08X}", u32::from_ne_bytes(addr.octets()))
    }

    fn route_line(fields: &[&str]) -> String {
        fields.join("\t") + "\n"
    }

    #[test]
    fn ipv4_routes_with_netstats_skipping_and_carrying() {
        let text = [
            ROUTE_HEADER.to_string(),
            route_line(&[
                "eth0",
                &kernel_hex("0.0.0.0"),
                &kernel_hex("192.0.2.1"),
                "0003",
                "0",
                "0",
                "100",
                &kernel_hex("0.0.0.0"),
                "0",
                "0",
                "7",
            ]),
            // Too short: skipped.
            "eth0\t00000000\n".to_string(),
            // No IRTT: keeps the previous line's 7.
            route_line(&[
                "eth1",
                &kernel_hex("10.0.0.0"),
                &kernel_hex("0.0.0.0"),
                "0001",
                "1",
                "2",
                "-1",
                &kernel_hex("255.0.0.0"),
                "1500",
                "65535",
            ]),
        ]
        .concat();
        let routes = parse_ipv4_routes(text.as_bytes()).unwrap();
        assert_eq!(
            routes,
            vec![
                Ipv4Route {
                    iface: b"eth0".to_vec(),
                    destination: Ipv4Addr::UNSPECIFIED,
                    gateway: "192.0.2.1".parse().unwrap(),
                    flags: 3,
                    refcnt: 0,
                    uses: 0,
                    metric: 100,
                    mask: Ipv4Addr::UNSPECIFIED,
                    mss: 0,
                    window: 0,
                    irtt: 7,
                },
                Ipv4Route {
                    iface: b"eth1".to_vec(),
                    destination: "10.0.0.0".parse().unwrap(),
                    gateway: Ipv4Addr::UNSPECIFIED,
                    flags: 1,
                    refcnt: 1,
                    uses: 2,
                    metric: -1,
                    mask: "255.0.0.0".parse().unwrap(),
                    mss: 1500,
                    window: 65535,
                    irtt: 7,
                },
            ]
        );
    }

    #[test]
    fn ipv4_route_errors() {
        assert_eq!(parse_ipv4_routes(b""), Err(RouteFileError::Empty));
        assert_eq!(
            parse_ipv4_routes(b"Iface\tDestination\tGateway\n"),
            Err(RouteFileError::MissingColumn("Flags"))
        );
        let bad =
            ROUTE_HEADER.to_string() + "eth0\tnothex!\t00000000\t1\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert!(matches!(
            parse_ipv4_routes(bad.as_bytes()),
            Err(RouteFileError::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn route_cache_layouts() {
        let modern = "Iface\tDestination\tGateway \tFlags\t\tRefCnt\tUse\tMetric\tSource\t\tMTU\tWindow\tIRTT\tTOS\tHHRef\tHHUptod\tSpecDst\n";
        assert_eq!(
            parse_ipv4_cache(modern.as_bytes()),
            Ok(Ipv4RouteCache {
                header: CacheHeader {
                    unrecognised: None,
                    format: Some(CacheFormat::Linux2_2),
                    data_lines: 0
                },
                entries: vec![]
            })
        );
        let old = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tSource\t\tMTU\tWindow\tIRTT\tHH\tARP\n";
        assert_eq!(
            ipv4_cache_header(old.as_bytes()).map(|header| header.format),
            Ok(Some(CacheFormat::Linux2_0))
        );
        // Code 1 is kept as format 1; its missing columns only matter with lines to read.
        assert_eq!(
            parse_ipv4_cache(b"Iface\tIRTT\n").map(|cache| cache.header),
            Ok(CacheHeader {
                unrecognised: Some(1),
                format: Some(CacheFormat::Linux2_0),
                data_lines: 0
            })
        );
        assert_eq!(
            parse_ipv4_cache(b"Iface\tIRTT\nx\n"),
            Err(RouteFileError::MissingColumn("Destination"))
        );
        assert_eq!(
            ipv4_cache_header(b"Iface\tTOS\tARP\nx\n"),
            Ok(CacheHeader {
                unrecognised: Some(66),
                format: None,
                data_lines: 1
            })
        );
        assert_eq!(parse_ipv4_cache(b""), Err(RouteFileError::Empty));
    }

    #[test]
    fn route_cache_entries_read_tos_as_decimal() {
        let header = "Iface\tDestination\tGateway \tFlags\t\tRefCnt\tUse\tMetric\tSource\t\tMTU\tWindow\tIRTT\tTOS\tHHRef\tHHUptod\tSpecDst\n";
        let local = kernel_hex("127.0.0.1");
        let line = |tos: &str| {
            route_line(&[
                "lo", &local, &local, "80000000", "1", "5", "0", &local, "1500", "0", "0", tos,
                "-1", "1", &local,
            ])
        };
        // "FF" is no decimal number: the line has 11 fields and is skipped.
        let text = [header.to_string(), line("10"), line("FF")].concat();
        let cache = parse_ipv4_cache(text.as_bytes()).unwrap();
        assert_eq!(cache.entries.len(), 1);
        assert_eq!(
            cache.entries[0].extra,
            CacheExtra::Linux2_2 {
                tos: 10,
                hh_ref: -1,
                hh_uptodate: 1,
                spec_dst: Ipv4Addr::LOCALHOST
            }
        );
    }

    #[test]
    fn truncated_or_mangled_files_never_panic() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/route/varied");
        for file in ["route", "rt_cache", "ipv6_route"] {
            let text = std::fs::read(format!("{fixtures}/{file}")).unwrap();
            for end in 0..text.len() {
                let mut mangled = text[..end].to_vec();
                let _ = (parse_ipv4_routes(&mangled), parse_ipv4_cache(&mangled));
                let _ = parse_ipv6_routes(&mangled);
                if let Some(byte) = mangled.get_mut(end / 2) {
                    *byte = [b'\t', b' ', b'\n', b'-', 0xff][end % 5];
                }
                let _ = (parse_ipv4_routes(&mangled), parse_ipv4_cache(&mangled));
                let _ = parse_ipv6_routes(&mangled);
            }
        }
    }

    #[test]
    fn ipv6_routes() {
        let text = "20010db8000000000000000000000000 20 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let routes = parse_ipv6_routes(text.as_bytes()).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(
            routes[0].destination,
            "2001:db8::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(routes[0].prefix_len, 32);
        assert_eq!(routes[0].next_hop, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(routes[0].metric, 1024);
        assert_eq!(routes[0].iface, b"eth0");
        assert_eq!(routes[1].metric, -1);
        assert_eq!(routes[1].flags, 0x0020_0200);
    }

    #[test]
    fn ipv6_route_short_lines() {
        // A blank line repeats the previous route, as netstat's reused variables do.
        let line = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n";
        let routes = parse_ipv6_routes(format!("{line}\n").as_bytes()).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0], routes[1]);
        // Nothing to repeat on the first line.
        assert!(matches!(
            parse_ipv6_routes(b"fe80 40\n"),
            Err(RouteFileError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            parse_ipv6_routes(line.replace("fe80", "zz80").as_bytes()),
            Err(RouteFileError::Malformed { line: 1, .. })
        ));
    }
}
