//! `netstat -r`: the kernel routing tables as net-tools 2.10 prints them (lib/inet_gr.c
//! rprint_fib and rprint_cache, lib/inet6_gr.c rprint_fib6).

use std::{
    io::{self, Write},
    net::{IpAddr, Ipv4Addr},
};

use super::address::{inet_name, inet_sprint, inet6_name, numeric, socket_host, truncate_bytes};
use crate::model::{
    names::Names,
    route::{
        CacheExtra, CacheFormat, CacheHeader, Ipv4CacheEntry, Ipv4Route, Ipv4RouteCache, Ipv6Route,
        flags::*,
    },
};

/// Which columns -e selects for the IPv4 tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteColumns {
    /// Nothing but the title (four or more -e wrap around to this).
    TitleOnly,
    /// Metric, Ref, Use: `-re`.
    Usage,
    /// MSS, Window, irtt: plain `-r`.
    Tcp,
    /// Both sets: `-ree`.
    All,
}

impl RouteColumns {
    /// From netstat's flag_exp (1 plus the number of -e): for -r netstat swaps 1 and 2, so the
    /// default shows the TCP columns, then keeps the low two bits.
    pub(crate) fn for_route(flag_exp: u8) -> Self {
        let level = match flag_exp {
            1 => 2,
            2 => 1,
            other => other,
        };
        match level & 3 {
            0 => RouteColumns::TitleOnly,
            1 => RouteColumns::Usage,
            2 => RouteColumns::Tcp,
            _ => RouteColumns::All,
        }
    }
}

/// How the table's addresses are named.
#[derive(Clone, Copy)]
pub(crate) struct Naming<'a> {
    pub(crate) numeric_hosts: bool,
    pub(crate) names: &'a dyn Names,
}

impl Naming<'_> {
    fn bits(&self) -> u32 {
        if self.numeric_hosts {
            numeric::NUMERIC
        } else {
            0
        }
    }
}

/// The family netstat could not open a file for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteFamily {
    Inet,
    Inet6,
}

/// What netstat prints on stdout when a family's routing file cannot be opened.
pub(crate) fn write_not_configured(family: RouteFamily, out: &mut dyn Write) -> io::Result<()> {
    match family {
        RouteFamily::Inet => writeln!(out, "INET (IPv4) not configured in this system."),
        RouteFamily::Inet6 => writeln!(out, "INET6 (IPv6) not configured in this system."),
    }
}

const ADDRESS_HEADINGS: &str = "Destination     Gateway         Genmask         ";
const CACHE_ADDRESS_HEADINGS: &str = "Source          Destination     Gateway         ";
const USAGE_HEADINGS: &str = "Flags Metric Ref    Use Iface";
const TCP_HEADINGS: &str = "Flags   MSS Window  irtt Iface";
const ALL_HEADINGS: &str = "Flags Metric Ref    Use Iface    MSS   Window irtt";

/// The title and column headings of the IPv4 table (printed even when the file then fails).
pub(crate) fn write_ipv4_table_heading(
    columns: RouteColumns,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "Kernel IP routing table")?;
    let headings = match columns {
        RouteColumns::TitleOnly => return Ok(()),
        RouteColumns::Usage => USAGE_HEADINGS,
        RouteColumns::Tcp => TCP_HEADINGS,
        RouteColumns::All => ALL_HEADINGS,
    };
    writeln!(out, "{ADDRESS_HEADINGS}{headings}")
}

/// The IPv4 forwarding table: every route that is up.
pub(crate) fn write_ipv4_table(
    routes: &[Ipv4Route],
    columns: RouteColumns,
    naming: Naming,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_ipv4_table_heading(columns, out)?;
    for route in shown_ipv4_routes(routes) {
        write_ipv4_route(route, columns, naming, out)?;
    }
    Ok(())
}

/// The IPv4 routes netstat shows: those that are up.
pub(crate) fn shown_ipv4_routes(routes: &[Ipv4Route]) -> impl Iterator<Item = &Ipv4Route> {
    routes.iter().filter(|route| route.flags & RTF_UP != 0)
}

/// Addresses longer than this are cut (net-tools ends its buffers at byte 15).
const IPV4_COLUMN: usize = 15;

