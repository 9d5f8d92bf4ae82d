//! Routes as the kernel's /proc tables list them: IPv4 routes and route cache entries, IPv6
//! routes, and their flags.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Route flags (linux/route.h, linux/ipv6_route.h, as net-tools' lib/net-support.h copies them).
pub(crate) mod flags {
    pub(crate) const RTF_UP: u32 = 0x0001;
    pub(crate) const RTF_GATEWAY: u32 = 0x0002;
    pub(crate) const RTF_HOST: u32 = 0x0004;
    pub(crate) const RTF_REINSTATE: u32 = 0x0008;
    pub(crate) const RTF_DYNAMIC: u32 = 0x0010;
    pub(crate) const RTF_MODIFIED: u32 = 0x0020;
    pub(crate) const RTF_MTU: u32 = 0x0040;
    pub(crate) const RTF_WINDOW: u32 = 0x0080;
    pub(crate) const RTF_IRTT: u32 = 0x0100;
    pub(crate) const RTF_REJECT: u32 = 0x0200;
    /// A Linux 2.0 flag.
    pub(crate) const RTF_NOTCACHED: u32 = 0x0400;
    pub(crate) const RTF_DEFAULT: u32 = 0x0001_0000;
    pub(crate) const RTF_ALLONLINK: u32 = 0x0002_0000;
    pub(crate) const RTF_ADDRCONF: u32 = 0x0004_0000;
    pub(crate) const RTF_NONEXTHOP: u32 = 0x0020_0000;
    pub(crate) const RTF_EXPIRES: u32 = 0x0040_0000;
    pub(crate) const RTF_CACHE: u32 = 0x0100_0000;
    pub(crate) const RTF_FLOW: u32 = 0x0200_0000;
    pub(crate) const RTF_POLICY: u32 = 0x0400_0000;
    pub(crate) const RTF_LOCAL: u32 = 0x8000_0000;

    /// Route cache flags (linux/in_route.h).
    pub(crate) const RTCF_DEAD: u32 = 0x0001;
    pub(crate) const RTCF_ONLINK: u32 = 0x0004;
    pub(crate) const RTCF_NOTIFY: u32 = 0x0001_0000;
    pub(crate) const RTCF_DIRECTDST: u32 = 0x0002_0000;
    pub(crate) const RTCF_TPROXY: u32 = 0x0008_0000;
    pub(crate) const RTCF_FAST: u32 = 0x0020_0000;
    pub(crate) const RTCF_MASQ: u32 = 0x0040_0000;
    pub(crate) const RTCF_SNAT: u32 = 0x0080_0000;
    pub(crate) const RTCF_DOREDIRECT: u32 = 0x0100_0000;
    pub(crate) const RTCF_DIRECTSRC: u32 = 0x0400_0000;
    pub(crate) const RTCF_DNAT: u32 = 0x0800_0000;
    pub(crate) const RTCF_BROADCAST: u32 = 0x1000_0000;
    pub(crate) const RTCF_MULTICAST: u32 = 0x2000_0000;
    pub(crate) const RTCF_REJECT: u32 = 0x4000_0000;
    pub(crate) const RTCF_LOCAL: u32 = 0x8000_0000;
}

/// A line of /proc/net/route (the main table's IPv4 routes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ipv4Route {
    pub(crate) iface: Vec<u8>,
    pub(crate) destination: Ipv4Addr,
    pub(crate) gateway: Ipv4Addr,
    pub(crate) flags: u32,
    pub(crate) refcnt: i32,
    pub(crate) uses: i32,
    pub(crate) metric: i32,
    pub(crate) mask: Ipv4Addr,
    /// The MTU column, which netstat labels MSS.
    pub(crate) mss: i32,
    pub(crate) window: i32,
    pub(crate) irtt: i32,
}

/// The two /proc/net/rt_cache layouts net-tools knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheFormat {
    /// Linux 2.0.36: HH and ARP columns.
    Linux2_0,
    /// Linux 2.2 and later (today's kernels print only this header, the cache being gone).
    Linux2_2,
}

/// What netstat makes of the rt_cache header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CacheHeader {
    /// proc_guess_fmt's code when it names neither layout. netstat complains, then keeps the
    /// code as its format number, so codes 1 and 2 still read as the 2.0 and 2.2 layouts.
    pub(crate) unrecognised: Option<u32>,
    /// The layout lines are read in; none for other unrecognised codes (netstat then prints
    /// each line from uninitialised variables).
    pub(crate) format: Option<CacheFormat>,
    /// Lines after the header.
    pub(crate) data_lines: usize,
}

/// The columns only one layout has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CacheExtra {
    Linux2_0 {
        hh: i32,
        arp: i32,
    },
    Linux2_2 {
        tos: i32,
        hh_ref: i32,
        hh_uptodate: i32,
        spec_dst: Ipv4Addr,
    },
}

/// A line of /proc/net/rt_cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ipv4CacheEntry {
    pub(crate) iface: Vec<u8>,
    pub(crate) destination: Ipv4Addr,
    pub(crate) gateway: Ipv4Addr,
    pub(crate) flags: u32,
    pub(crate) refcnt: i32,
    pub(crate) uses: i32,
    pub(crate) metric: i32,
    pub(crate) source: Ipv4Addr,
    pub(crate) mss: i32,
    pub(crate) window: i32,
    pub(crate) irtt: i32,
    pub(crate) extra: CacheExtra,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ipv4RouteCache {
    pub(crate) header: CacheHeader,
    pub(crate) entries: Vec<Ipv4CacheEntry>,
}

/// A line of /proc/net/ipv6_route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ipv6Route {
    pub(crate) destination: Ipv6Addr,
    pub(crate) prefix_len: u32,
    pub(crate) source: Ipv6Addr,
    pub(crate) source_len: u32,
    pub(crate) next_hop: Ipv6Addr,
    pub(crate) metric: i32,
    pub(crate) refcnt: i32,
    pub(crate) uses: i32,
    pub(crate) flags: u32,
    pub(crate) iface: Vec<u8>,
}
