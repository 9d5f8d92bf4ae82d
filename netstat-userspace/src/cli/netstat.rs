//! The net-tools `netstat` option surface, with netstat's own defaulting rules.

use std::ffi::OsString;

use clap::{ArgAction, Args};

use crate::{
    commands::snapshot::FamiliesWithoutTables,
    snapshot::{NetstatConfig, NetstatView},
    views::escape::escape_bytes,
    views::{
        OutputFormat,
        netstat::{Families, NetstatFlags},
    },
};

/// netstat's options, exactly as `netstat` spells them.
#[derive(Debug, Default, PartialEq, Eq, Args)]
pub(crate) struct NetstatArgs {
    /// Display the routing table.
    #[arg(short = 'r', long = "route", help_heading = NETSTAT)]
    pub(crate) route: bool,
    /// Display the interface table.
    #[arg(short = 'i', long = "interfaces", help_heading = NETSTAT)]
    pub(crate) interfaces: bool,
    /// Display multicast group memberships.
    #[arg(short = 'g', long = "groups", help_heading = NETSTAT)]
    pub(crate) groups: bool,
    /// Display networking statistics (like SNMP).
    #[arg(short = 's', long = "statistics", help_heading = NETSTAT)]
    pub(crate) statistics: bool,
    /// Display masqueraded connections (not supported by current kernels).
    #[arg(short = 'M', long = "masquerade", help_heading = NETSTAT)]
    pub(crate) masquerade: bool,
    /// Be verbose.
    #[arg(short = 'v', long = "verbose", help_heading = NETSTAT)]
    pub(crate) verbose: bool,
    /// Don't truncate IP addresses.
    #[arg(short = 'W', long = "wide", help_heading = NETSTAT)]
    pub(crate) wide: bool,
    /// Don't resolve names: the fast path, no resolver involved.
    #[arg(short = 'n', long = "numeric", help_heading = NETSTAT)]
    pub(crate) numeric: bool,
    /// Don't resolve host names.
    #[arg(long = "numeric-hosts", help_heading = NETSTAT)]
    pub(crate) numeric_hosts: bool,
    /// Don't resolve port names.
    #[arg(long = "numeric-ports", help_heading = NETSTAT)]
    pub(crate) numeric_ports: bool,
    /// Don't resolve user names.
    #[arg(long = "numeric-users", help_heading = NETSTAT)]
    pub(crate) numeric_users: bool,
    /// Resolve hardware names.
    #[arg(short = 'N', long = "symbolic", help_heading = NETSTAT)]
    pub(crate) symbolic: bool,
    /// Display other/more information (twice for more).
    #[arg(short = 'e', long = "extend", action = ArgAction::Count, help_heading = NETSTAT)]
    pub(crate) extend: u8,
    /// Display PID/Program name for sockets.
    #[arg(short = 'p', long = "programs", help_heading = NETSTAT)]
    pub(crate) programs: bool,
    /// Display timers.
    #[arg(short = 'o', long = "timers", help_heading = NETSTAT)]
    pub(crate) timers: bool,
    /// Continuous listing.
    #[arg(short = 'c', long = "continuous", help_heading = NETSTAT)]
    pub(crate) continuous: bool,
    /// Display listening server sockets.
    #[arg(short = 'l', long = "listening", help_heading = NETSTAT)]
    pub(crate) listening: bool,
    /// Display all sockets (default: connected).
    #[arg(short = 'a', long = "all", help_heading = NETSTAT)]
    pub(crate) all: bool,
    /// Display Forwarding Information Base (default).
    #[arg(short = 'F', long = "fib", help_heading = NETSTAT)]
    pub(crate) fib: bool,
    /// Display routing cache instead of FIB.
    #[arg(short = 'C', long = "cache", help_heading = NETSTAT)]
    pub(crate) cache: bool,
    /// TCP sockets.
    #[arg(short = 't', long = "tcp", help_heading = NETSTAT)]
    pub(crate) tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u', long = "udp", help_heading = NETSTAT)]
    pub(crate) udp: bool,
    /// UDP-Lite sockets.
    #[arg(short = 'U', long = "udplite", help_heading = NETSTAT)]
    pub(crate) udplite: bool,
    /// SCTP sockets.
    #[arg(short = 'S', long = "sctp", help_heading = NETSTAT)]
    pub(crate) sctp: bool,
    /// Raw sockets.
    #[arg(short = 'w', long = "raw", help_heading = NETSTAT)]
    pub(crate) raw: bool,
    /// UNIX domain sockets.
    #[arg(short = 'x', long = "unix", help_heading = NETSTAT)]
    pub(crate) unix: bool,
    /// IPv4 only (same as -A inet).
    #[arg(short = '4', long = "inet", help_heading = NETSTAT)]
    pub(crate) inet: bool,
    /// IPv6 only (same as -A inet6).
    #[arg(short = '6', long = "inet6", help_heading = NETSTAT)]
    pub(crate) inet6: bool,
    /// Address families, comma-separated: inet, inet6, unix (and netstat's others, which this
    /// kernel has no tables for).
    #[arg(short = 'A', long = "protocol", value_name = "AF", value_parser = clap::value_parser!(OsString), help_heading = NETSTAT)]
    pub(crate) families: Vec<OsString>,
    /// Same as -A inet.
    #[arg(long = "ip", hide = true)]
    pub(crate) ip: bool,
    /// netstat's families without tables here, as long options (README: "netstat-compatible
    /// snapshots"): answered as netstat answers on a kernel without them.
    #[arg(long = "ipx", hide = true)]
    pub(crate) ipx: bool,
    #[arg(long = "ax25", hide = true)]
    pub(crate) ax25: bool,
    #[arg(long = "netrom", hide = true)]
    pub(crate) netrom: bool,
    #[arg(long = "x25", hide = true)]
    pub(crate) x25: bool,
    #[arg(long = "rose", hide = true)]
    pub(crate) rose: bool,
    #[arg(long = "bluetooth", hide = true)]
    pub(crate) bluetooth: bool,
    #[arg(long = "l2cap", hide = true)]
    pub(crate) l2cap: bool,
    #[arg(long = "rfcomm", hide = true)]
    pub(crate) rfcomm: bool,
    #[arg(long = "ddp", hide = true)]
    pub(crate) ddp: bool,
    #[arg(long = "appletalk", hide = true)]
    pub(crate) appletalk: bool,
    /// netstat's SELinux contexts (-Z).
    #[arg(short = 'Z', long = "context", hide = true)]
    pub(crate) context: bool,
}

