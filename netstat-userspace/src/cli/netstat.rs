//! The net-tools `netstat` option surface, with netstat's own defaulting rules.

use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};

use crate::views::OutputFormat;

/// netstat's options, exactly as `netstat` spells them.
#[derive(Debug, Default, Args)]
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

/// Which address families were asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Families {
    pub(crate) inet: bool,
    pub(crate) inet6: bool,
    pub(crate) unix: bool,
}

/// The views netstat can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NetstatView {
    Sockets,
    Route,
    Interfaces,
    Statistics,
}

/// Which sockets and columns, after netstat's defaulting (netstat.c main()). The daemon is sent
/// them as they are (sources::daemon::protocol): an unknown field is refused, not ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetstatFlags {
    pub(crate) all: bool,
    pub(crate) listening: bool,
    pub(crate) tcp: bool,
    pub(crate) udp: bool,
    pub(crate) udplite: bool,
    pub(crate) sctp: bool,
    pub(crate) raw: bool,
    pub(crate) unix: bool,
    pub(crate) groups: bool,
    pub(crate) families: Families,
    /// The families named with -4, -6, -A and -x, before the defaulting (netstat's afname, whose
    /// order is not kept): `-s` and `-r` show the statistics and routes of the ones named.
    pub(crate) named_families: Families,
    /// netstat's flag_arg: a protocol or family was named, so only those are shown.
    pub(crate) named_protocols: bool,
    /// netstat's flag_noprot: the IP protocols were implied by a family or -s, not named, so a
    /// protocol the kernel lacks is skipped silently.
    pub(crate) protocols_implied: bool,
    pub(crate) numeric_hosts: bool,
    pub(crate) numeric_ports: bool,
    pub(crate) numeric_users: bool,
    /// netstat's flag_exp: 1 plus the number of `-e`.
    pub(crate) extend: u8,
    pub(crate) programs: bool,
    pub(crate) timers: bool,
    pub(crate) wide: bool,
    pub(crate) verbose: bool,
    pub(crate) cache: bool,
    pub(crate) continuous: bool,
    /// Colour the TCP State column: not a netstat option, set from `--color` (cli::color).
    pub(crate) color: bool,
    /// Not a netstat option: enetstat's `--json`, set by the caller.
    pub(crate) format: OutputFormat,
}

#[derive(Debug)]
pub(crate) struct NetstatConfig {
    pub(crate) view: NetstatView,
    pub(crate) flags: NetstatFlags,
}

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