fn write_ipv4_route(
    route: &Ipv4Route,
    columns: RouteColumns,
    naming: Naming,
    out: &mut dyn Write,
) -> io::Result<()> {
    let bits = naming.bits();
    let host_bit = if route.flags & RTF_HOST != 0 {
        numeric::HOST
    } else {
        0
    };
    let destination = inet_name(
        route.destination,
        bits | numeric::DEFAULT_NAME | host_bit,
        u32::from(route.mask),
        naming.names,
    );
    let destination = truncate_bytes(&destination, IPV4_COLUMN);
    // Gateways are always hosts, and the mask never names anything.
    let gateway = inet_sprint(route.gateway, bits | numeric::HOST, naming.names);
    let gateway = truncate_bytes(&gateway, IPV4_COLUMN);
    let mask = route.mask.to_string();
    let flags = ipv4_table_flags(route.flags);
    let iface = String::from_utf8_lossy(&route.iface);
    let (metric, refcnt, uses) = (route.metric, route.refcnt, route.uses);
    let (mss, window, irtt) = (route.mss, route.window, route.irtt);
    let reject = route.flags & RTF_REJECT != 0;
    match (columns, reject) {
        (RouteColumns::TitleOnly, _) => Ok(()),
        (RouteColumns::Usage, false) => writeln!(
            out,
            "{destination:<15} {gateway:<15} {mask:<15} {flags:<5} {metric:<6} {refcnt:<2} {uses:>7} {iface}"
        ),
        (RouteColumns::Usage, true) => writeln!(
            out,
            "{destination:<15} -               {mask:<15} {flags:<5} {metric:<6} -  {uses:>7} -"
        ),
        (RouteColumns::Tcp, false) => writeln!(
            out,
            "{destination:<15} {gateway:<15} {mask:<15} {flags:<5} {mss:>5} {window:<5} {irtt:>6} {iface}"
        ),
        (RouteColumns::Tcp, true) => writeln!(
            out,
            "{destination:<15} -               {mask:<15} {flags:<5}     - -          - -"
        ),
        (RouteColumns::All, false) => writeln!(
            out,
            "{destination:<15} {gateway:<15} {mask:<15} {flags:<5} {metric:<6} {refcnt:<3} {uses:>6} {iface:<6.6}   {mss:<5} {window:<6} {irtt}"
        ),
        (RouteColumns::All, true) => writeln!(
            out,
            "{destination:<15} -               {mask:<15} {flags:<5} {metric:<6} -  {uses:>7} -        -     -      -"
        ),
    }
}

/// Flag letters in net-tools' order; a reject route restarts the string at "!".
pub(crate) fn ipv4_table_flags(bits: u32) -> String {
    let mut text = String::new();
    for (flag, letters) in [(RTF_UP, "U"), (RTF_GATEWAY, "G"), (RTF_REJECT, "!")] {
        if bits & flag != 0 {
            if flag == RTF_REJECT {
                text.clear();
            }
            text.push_str(letters);
        }
    }
    let rest = [
        (RTF_HOST, "H"),
        (RTF_REINSTATE, "R"),
        (RTF_DYNAMIC, "D"),
        (RTF_MODIFIED, "M"),
        (RTF_DEFAULT, "d"),
        (RTF_ALLONLINK, "a"),
        (RTF_ADDRCONF, "c"),
        (RTF_NONEXTHOP, "o"),
        (RTF_EXPIRES, "e"),
        (RTF_CACHE, "c"),
        (RTF_FLOW, "f"),
        (RTF_POLICY, "p"),
        (RTF_LOCAL, "l"),
        (RTF_MTU, "u"),
        (RTF_WINDOW, "w"),
        (RTF_IRTT, "i"),
        (RTF_NOTCACHED, "n"),
    ];
    append_flags(&mut text, bits, &rest);
    text
}

fn append_flags(text: &mut String, bits: u32, table: &[(u32, &str)]) {
    for (flag, letters) in table {
        if bits & flag != 0 {
            text.push_str(letters);
        }
    }
}

/// The path netstat names in its complaint about an unknown route cache header.
const RT_CACHE_PATH: &str = "/proc/net/rt_cache";

/// The first line of the IPv4 route cache (all netstat prints when the file is empty).
pub(crate) fn write_ipv4_cache_title(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Kernel IP routing cache")
}

/// The title and headings of the IPv4 route cache.
pub(crate) fn write_ipv4_cache_heading(
    header: &CacheHeader,
    columns: RouteColumns,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_ipv4_cache_title(out)?;
    if let Some(code) = header.unrecognised {
        writeln!(
            out,
            "ERROR: proc_guess_fmt({RT_CACHE_PATH},... returned: {code}"
        )?;
    }
    let headings = match (columns, header.format) {
        (RouteColumns::TitleOnly, _) => return Ok(()),
        (RouteColumns::Usage, _) => USAGE_HEADINGS,
        (RouteColumns::Tcp, _) => TCP_HEADINGS,
        (RouteColumns::All, Some(CacheFormat::Linux2_0)) => {
            "Flags Metric Ref    Use Iface    MSS   Window irtt  HH  Arp"
        }
        (RouteColumns::All, Some(CacheFormat::Linux2_2)) => {
            "Flags Metric Ref    Use Iface    MSS   Window irtt  TOS HHRef HHUptod     SpecDst"
        }
        (RouteColumns::All, None) => return Ok(()),
    };
    writeln!(out, "{CACHE_ADDRESS_HEADINGS}{headings}")
}

