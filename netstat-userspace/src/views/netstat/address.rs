//! Addresses as net-tools prints them (lib/inet.c INET_rresolve, lib/inet6.c INET6_sprint).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::names::Names;

/// net-tools' `numeric` bits for address printing.
pub(crate) mod numeric {
    /// Do not resolve (any of the low 12 bits in net-tools).
    pub(crate) const NUMERIC: u32 = 0x0fff;
    /// Print `default` rather than `*` for 0.0.0.0/0 (and `default` for `::`).
    pub(crate) const DEFAULT_NAME: u32 = 0x8000;
    /// Treat the address as a host even if its host bits are zero.
    pub(crate) const HOST: u32 = 0x4000;
}

unsafe extern "C" {
    // In every libc; the libc crate does not bind it.
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// glibc's inet_ntop for IPv6 (differs from Rust's Display for IPv4-compatible addresses).
pub(crate) fn inet6_ntop(addr: Ipv6Addr) -> String {
    let octets = addr.octets();
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: 16 readable bytes in, a 64-byte buffer out (INET6_ADDRSTRLEN is 46).
    let out = unsafe {
        inet_ntop(
            libc::AF_INET6,
            octets.as_ptr().cast(),
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
        )
    };
    if out.is_null() {
        return addr.to_string();
    }
    // SAFETY: inet_ntop wrote a NUL-terminated string into buf.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// INET_rresolve: an IPv4 address as netstat names it, given net-tools' `numeric` bits and the
/// netmask that decides whether it is a host or a network.
pub(crate) fn inet_name(addr: Ipv4Addr, numeric: u32, netmask: u32, names: &dyn Names) -> String {
    if numeric & numeric::NUMERIC != 0 {
        return addr.to_string();
    }
    let ad = u32::from(addr);
    if ad == 0 {
        return if netmask == 0 {
            if numeric & numeric::DEFAULT_NAME != 0 {
                "default"
            } else {
                "*"
            }
            .to_string()
        } else {
            "0.0.0.0".to_string()
        };
    }
    // net-tools keeps the netmask in network byte order and tests `ad & ~netmask` on raw bytes;
    // with both in host order the test is the same.
    let host = ad & !netmask != 0 || numeric & numeric::HOST != 0;
    let name = if host {
        names.host(IpAddr::V4(addr))
    } else {
        names.network(addr)
    };
    name.unwrap_or_else(|| addr.to_string())
}

/// INET_sprint: an IPv4 address outside a routing table's destination column (sockets, groups,
/// gateways, the route cache).
pub(crate) fn inet_sprint(addr: Ipv4Addr, numeric: u32, names: &dyn Names) -> String {
    inet_name(addr, numeric, sprint_netmask(), names)
}

/// A socket's IPv4 address: INET_sprint with only -n's bit.
pub(crate) fn inet_socket_name(addr: Ipv4Addr, numeric_hosts: bool, names: &dyn Names) -> String {
    let numeric = if numeric_hosts { numeric::NUMERIC } else { 0 };
    inet_sprint(addr, numeric, names)
}

/// The netmask INET_sprint hands to INET_rresolve: the constant 0xffffff00 in host byte order,
/// which INET_rresolve then applies to an address in network byte order. On a little-endian
/// machine that makes the mask 0.255.255.255, so only an address whose *first* octet is 0 is
/// looked up as a network (127.0.0.0 is a host there; netstat never prints `loopback`).
fn sprint_netmask() -> u32 {
    u32::from_be_bytes(0xffff_ff00_u32.to_ne_bytes())
}

/// INET6_sprint: an IPv6 address as netstat prints it, IPv4-mapped ones as plain IPv4.
pub(crate) fn inet6_name(addr: Ipv6Addr, numeric: u32, names: &dyn Names) -> String {
    let name = if numeric & 0x7fff != 0 {
        inet6_ntop(addr)
    } else if addr.is_unspecified() {
        if numeric & numeric::DEFAULT_NAME != 0 {
            "default"
        } else {
            "[::]"
        }
        .to_string()
    } else {
        names
            .host(IpAddr::V6(addr))
            .unwrap_or_else(|| inet6_ntop(addr))
    };
    fix_v4_mapped(name, addr)
}

/// net-tools' fix_v4_address: for an IPv4-mapped address whose text contains a dotted quad,
/// keep only what follows the last ':' before the first '.'.
fn fix_v4_mapped(text: String, addr: Ipv6Addr) -> String {
    if addr.to_ipv4_mapped().is_none() {
        return text;
    }
    let Some(dot) = text.find('.') else {
        return text;
    };
    match text[..dot].rfind(':') {
        Some(colon) => text[colon + 1..].to_string(),
        None => text,
    }
}

/// A socket address as netstat prints it in its address columns.
pub(crate) fn socket_host(addr: IpAddr, numeric_hosts: bool, names: &dyn Names) -> String {
    match addr {
        IpAddr::V4(v4) => inet_socket_name(v4, numeric_hosts, names),
        IpAddr::V6(v6) => inet6_name(v6, if numeric_hosts { numeric::NUMERIC } else { 0 }, names),
    }
}

/// get_sname: `*` for port 0, else the service name unless numeric, else the number.
pub(crate) fn service_name(
    port: u16,
    proto: &str,
    numeric_ports: bool,
    names: &dyn Names,
) -> String {
    if port == 0 {
        return "*".to_string();
    }
    if !numeric_ports && let Some(name) = names.service(port, proto) {
        return name;
    }
    port.to_string()
}

/// addr_do_one: `host:port`, cut to `short_len` unless `wide` (keeping at most short_len - 4
/// characters of the port name, as net-tools assumes port names are short).
pub(crate) fn address_and_port(host: &str, port: &str, short_len: usize, wide: bool) -> String {
    let (host_len, port_len) = (host.len(), port.len());
    if !wide && host_len + port_len > short_len {
        let port_len = port_len.min(short_len - 4);
        let host_len = short_len - port_len;
        format!(
            "{}:{}",
            truncate_bytes(host, host_len),
            truncate_bytes(port, port_len)
        )
    } else {
        format!("{host}:{port}")
    }
}

/// The first `len` bytes, as C's strncpy would copy them (never splitting a UTF-8 character
/// into invalid text: names here are ASCII in practice).
pub(crate) fn truncate_bytes(s: &str, len: usize) -> &str {
    if len >= s.len() {
        return s;
    }
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::{FixedNames, NoNames};

    #[test]
    fn ipv4_any_and_defaults() {
        assert_eq!(
            inet_socket_name(Ipv4Addr::UNSPECIFIED, false, &NoNames),
            "0.0.0.0"
        );
        assert_eq!(inet_name(Ipv4Addr::UNSPECIFIED, 0, 0, &NoNames), "*");
        assert_eq!(
            inet_name(Ipv4Addr::UNSPECIFIED, numeric::DEFAULT_NAME, 0, &NoNames),
            "default"
        );
        assert_eq!(
            inet_name(Ipv4Addr::UNSPECIFIED, numeric::NUMERIC, 0, &NoNames),
            "0.0.0.0"
        );
    }

    #[test]
    fn ipv4_hosts_and_networks() {
        let mut names = FixedNames::default();
        names
            .hosts
            .insert("127.0.0.1".parse().unwrap(), "localhost".into());
        names
            .networks
            .insert("10.1.0.0".parse().unwrap(), "labnet".into());
        assert_eq!(
            inet_socket_name("127.0.0.1".parse().unwrap(), false, &names),
            "localhost"
        );
        assert_eq!(
            inet_socket_name("127.0.0.1".parse().unwrap(), true, &names),
            "127.0.0.1"
        );
        // INET_sprint's mask, in the wrong byte order, makes 10.1.0.0 a host: no network name.
        assert_eq!(
            inet_socket_name("10.1.0.0".parse().unwrap(), false, &names),
            "10.1.0.0"
        );
    }

    #[test]
    fn ipv4_socket_network_lookup_only_for_a_zero_first_octet() {
        let mut names = FixedNames::default();
        names
            .networks
            .insert("0.1.2.3".parse().unwrap(), "zeronet".into());
        names
            .hosts
            .insert("0.1.2.3".parse().unwrap(), "zerohost".into());
        let expected = if cfg!(target_endian = "little") {
            "zeronet"
        } else {
            "zerohost"
        };
        assert_eq!(
            inet_socket_name("0.1.2.3".parse().unwrap(), false, &names),
            expected
        );
    }

    #[test]
    fn ipv6_unspecified_mapped_and_compatible() {
        assert_eq!(inet6_name(Ipv6Addr::UNSPECIFIED, 0, &NoNames), "[::]");
        assert_eq!(
            inet6_name(Ipv6Addr::UNSPECIFIED, numeric::NUMERIC, &NoNames),
            "::"
        );
        let mapped: Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(inet6_name(mapped, numeric::NUMERIC, &NoNames), "127.0.0.1");
        assert_eq!(inet6_ntop("::1.2.3.4".parse().unwrap()), "::1.2.3.4");
        assert_eq!(inet6_ntop("fe80::1".parse().unwrap()), "fe80::1");
    }

    #[test]
    fn address_port_abbreviation() {
        assert_eq!(
            address_and_port("127.0.0.1", "6010", 22, false),
            "127.0.0.1:6010"
        );
        // 15 + 16 > 22: the port keeps at most 18 bytes, the host the rest.
        assert_eq!(
            address_and_port("127.0.0.1", "x11-ssh-offset", 22, false),
            "127.0.0.:x11-ssh-offset"
        );
        assert_eq!(
            address_and_port("fe80::1234:5678:9abc:def0", "44444", 22, false),
            "fe80::1234:5678:9:44444"
        );
        assert_eq!(
            address_and_port("fe80::1234:5678:9abc:def0", "44444", 22, true),
            "fe80::1234:5678:9abc:def0:44444"
        );
        assert_eq!(service_name(0, "tcp", false, &NoNames), "*");
    }
}
