//! The net-tools `netstat` option surface, with netstat's own defaulting rules.

use clap::{ArgAction, Args};

use crate::{
    snapshot::{NetstatConfig, NetstatView},
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
    /// Address families, comma-separated: inet, inet6, unix.
    #[arg(short = 'A', long = "protocol", value_name = "AF", help_heading = NETSTAT)]
    pub(crate) families: Vec<String>,
}

const NETSTAT: &str = "netstat-compatible options";

impl NetstatArgs {
    pub(crate) fn check(self) -> Result<NetstatConfig, String> {
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
            inet: self.inet,
            inet6: self.inet6,
            unix: self.unix,
        };
        for family in self.families.iter().flat_map(|list| list.split(',')) {
            match family {
                "inet" => families.inet = true,
                "inet6" => families.inet6 = true,
                "unix" => families.unix = true,
                other => {
                    return Err(format!(
                        "unsupported address family '{other}' (enetstat knows inet, inet6 and unix)"
                    ));
                }
            }
        }
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
        flags.named_protocols = any_inet_protocol(&flags) || flags.unix || flags.groups;
        let view = if self.route {
            NetstatView::Route
        } else if self.interfaces {
            NetstatView::Interfaces
        } else if self.statistics {
            NetstatView::Statistics
        } else {
            NetstatView::Sockets
        };
        Ok(NetstatConfig { view, flags })
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