/// The IPv4 route cache (empty on kernels since 3.6, which print only its header).
pub(crate) fn write_ipv4_cache(
    cache: &Ipv4RouteCache,
    columns: RouteColumns,
    naming: Naming,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_ipv4_cache_heading(&cache.header, columns, out)?;
    for entry in &cache.entries {
        write_ipv4_cache_entry(entry, columns, naming, out)?;
    }
    Ok(())
}

fn write_ipv4_cache_entry(
    entry: &Ipv4CacheEntry,
    columns: RouteColumns,
    naming: Naming,
    out: &mut dyn Write,
) -> io::Result<()> {
    let name = |addr: Ipv4Addr| socket_host(IpAddr::V4(addr), naming.numeric_hosts, naming.names);
    let (source, destination, gateway) = (
        name(entry.source),
        name(entry.destination),
        name(entry.gateway),
    );
    let format = match entry.extra {
        CacheExtra::Linux2_0 { .. } => CacheFormat::Linux2_0,
        CacheExtra::Linux2_2 { .. } => CacheFormat::Linux2_2,
    };
    let flags = ipv4_cache_flags(entry.flags, format);
    let iface = String::from_utf8_lossy(&entry.iface);
    let (metric, refcnt, uses) = (entry.metric, entry.refcnt, entry.uses);
    let (mss, window, irtt) = (entry.mss, entry.window, entry.irtt);
    let addresses = format!("{source:<15} {destination:<15} {gateway:<15} {flags:<5}");
    match (columns, &entry.extra) {
        (RouteColumns::TitleOnly, _) => Ok(()),
        (RouteColumns::Usage, _) => {
            writeln!(out, "{addresses} {metric:<6} {refcnt:<2} {uses:>7} {iface}")
        }
        (RouteColumns::Tcp, _) => {
            writeln!(out, "{addresses} {mss:>5} {window:<5} {irtt:>6} {iface}")
        }
        (RouteColumns::All, CacheExtra::Linux2_0 { hh, arp }) => writeln!(
            out,
            "{addresses} {metric:<6} {refcnt:<3} {uses:>6} {iface:<6.6}   {mss:<5} {window:<6} {irtt:<5} {hh:<3} {arp}"
        ),
        (
            RouteColumns::All,
            CacheExtra::Linux2_2 {
                tos,
                hh_ref,
                hh_uptodate,
                spec_dst,
            },
        ) => {
            let spec_dst = name(*spec_dst);
            writeln!(
                out,
                "{addresses} {metric:<6} {refcnt:<3} {uses:>6} {iface:<6.6}   {mss:<5} {window:<6} {irtt:<5} {tos:<3} {hh_ref:<3}   {hh_uptodate:<3} {spec_dst:>15}"
            )
        }
    }
}

/// Cache flag letters. The 2.0 layout has U and H where 2.2 has its dead and on-link bits.
pub(crate) fn ipv4_cache_flags(bits: u32, format: CacheFormat) -> String {
    let mut text = String::new();
    if format == CacheFormat::Linux2_0 {
        append_flags(&mut text, bits, &[(RTF_UP, "U"), (RTF_HOST, "H")]);
    }
    append_flags(&mut text, bits, &[(RTF_GATEWAY, "G")]);
    if bits & RTF_REJECT != 0 {
        text = "!".to_string();
    }
    append_flags(
        &mut text,
        bits,
        &[
            (RTF_REINSTATE, "R"),
            (RTF_DYNAMIC, "D"),
            (RTF_MODIFIED, "M"),
        ],
    );
    if format == CacheFormat::Linux2_2 {
        append_flags(&mut text, bits, &[(RTCF_DEAD, "-"), (RTCF_ONLINK, "o")]);
    }
    let rest = [
        (RTCF_NOTIFY, "n"),
        (RTCF_DIRECTDST, "d"),
        (RTCF_TPROXY, "t"),
        (RTCF_FAST, "f"),
        (RTCF_MASQ, "q"),
        (RTCF_SNAT, "Ns"),
        (RTCF_DOREDIRECT, "r"),
        (RTCF_DIRECTSRC, "i"),
        (RTCF_DNAT, "Nd"),
        (RTCF_BROADCAST, "b"),
        (RTCF_MULTICAST, "m"),
        (RTCF_REJECT, "#"),
        (RTCF_LOCAL, "l"),
    ];
    append_flags(&mut text, bits, &rest);
    text
}