/// netstat's address families (lib/af.c aftrans) beyond inet, inet6 and unix, in the order its
/// listing reports them (netstat.c main): the name -s and -r refer to, and the message of a
/// listing, which stops there with exit status 1. DDP, Econet and Ash have no message: a listing
/// passes over them, as netstat's does.
const FAMILIES_WITHOUT_TABLES: [(&str, Option<&str>); 9] = [
    ("ipx", Some("no support for `AF IPX' on this system.")),
    ("ax25", Some("no support for `AF AX25' on this system.")),
    ("x25", Some("no support for `AF X25' on this system.")),
    ("netrom", Some("no support for `AF NETROM' on this system.")),
    ("rose", Some("no support for `AF ROSE' on this system.")),
    (
        "bluetooth",
        Some(
            "feature `AF BLUETOOTH' not supported.\nPlease recompile `net-tools' with newer kernel source or full configuration.",
        ),
    ),
    ("ddp", None),
    ("ec", None),
    ("ash", None),
];

/// What parsing netstat's options found, beyond the view itself.
pub(crate) enum NetstatParse {
    View(NetstatConfig, FamiliesWithoutTables),
    /// netstat's answer to an option it takes and refuses at once: its stderr line, exit 1.
    Refused(String),
}

const NETSTAT: &str = "netstat-compatible options";

impl NetstatArgs {
    /// The view, as the daemon checks a version 1 or 2 client's options.
    pub(crate) fn check(self) -> Result<NetstatConfig, String> {
        match self.check_all()? {
            NetstatParse::View(config, _) => Ok(config),
            NetstatParse::Refused(line) => Err(line),
        }
    }

