//! `-g --json`: one object per multicast group membership.

use std::{
    io::{self, Write},
    net::IpAddr,
};

use serde::Serialize;

use super::write_line;
use crate::{model::groups::Membership, views::escape::escape_bytes};

#[derive(Debug, Serialize)]
struct MembershipJson {
    family: &'static str,
    iface: String,
    refcnt: i32,
    group: IpAddr,
}

pub(crate) fn write_memberships(groups: &[Membership], out: &mut dyn Write) -> io::Result<()> {
    for membership in groups {
        let membership = MembershipJson {
            family: if membership.group.is_ipv6() {
                "inet6"
            } else {
                "inet"
            },
            // netstat's device buffer keeps the padding igmp's lines have.
            iface: escape_bytes(membership.device.trim_ascii_end()),
            refcnt: membership.refcnt,
            group: membership.group,
        };
        write_line(out, &membership)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_object_per_membership() {
        let groups = [
            Membership {
                device: b"lo        ".to_vec(),
                refcnt: 1,
                group: "224.0.0.1".parse().unwrap(),
            },
            Membership {
                device: b"eth0".to_vec(),
                refcnt: 2,
                group: "ff02::1:ff00:1".parse().unwrap(),
            },
        ];
        let mut out = Vec::new();
        write_memberships(&groups, &mut out).unwrap();
        let rows: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            rows,
            [
                json!({"family": "inet", "iface": "lo", "refcnt": 1, "group": "224.0.0.1"}),
                json!({"family": "inet6", "iface": "eth0", "refcnt": 2, "group": "ff02::1:ff00:1"})
            ]
        );
    }
}
