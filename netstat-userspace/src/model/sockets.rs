//! Sockets as the kernel's tables list them: address families, the IP protocols netstat lists,
//! and one row per inet or UNIX socket.

use std::net::IpAddr;

use netstat_common::{AF_INET, AF_INET6};

/// Address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub(crate) fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            AF_INET => Some(Family::Inet),
            AF_INET6 => Some(Family::Inet6),
            _ => None,
        }
    }

    /// The spelling netstat and `ip` use: `inet` / `inet6`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }

    pub(crate) fn raw(self) -> u16 {
        match self {
            Family::Inet => AF_INET,
            Family::Inet6 => AF_INET6,
        }
    }
}

/// The IP protocols netstat lists, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InetProtocol {
    Tcp,
    Udp,
    UdpLite,
    Raw,
}

impl InetProtocol {
    /// A socket's `sk_protocol` (`IPPROTO_*`); `IPPROTO_RAW` for raw sockets sending their own
    /// headers (other raw sockets carry the protocol they were opened for).
    pub(crate) fn from_ipproto(protocol: u8) -> Option<Self> {
        match protocol {
            6 => Some(InetProtocol::Tcp),
            17 => Some(InetProtocol::Udp),
            136 => Some(InetProtocol::UdpLite),
            255 => Some(InetProtocol::Raw),
            _ => None,
        }
    }

    /// The Proto column: net-tools' names.
    pub(crate) fn label(self, v6: bool) -> &'static str {
        match (self, v6) {
            (InetProtocol::Tcp, false) => "tcp",
            (InetProtocol::Tcp, true) => "tcp6",
            (InetProtocol::Udp, false) => "udp",
            (InetProtocol::Udp, true) => "udp6",
            (InetProtocol::UdpLite, false) => "udpl",
            (InetProtocol::UdpLite, true) => "udpl6",
            (InetProtocol::Raw, false) => "raw",
            (InetProtocol::Raw, true) => "raw6",
        }
    }

    /// The protocol's own name, without the family (JSON's `proto`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            InetProtocol::Tcp => "tcp",
            InetProtocol::Udp => "udp",
            InetProtocol::UdpLite => "udplite",
            InetProtocol::Raw => "raw",
        }
    }

    /// The /proc/net file, and the name netstat names it by when it is missing.
    pub(crate) fn proc_file(self, v6: bool) -> &'static str {
        match (self, v6) {
            (InetProtocol::Tcp, false) => "tcp",
            (InetProtocol::Tcp, true) => "tcp6",
            (InetProtocol::Udp, false) => "udp",
            (InetProtocol::Udp, true) => "udp6",
            (InetProtocol::UdpLite, false) => "udplite",
            (InetProtocol::UdpLite, true) => "udplite6",
            (InetProtocol::Raw, false) => "raw",
            (InetProtocol::Raw, true) => "raw6",
        }
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            InetProtocol::Tcp => "AF INET (tcp)",
            InetProtocol::Udp => "AF INET (udp)",
            InetProtocol::UdpLite => "AF INET (udplite)",
            InetProtocol::Raw => "AF INET (raw)",
        }
    }

    /// The services table net-tools looks ports up in (also the name its warnings use).
    pub(crate) fn services(self) -> &'static str {
        match self {
            InetProtocol::Tcp => "tcp",
            InetProtocol::Udp | InetProtocol::UdpLite => "udp",
            InetProtocol::Raw => "raw",
        }
    }
}

/// One line of /proc/net/tcp and friends, as netstat reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InetSocketRow {
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// The kernel's state number (TCP states; UDP uses ESTABLISHED/CLOSE; raw its own).
    pub state: u8,
    pub tx_queue: u64,
    pub rx_queue: u64,
    /// Which timer runs (0 none, 1 retransmit, 2 keepalive, 3 timewait, 4 probe).
    pub timer: u8,
    /// Time until the timer fires, in clock ticks (USER_HZ).
    pub timer_ticks: u64,
    pub retransmits: u64,
    pub uid: u32,
    pub timeout: i64,
    pub inode: u64,
}

/// One line of /proc/net/unix, as netstat reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnixSocketRow {
    pub(crate) ref_count: u64,
    pub(crate) protocol: u64,
    pub(crate) flags: u64,
    pub(crate) socket_type: u32,
    pub(crate) state: u32,
    pub(crate) inode: Option<u64>,
    /// The path, whole, as the kernel lists it (`@`-prefixed for abstract names, empty for an
    /// unnamed socket). Untrusted.
    pub(crate) path: Vec<u8>,
}

impl UnixSocketRow {
    /// The path as netstat shows it: up to its first whitespace (netstat reads it with `%s`).
    pub(crate) fn netstat_path(&self) -> &[u8] {
        let is_space = |b: &u8| b.is_ascii_whitespace();
        let start = self.path.iter().position(|b| !is_space(b));
        let rest = &self.path[start.unwrap_or(self.path.len())..];
        &rest[..rest.iter().position(is_space).unwrap_or(rest.len())]
    }
}

/// A listening socket (the kernel's `__SO_ACCEPTCON` flag).
pub(crate) const SO_ACCEPTCON: u64 = 1 << 16;

/// Rows for the tests of the layers that render or track them; `sources::proc` checks that its
/// parsers read the matching lines of /proc/net/tcp6 and friends into these.
#[cfg(test)]
pub(crate) mod test_rows {
    use super::*;

    /// `   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 21746 1 0000000000000000 100 0 0 10 0`
    pub(crate) fn listen() -> InetSocketRow {
        InetSocketRow {
            local: "127.0.0.1".parse().unwrap(),
            local_port: 8080,
            remote: "0.0.0.0".parse().unwrap(),
            remote_port: 0,
            state: 0x0a,
            tx_queue: 0,
            rx_queue: 2,
            timer: 0,
            timer_ticks: 0,
            retransmits: 0,
            uid: 0,
            timeout: 0,
            inode: 21746,
        }
    }

    /// `   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A3D2 01 00000010:00000000 02:0000126F 00000003  1000        0 83817 2 0000000000000000 20 4 30 10 -1`
    pub(crate) fn established6() -> InetSocketRow {
        InetSocketRow {
            local: "::1".parse().unwrap(),
            local_port: 8080,
            remote: "::1".parse().unwrap(),
            remote_port: 41938,
            state: 0x01,
            tx_queue: 16,
            rx_queue: 0,
            timer: 2,
            timer_ticks: 0x126f,
            retransmits: 3,
            uid: 1000,
            timeout: 0,
            inode: 83817,
        }
    }

    /// `   2: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3233 2 0000000000000000 0`
    pub(crate) fn mapped_udp() -> InetSocketRow {
        InetSocketRow {
            local: "::ffff:127.0.0.1".parse().unwrap(),
            local_port: 53,
            remote: "::".parse().unwrap(),
            remote_port: 0,
            state: 0x07,
            tx_queue: 0,
            rx_queue: 0,
            timer: 0,
            timer_ticks: 0,
            retransmits: 0,
            uid: 0,
            timeout: 0,
            inode: 3233,
        }
    }

    /// A /proc/net/unix row with protocol 0.
    pub(crate) fn unix(
        ref_count: u64,
        flags: u64,
        socket_type: u32,
        state: u32,
        inode: u64,
        path: &[u8],
    ) -> UnixSocketRow {
        UnixSocketRow {
            ref_count,
            protocol: 0,
            flags,
            socket_type,
            state,
            inode: Some(inode),
            path: path.to_vec(),
        }
    }
}
