//! What one netstat view shows, checked: the view, its sockets and columns, its format. The CLI
//! makes it, the snapshot service and the views read it, and the daemon is sent it.

use serde::{Deserialize, Serialize};

/// The views netstat can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NetstatView {
    Sockets,
    Route,
    Interfaces,
    Statistics,
}

/// One netstat view, checked: what to show and how.
#[derive(Debug)]
pub(crate) struct NetstatConfig {
    pub(crate) view: NetstatView,
    pub(crate) flags: NetstatFlags,
    /// `--netns`: the namespaces to show, each in a section of its own; None for the caller's
    /// alone, as netstat shows it.
    pub(crate) namespaces: Option<super::netns::NetnsSpec>,
    /// ss's filter expression after the options (README, "Filters"); None keeps every row.
    pub(crate) filter: Option<super::filter::Filter>,
}

/// Which address families were asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Families {
    pub(crate) inet: bool,
    pub(crate) inet6: bool,
    pub(crate) unix: bool,
}

/// Which sockets and columns, after netstat's defaulting (netstat.c main(), done by the CLI).
/// The daemon is sent them as they are (sources::daemon::protocol): an unknown field is refused,
/// not ignored.
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
    /// Colour the TCP State column: not a netstat option, set from `--color`.
    pub(crate) color: bool,
    /// Not a netstat option: enetstat's `--json`.
    pub(crate) format: OutputFormat,
    /// Not a netstat option: enetstat's `--containers`, a CONTAINER column after netstat's.
    /// Left out of requests when off, so that daemons that predate it still answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) containers: bool,
    /// Not a netstat option: enetstat's `--tcp-info`, struct tcp_info's columns after netstat's
    /// (and after CONTAINER). Left out of requests when off, as `containers` is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) tcp_info: bool,
}

/// How netstat's views are written: netstat's text, or JSON (`--json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OutputFormat {
    #[default]
    Text,
    Json,
}
