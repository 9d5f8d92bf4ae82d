//! The name lookups netstat's output depends on, as a trait: renderers take a `&dyn Names`, so
//! they are tested with fixed answers and no resolver (the system's resolver is in
//! `sources::names`).

use std::net::{IpAddr, Ipv4Addr};

/// The lookups netstat's output depends on. `None` means "no name": the caller prints numbers.
pub(crate) trait Names {
    /// The host name of an address (gethostbyaddr / getnameinfo).
    fn host(&self, addr: IpAddr) -> Option<String>;
    /// The network name of an IPv4 network number (getnetbyaddr, /etc/networks).
    fn network(&self, net: Ipv4Addr) -> Option<String>;
    /// The service name of a port for "tcp", "udp" or "raw" (raw also matches protocol names,
    /// as net-tools' read_services does).
    fn service(&self, port: u16, proto: &str) -> Option<String>;
    /// The user name of a uid.
    fn user(&self, uid: u32) -> Option<String>;
}

/// Knows no names: what `-n` needs, and a neutral resolver for tests.
pub(crate) struct NoNames;

impl Names for NoNames {
    fn host(&self, _: IpAddr) -> Option<String> {
        None
    }
    fn network(&self, _: Ipv4Addr) -> Option<String> {
        None
    }
    fn service(&self, _: u16, _: &str) -> Option<String> {
        None
    }
    fn user(&self, _: u32) -> Option<String> {
        None
    }
}

#[cfg(test)]
/// Fixed answers, for tests.
#[derive(Default)]
pub(crate) struct FixedNames {
    pub(crate) hosts: std::collections::HashMap<IpAddr, String>,
    pub(crate) networks: std::collections::HashMap<Ipv4Addr, String>,
    pub(crate) services: std::collections::HashMap<(u16, String), String>,
    pub(crate) users: std::collections::HashMap<u32, String>,
}

#[cfg(test)]
impl Names for FixedNames {
    fn host(&self, addr: IpAddr) -> Option<String> {
        self.hosts.get(&addr).cloned()
    }
    fn network(&self, net: Ipv4Addr) -> Option<String> {
        self.networks.get(&net).cloned()
    }
    fn service(&self, port: u16, proto: &str) -> Option<String> {
        self.services.get(&(port, proto.to_string())).cloned()
    }
    fn user(&self, uid: u32) -> Option<String> {
        self.users.get(&uid).cloned()
    }
}

/// Kernel text addresses named as `function+0xoffset` (from /proc/kallsyms, in `sources::names`).
pub(crate) trait KernelFunctions {
    /// `function+0x1f`, or None when no symbol covers the address.
    fn describe(&self, address: u64) -> Option<String>;
}