    /// The view, and what netstat would say about the families this kernel has no tables for.
    pub(crate) fn check_all(self) -> Result<NetstatParse, String> {
        let views = [
            self.route,
            self.interfaces,
            self.masquerade,
            self.statistics,
        ];
        if views.iter().filter(|v| **v).count() > 1 {
            return Err("choose at most one of -r, -i, -M and -s".to_string());
        }
        if self.masquerade {
            return Err("-M: masquerading is not supported by this kernel".to_string());
        }
        let mut families = Families {
            inet: self.inet || self.ip,
            inet6: self.inet6,
            unix: self.unix,
        };
        let mut others = [false; FAMILIES_WITHOUT_TABLES.len()];
        let mut name_other = |name: &str| {
            let index = FAMILIES_WITHOUT_TABLES.iter().position(|(n, _)| *n == name);
            others[index.expect("a family of the table")] = true;
        };
        for (named, family) in [
            (self.ipx, "ipx"),
            (self.ax25, "ax25"),
            (self.netrom, "netrom"),
            (self.x25, "x25"),
            (self.rose, "rose"),
            (self.bluetooth || self.l2cap || self.rfcomm, "bluetooth"),
            (self.ddp || self.appletalk, "ddp"),
        ] {
            if named {
                name_other(family);
            }
        }
        for list in &self.families {
            // netstat splits at commas and matches each name exactly (lib/af.c aftrans_opt).
            for name in list.as_encoded_bytes().split(|&b| b == b',') {
                match name {
                    b"inet" | b"ip" | b"tcpip" => families.inet = true,
                    b"inet6" | b"ip6" => families.inet6 = true,
                    b"unix" => families.unix = true,
                    b"ipx" | b"ax25" | b"x25" | b"netrom" | b"rose" | b"bluetooth" | b"ddp"
                    | b"ash" => name_other(std::str::from_utf8(name).unwrap_or_default()),
                    b"appletalk" => name_other("ddp"),
                    b"econet" => name_other("ec"),
                    other => {
                        return Ok(NetstatParse::Refused(format!(
                            "Unknown address family `{}'.",
                            escape_bytes(other)
                        )));
                    }
                }
            }
        }
        if self.context {
            return Ok(NetstatParse::Refused(selinux_refusal()));
        }
        let without_tables = FamiliesWithoutTables {
            names: FAMILIES_WITHOUT_TABLES
                .iter()
                .zip(others)
                .filter_map(|((name, _), named)| named.then_some(*name))
                .collect(),
            listing_stops_with: FAMILIES_WITHOUT_TABLES
                .iter()
                .zip(others)
                .find_map(|((_, message), named)| if named { *message } else { None }),
        };
        let mut flags = NetstatFlags {
            all: self.all,
            listening: self.listening,
            tcp: self.tcp,
            udp: self.udp,
            udplite: self.udplite,
            sctp: self.sctp,
            raw: self.raw,
            unix: families.unix,
            groups: self.groups,
            families,
            named_families: families,
            named_protocols: false,
            protocols_implied: false,
            numeric_hosts: self.numeric || self.numeric_hosts,
            numeric_ports: self.numeric || self.numeric_ports,
            numeric_users: self.numeric || self.numeric_users,
            extend: 1 + self.extend,
            programs: self.programs,
            timers: self.timers,
            wide: self.wide,
            verbose: self.verbose,
            cache: self.cache && !self.fib,
            continuous: self.continuous,
            color: false,
            format: OutputFormat::Text,
            containers: false,
            tcp_info: false,
        };
        let any_inet_protocol = |f: &NetstatFlags| f.tcp || f.sctp || f.udp || f.udplite || f.raw;
        // A family or -s without a protocol means every protocol of that family.
        if (families.inet || families.inet6 || self.statistics) && !any_inet_protocol(&flags) {
            flags.tcp = true;
            flags.sctp = true;
            flags.udp = true;
            flags.udplite = true;
            flags.raw = true;
            flags.protocols_implied = true;
        }
        // A protocol without a family means both IP families.
        if (any_inet_protocol(&flags) || flags.groups) && !(families.inet || families.inet6) {
            flags.families.inet = true;
            flags.families.inet6 = true;
        }
        // A family without a table counts as named (netstat's flag_arg) if its listing reports it.
        flags.named_protocols = any_inet_protocol(&flags)
            || flags.unix
            || flags.groups
            || without_tables.listing_stops_with.is_some();
        if without_tables.listing_stops_with.is_some() {
            // netstat's listing ends at that family's message, in its first pass.
            flags.continuous = false;
        }
        let view = if self.route {
            NetstatView::Route
        } else if self.interfaces {
            NetstatView::Interfaces
        } else if self.statistics {
            NetstatView::Statistics
        } else {
            NetstatView::Sockets
        };
        Ok(NetstatParse::View(
            NetstatConfig {
                view,
                flags,
                namespaces: None,
                filter: None,
            },
            without_tables,
        ))
    }
}

/// netstat's -Z where SELinux is off (the usual case), else a line saying enetstat lacks it.
fn selinux_refusal() -> String {
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        "enetstat: -Z: SELinux security contexts are not supported".to_string()
    } else {
        "SELinux is not enabled on this machine.".to_string()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Config, RawArgs};

    fn check(args: &[&str]) -> Result<NetstatConfig, String> {
        let raw = RawArgs::try_parse_from(std::iter::once("enetstat").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        match raw.check()? {
            Config::Netstat(config, _) => Ok(config),
            other => panic!("not a netstat config: {other:?}"),
        }
    }

    /// The families `-s` and `-r` go by: the ones written, before the defaulting.
    #[test]
    fn named_families_are_the_ones_written() {
        let named = |args: &[&str]| check(args).unwrap().flags.named_families;
        let none = Families::default();
        let inet = Families { inet: true, ..none };
        let inet6 = Families {
            inet6: true,
            ..none
        };
        assert_eq!(named(&["-s"]), none);
        assert_eq!(named(&["-st"]), none);
        assert_eq!(named(&["-s", "-4"]), inet);
        assert_eq!(named(&["-s", "-6"]), inet6);
        assert_eq!(named(&["-s", "-A", "inet6"]), inet6);
        assert_eq!(named(&["-su", "--inet6"]), inet6);
        assert_eq!(
            named(&["-s", "-4", "-6"]),
            Families {
                inet: true,
                inet6: true,
                unix: false
            }
        );
        assert_eq!(named(&["-s", "-x"]), Families { unix: true, ..none });
    }
}
