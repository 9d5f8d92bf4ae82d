//! `-r --json`: one object per route, the routes the text shows, addresses always numeric.

use std::{
    io::{self, Write},
    net::{Ipv4Addr, Ipv6Addr},
};

use serde::Serialize;

use super::write_line;
use crate::{
    model::route::{CacheExtra, CacheFormat, Ipv4Route, Ipv4RouteCache, Ipv6Route},
    views::{
        escape::escape_bytes,
        netstat::route::{
            ipv4_cache_flags, ipv4_table_flags, ipv6_flags, shown_ipv4_routes, shown_ipv6_routes,
        },
    },
};

/// The columns every route and cache entry has (`flags` are netstat's letters).
#[derive(Debug, Serialize)]
struct Usage {
    flags: String,
    metric: i32,
    #[serde(rename = "ref")]
    refcnt: i32,
    #[serde(rename = "use")]
    uses: i32,
    iface: String,
}

/// The [`Usage`] of a route or a cache entry, which name these columns alike.
macro_rules! usage {
    ($entry:expr, $flags:expr) => {
        Usage {
            flags: $flags,
            metric: $entry.metric,
            refcnt: $entry.refcnt,
            uses: $entry.uses,
            iface: escape_bytes(&$entry.iface),
        }
    };
}

/// A route of the FIB (with `genmask`) or of the cache (with `source`).
#[derive(Debug, Serialize)]
struct Ipv4RouteJson {
    family: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Ipv4Addr>,
    destination: Ipv4Addr,
    gateway: Ipv4Addr,
    #[serde(skip_serializing_if = "Option::is_none")]
    genmask: Option<Ipv4Addr>,
    #[serde(flatten)]
    usage: Usage,
    mss: i32,
    window: i32,
    irtt: i32,
}

#[derive(Debug, Serialize)]
struct Ipv6RouteJson {
    family: &'static str,
    destination: Ipv6Addr,
    prefix_len: u32,
    next_hop: Ipv6Addr,
    #[serde(flatten)]
    usage: Usage,
}

pub(crate) fn write_ipv4_routes(routes: &[Ipv4Route], out: &mut dyn Write) -> io::Result<()> {
    for route in shown_ipv4_routes(routes) {
        let route = Ipv4RouteJson {
            family: "inet",
            source: None,
            destination: route.destination,
            gateway: route.gateway,
            genmask: Some(route.mask),
            usage: usage!(route, ipv4_table_flags(route.flags)),
            mss: route.mss,
            window: route.window,
            irtt: route.irtt,
        };
        write_line(out, &route)?;
    }
    Ok(())
}

/// `-rC`: the IPv4 route cache (empty on kernels since 3.6). The columns of one layout only
/// (the 2.0 layout's HH and ARP, the 2.2 layout's TOS, HHRef, HHUptod and SpecDst) are left out.
pub(crate) fn write_ipv4_cache(cache: &Ipv4RouteCache, out: &mut dyn Write) -> io::Result<()> {
    for entry in &cache.entries {
        let format = match entry.extra {
            CacheExtra::Linux2_0 { .. } => CacheFormat::Linux2_0,
            CacheExtra::Linux2_2 { .. } => CacheFormat::Linux2_2,
        };
        let entry = Ipv4RouteJson {
            family: "inet",
            source: Some(entry.source),
            destination: entry.destination,
            gateway: entry.gateway,
            genmask: None,
            usage: usage!(entry, ipv4_cache_flags(entry.flags, format)),
            mss: entry.mss,
            window: entry.window,
            irtt: entry.irtt,
        };
        write_line(out, &entry)?;
    }
    Ok(())
}

pub(crate) fn write_ipv6_routes(
    routes: &[Ipv6Route],
    cache: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    for route in shown_ipv6_routes(routes, cache) {
        let route = Ipv6RouteJson {
            family: "inet6",
            destination: route.destination,
            prefix_len: route.prefix_len,
            next_hop: route.next_hop,
            usage: usage!(route, ipv6_flags(route.flags)),
        };
        write_line(out, &route)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn ipv4(
        destination: &str,
        gateway: &str,
        flags: u32,
        metric: i32,
        mask: &str,
        mss: i32,
    ) -> Ipv4Route {
        Ipv4Route {
            iface: b"eth0".to_vec(),
            destination: destination.parse().unwrap(),
            gateway: gateway.parse().unwrap(),
            flags,
            refcnt: 0,
            uses: 0,
            metric,
            mask: mask.parse().unwrap(),
            mss,
            window: 0,
            irtt: 0,
        }
    }

    fn ipv6(destination: &str, prefix_len: u32, metric: i32, flags: u32, iface: &str) -> Ipv6Route {
        Ipv6Route {
            destination: destination.parse().unwrap(),
            prefix_len,
            source: "::".parse().unwrap(),
            source_len: 0,
            next_hop: "::".parse().unwrap(),
            metric,
            refcnt: 1,
            uses: 0,
            flags,
            iface: iface.as_bytes().to_vec(),
        }
    }

    fn lines(out: Vec<u8>) -> Vec<Value> {
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn ipv4_routes_that_are_up() {
        let routes = [
            ipv4("0.0.0.0", "172.17.0.1", 0x3, 100, "0.0.0.0", 0),
            ipv4("172.17.0.0", "0.0.0.0", 0x1, 0, "255.255.0.0", 1500),
            ipv4("172.18.0.0", "0.0.0.0", 0x0, 0, "255.255.0.0", 0),
        ];
        let mut out = Vec::new();
        write_ipv4_routes(&routes, &mut out).unwrap();
        let rows = lines(out);
        assert_eq!(rows.len(), 2, "the route that is down is not shown");
        assert_eq!(
            rows[0],
            json!({
                "family": "inet", "destination": "0.0.0.0", "gateway": "172.17.0.1",
                "genmask": "0.0.0.0", "flags": "UG", "metric": 100, "ref": 0, "use": 0,
                "iface": "eth0", "mss": 0, "window": 0, "irtt": 0
            })
        );
        assert_eq!(rows[1]["genmask"], "255.255.0.0");
        assert_eq!(rows[1]["mss"], 1500);
    }

    #[test]
    fn ipv6_routes() {
        let routes = [
            ipv6("::1", 128, 0, 0x1, "lo"),
            ipv6("fe80::", 64, 0x100, 0x0100_0001, "eth0"),
        ];
        let mut out = Vec::new();
        write_ipv6_routes(&routes, false, &mut out).unwrap();
        let rows = lines(out);
        assert_eq!(
            rows,
            [json!({
                "family": "inet6", "destination": "::1", "prefix_len": 128,
                "next_hop": "::", "flags": "U", "metric": 0, "ref": 1, "use": 0, "iface": "lo"
            })]
        );
        let mut out = Vec::new();
        write_ipv6_routes(&routes, true, &mut out).unwrap();
        assert_eq!(lines(out)[0]["flags"], "UC");
    }
}