/// The IPv6 table: its forwarding entries, or with `cache` its cached ones (net-tools shows
/// those when /proc/net/ndisc is missing, as it is on every kernel since 2.2).
pub(crate) fn write_ipv6_routes(
    routes: &[Ipv6Route],
    cache: bool,
    naming: Naming,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_ipv6_heading(cache, out)?;
    for route in shown_ipv6_routes(routes, cache) {
        let bits = naming.bits();
        let destination = format!(
            "{}/{}",
            inet6_name(route.destination, bits, naming.names),
            route.prefix_len
        );
        let next_hop = inet6_name(route.next_hop, bits, naming.names);
        let flags = ipv6_flags(route.flags);
        let (metric, refcnt, uses) = (route.metric, route.refcnt, route.uses);
        let iface = String::from_utf8_lossy(&route.iface);
        writeln!(
            out,
            "{destination:<30} {next_hop:<26} {flags:<4} {metric:<3} {refcnt:<1} {uses:>6} {iface}"
        )?;
    }
    Ok(())
}

/// The IPv6 routes netstat shows: the forwarding entries, or with `cache` the cached ones.
pub(crate) fn shown_ipv6_routes(
    routes: &[Ipv6Route],
    cache: bool,
) -> impl Iterator<Item = &Ipv6Route> {
    routes
        .iter()
        .filter(move |route| (route.flags & RTF_CACHE != 0) == cache)
}

/// The title and headings of the IPv6 table.
pub(crate) fn write_ipv6_heading(cache: bool, out: &mut dyn Write) -> io::Result<()> {
    if cache {
        writeln!(out, "Kernel IPv6 routing cache")?;
    } else {
        writeln!(out, "Kernel IPv6 routing table")?;
    }
    writeln!(
        out,
        "Destination                    Next Hop                   Flag Met Ref  Use If"
    )
}

