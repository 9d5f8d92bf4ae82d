//! `netstat -g`: multicast group memberships as net-tools 2.10 prints them (netstat.c main()
//! and igmp_do_one).

use std::io::{self, Write};

use super::address::socket_host;
use crate::model::{groups::Membership, names::Names};

/// The section's three heading lines (netstat is built with IPv6, hence "IPv6/").
pub(crate) fn write_heading(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "IPv6/IPv4 Group Memberships")?;
    writeln!(out, "Interface       RefCnt Group")?;
    writeln!(out, "--------------- ------ ---------------------")
}

/// One line per membership, in the order read.
pub(crate) fn write_memberships(
    groups: &[Membership],
    numeric_hosts: bool,
    names: &dyn Names,
    out: &mut dyn Write,
) -> io::Result<()> {
    for membership in groups {
        let device = String::from_utf8_lossy(&membership.device);
        let refcnt = membership.refcnt;
        let group = socket_host(membership.group, numeric_hosts, names);
        writeln!(out, "{device:<15} {refcnt:<6} {group}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::{FixedNames, NoNames};

    fn membership(device: &str, refcnt: i32, group: &str) -> Membership {
        Membership {
            device: device.as_bytes().to_vec(),
            refcnt,
            group: group.parse().unwrap(),
        }
    }

    #[test]
    fn heading_and_lines() {
        let groups = [
            membership("lo        ", 1, "224.0.0.1"),
            membership("abcdefghijklmno", 12345, "239.255.255.250"),
            membership("eth0", 2, "ff02::1:ff00:1"),
            membership("eth0", 1, "::ffff:224.0.0.1"),
        ];
        let mut out = Vec::new();
        write_heading(&mut out).unwrap();
        write_memberships(&groups, true, &NoNames, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "IPv6/IPv4 Group Memberships\n\
Interface       RefCnt Group\n\
--------------- ------ ---------------------\n\
lo              1      224.0.0.1\n\
abcdefghijklmno 12345  239.255.255.250\n\
eth0            2      ff02::1:ff00:1\n\
eth0            1      224.0.0.1\n"
        );
    }

    #[test]
    fn names_unless_numeric() {
        let mut names = FixedNames::default();
        names
            .hosts
            .insert("224.0.0.251".parse().unwrap(), "mdns.mcast.net".into());
        names
            .hosts
            .insert("ff02::fb".parse().unwrap(), "ip6-mdns".into());
        let groups = [
            membership("eth0", 1, "224.0.0.251"),
            membership("eth0", 1, "ff02::fb"),
        ];
        let mut out = Vec::new();
        write_memberships(&groups, false, &names, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "eth0            1      mdns.mcast.net\neth0            1      ip6-mdns\n"
        );
        let mut out = Vec::new();
        write_memberships(&groups, true, &names, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "eth0            1      224.0.0.251\neth0            1      ff02::fb\n"
        );
    }
}