pub(crate) fn ipv6_flags(bits: u32) -> String {
    let mut text = String::new();
    let table = [
        (RTF_UP, "U"),
        (RTF_REJECT, "!"),
        (RTF_GATEWAY, "G"),
        (RTF_HOST, "H"),
        (RTF_DEFAULT, "D"),
        (RTF_ADDRCONF, "A"),
        (RTF_CACHE, "C"),
        (RTF_ALLONLINK, "a"),
        (RTF_EXPIRES, "e"),
        (RTF_MODIFIED, "m"),
        (RTF_NONEXTHOP, "n"),
        (RTF_FLOW, "f"),
    ];
    append_flags(&mut text, bits, &table);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::{FixedNames, NoNames};

    fn render(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn route(destination: &str, gateway: &str, mask: &str, flags: u32) -> Ipv4Route {
        Ipv4Route {
            iface: b"eth0".to_vec(),
            destination: destination.parse().unwrap(),
            gateway: gateway.parse().unwrap(),
            flags,
            refcnt: 0,
            uses: 0,
            metric: 100,
            mask: mask.parse().unwrap(),
            mss: 0,
            window: 0,
            irtt: 0,
        }
    }

    #[test]
    fn extend_levels_after_the_swap() {
        assert_eq!(RouteColumns::for_route(1), RouteColumns::Tcp);
        assert_eq!(RouteColumns::for_route(2), RouteColumns::Usage);
        assert_eq!(RouteColumns::for_route(3), RouteColumns::All);
        assert_eq!(RouteColumns::for_route(4), RouteColumns::TitleOnly);
        assert_eq!(RouteColumns::for_route(5), RouteColumns::Usage);
    }

    #[test]
    fn flag_letters() {
        assert_eq!(ipv4_table_flags(RTF_UP | RTF_GATEWAY), "UG");
        assert_eq!(ipv4_table_flags(RTF_UP | RTF_GATEWAY | RTF_REJECT), "!");
        assert_eq!(ipv4_table_flags(RTF_UP | RTF_HOST | RTF_MTU), "UHu");
        assert_eq!(ipv4_table_flags(!RTF_REJECT), "UGHRDMdacoecfpluwin");
        assert_eq!(
            ipv4_cache_flags(RTCF_DEAD | RTF_REJECT | RTCF_ONLINK, CacheFormat::Linux2_2),
            "!-o"
        );
        assert_eq!(
            ipv4_cache_flags(RTF_UP | RTF_HOST | RTCF_SNAT, CacheFormat::Linux2_0),
            "UHNs"
        );
        assert_eq!(ipv6_flags(u32::MAX), "U!GHDACaemnf");
        assert_eq!(ipv6_flags(0x8020_0001), "Un");
    }

    #[test]
    fn ipv4_table_names_and_columns() {
        let mut names = FixedNames::default();
        names.hosts.insert(
            "192.0.2.1".parse().unwrap(),
            "a-rather-long-gateway-name".into(),
        );
        names
            .networks
            .insert("198.51.100.0".parse().unwrap(), "testnet".into());
        let routes = [
            route("0.0.0.0", "192.0.2.1", "0.0.0.0", RTF_UP | RTF_GATEWAY),
            route("198.51.100.0", "0.0.0.0", "255.255.255.0", RTF_UP),
            route("10.0.0.0", "0.0.0.0", "255.0.0.0", RTF_UP | RTF_REJECT),
            route("10.9.0.0", "0.0.0.0", "255.255.0.0", 0),
        ];
        let naming = Naming {
            numeric_hosts: false,
            names: &names,
        };
        let text = render(|out| write_ipv4_table(&routes, RouteColumns::Tcp, naming, out));
        assert_eq!(
            text,
            "Kernel IP routing table\n\
Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface\n\
default         a-rather-long-g 0.0.0.0         UG        0 0          0 eth0\n\
testnet         0.0.0.0         255.255.255.0   U         0 0          0 eth0\n\
10.0.0.0        -               255.0.0.0       !         - -          - -\n"
        );
        let numeric = Naming {
            numeric_hosts: true,
            names: &NoNames,
        };
        let text = render(|out| write_ipv4_table(&routes[..1], RouteColumns::All, numeric, out));
        assert_eq!(
            text,
            "Kernel IP routing table\n\
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface    MSS   Window irtt\n\
0.0.0.0         192.0.2.1       0.0.0.0         UG    100    0        0 eth0     0     0      0\n"
        );
        let text = render(|out| write_ipv4_table(&routes, RouteColumns::TitleOnly, numeric, out));
        assert_eq!(text, "Kernel IP routing table\n");
    }

    #[test]
    fn modern_empty_route_cache() {
        let cache = Ipv4RouteCache {
            header: CacheHeader {
                unrecognised: None,
                format: Some(CacheFormat::Linux2_2),
                data_lines: 0,
            },
            entries: vec![],
        };
        let naming = Naming {
            numeric_hosts: true,
            names: &NoNames,
        };
        let text = render(|out| write_ipv4_cache(&cache, RouteColumns::Tcp, naming, out));
        assert_eq!(
            text,
            "Kernel IP routing cache\n\
Source          Destination     Gateway         Flags   MSS Window  irtt Iface\n"
        );
        let unknown = Ipv4RouteCache {
            header: CacheHeader {
                unrecognised: Some(66),
                format: None,
                data_lines: 0,
            },
            entries: vec![],
        };
        let text = render(|out| write_ipv4_cache(&unknown, RouteColumns::All, naming, out));
        assert_eq!(
            text,
            "Kernel IP routing cache\nERROR: proc_guess_fmt(/proc/net/rt_cache,... returned: 66\n"
        );
    }

    #[test]
    fn ipv6_table_and_cache() {
        let route = |destination: &str, next_hop: &str, flags: u32| Ipv6Route {
            destination: destination.parse().unwrap(),
            prefix_len: 64,
            source: "::".parse().unwrap(),
            source_len: 0,
            next_hop: next_hop.parse().unwrap(),
            metric: 256,
            refcnt: 1,
            uses: 0,
            flags,
            iface: b"eth0".to_vec(),
        };
        let routes = [
            route("::", "fe80::1", RTF_UP | RTF_GATEWAY),
            route("2001:db8::", "::", RTF_UP | RTF_CACHE),
        ];
        let names = Naming {
            numeric_hosts: false,
            names: &NoNames,
        };
        let text = render(|out| write_ipv6_routes(&routes, false, names, out));
        assert_eq!(
            text,
            "Kernel IPv6 routing table\n\
Destination                    Next Hop                   Flag Met Ref  Use If\n\
[::]/64                        fe80::1                    UG   256 1      0 eth0\n"
        );
        let text = render(|out| write_ipv6_routes(&routes, true, names, out));
        assert_eq!(
            text,
            "Kernel IPv6 routing cache\n\
Destination                    Next Hop                   Flag Met Ref  Use If\n\
2001:db8::/64                  [::]                       UC   256 1      0 eth0\n"
        );
    }
}
