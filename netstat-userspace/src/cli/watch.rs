//! `enetstat watch`.

use clap::Args;

use crate::{
    commands::{interfaces::InterfaceWatchConfig, watch::WatchConfig},
    events::filter::TransitionFilter,
    model::{TcpState, health::EventKinds, sockets::Family},
    probes::{DEFAULT_RING_SIZE, check_ring_size},
    views::transitions::StreamFormat,
};

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Only IPv4 sockets.
    #[arg(short = '4', long = "inet", conflicts_with = "inet6")]
    pub(crate) inet: bool,
    /// Only IPv6 sockets (v4-mapped included).
    #[arg(short = '6', long = "inet6")]
    pub(crate) inet6: bool,
    /// Only sockets with one of these local ports (comma-separated, up to 8; filtered in the kernel).
    #[arg(
        short = 'L',
        long = "lport",
        value_name = "PORT",
        value_delimiter = ','
    )]
    pub(crate) local_ports: Vec<u16>,
    /// Only sockets with one of these remote ports (comma-separated, up to 8; filtered in the kernel).
    #[arg(
        short = 'D',
        long = "rport",
        value_name = "PORT",
        value_delimiter = ','
    )]
    pub(crate) remote_ports: Vec<u16>,
    /// Only transitions into or out of these states, e.g. ESTABLISHED,TIME_WAIT.
    #[arg(
        short = 's',
        long = "state",
        value_name = "STATE",
        value_delimiter = ','
    )]
    pub(crate) states: Vec<String>,
    /// One line per closed connection instead (like tcplife): owner, endpoints, bytes, duration.
    #[arg(long, conflicts_with_all = ["states", "interfaces"])]
    pub(crate) lifetimes: bool,
    /// Which events to show, comma-separated: state (transitions, the default), retransmit,
    /// reset, drop, or all. The table gains an EVENT column.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["lifetimes", "interfaces"])]
    pub(crate) events: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Room for full IPv6 addresses in the table.
    #[arg(short = 'W', long)]
    pub(crate) wide: bool,
    /// Size of the kernel ring buffer: a power of two, with an optional K, M or G suffix.
    #[arg(long, value_name = "BYTES", default_value = DEFAULT_RING_SIZE)]
    pub(crate) ring_size: String,
    /// Watch interfaces instead: packets, bytes, errors and drops per second, error and drop
    /// events as they happen, interfaces appearing and vanishing.
    #[arg(
        short = 'i',
        long = "interfaces",
        conflicts_with_all = ["inet", "inet6", "local_ports", "remote_ports", "states"]
    )]
    pub(crate) interfaces: bool,
    /// With --interfaces: seconds between counter lines (fractions allowed).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "1",
        requires = "interfaces"
    )]
    pub(crate) interval: f64,
    /// With --interfaces: error and drop events allowed per second on each CPU (beyond that
    /// they are still counted, and the number held back is reported); 0 turns events off.
    #[arg(long, value_name = "N", default_value = "100", requires = "interfaces")]
    pub(crate) events_per_sec: u32,
}

/// `16M` -> 16777216. Accepts K, M, G (powers of 1024), case-insensitive.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&text[..i], 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&text[..i], 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&text[..i], 30),
        _ => (text, 0),
    };
    let value: u64 = digits.parse().map_err(|_| {
        format!("invalid size {text:?}: expected a number with an optional K, M or G")
    })?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

impl WatchArgs {
    fn format(&self) -> StreamFormat {
        if self.json {
            StreamFormat::JsonLines
        } else {
            StreamFormat::Table { wide: self.wide }
        }
    }

    pub(crate) fn check_interfaces(self) -> Result<InterfaceWatchConfig, String> {
        if !(self.interval.is_finite() && (0.01..=86_400.0).contains(&self.interval)) {
            return Err(format!(
                "--interval must be between 0.01 and 86400 seconds, got {}",
                self.interval
            ));
        }
        Ok(InterfaceWatchConfig {
            format: self.format(),
            interval: std::time::Duration::from_secs_f64(self.interval),
            ring_bytes: check_ring_size(parse_size(&self.ring_size)?)?,
            events_per_sec: self.events_per_sec,
        })
    }

    pub(crate) fn check(self) -> Result<WatchConfig, String> {
        let family = match (self.inet, self.inet6) {
            (true, _) => Some(Family::Inet),
            (_, true) => Some(Family::Inet6),
            _ => None,
        };
        let states = self
            .states
            .iter()
            .map(|name| {
                TcpState::parse(name).ok_or_else(|| {
                    let known: Vec<_> = TcpState::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown TCP state {name:?} (known: {})", known.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let events = self.events.as_deref().map(EventKinds::parse).transpose()?;
        let format = self.format();
        let ring_bytes = check_ring_size(parse_size(&self.ring_size)?)?;
        let filter = TransitionFilter::new(family, self.local_ports, self.remote_ports, states)?;
        Ok(WatchConfig {
            filter,
            format,
            ring_bytes,
            color: false,
            lifetimes: self.lifetimes,
            namespaces: None,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Config, RawArgs};
    use crate::probes::DEFAULT_RING_BYTES;

    fn check(args: &[&str]) -> Result<WatchConfig, String> {
        let raw = RawArgs::try_parse_from(["enetstat", "watch"].iter().chain(args))
            .map_err(|e| e.to_string())?;
        match raw.check()? {
            Config::Watch(config) => Ok(config),
            other => panic!("not a watch config: {other:?}"),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(
            parse_size(DEFAULT_RING_SIZE),
            Ok(u64::from(DEFAULT_RING_BYTES))
        );
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn defaults() {
        let c = check(&[]).unwrap();
        assert_eq!(c.filter, TransitionFilter::default());
        assert_eq!(c.format, StreamFormat::Table { wide: false });
        assert_eq!(c.ring_bytes, DEFAULT_RING_BYTES);
        assert!(!c.lifetimes);
    }

    #[test]
    fn lifetimes_take_the_socket_filters_but_not_states() {
        let c = check(&["--lifetimes", "--json", "-4", "--rport", "443"]).unwrap();
        assert!(c.lifetimes);
        assert_eq!(c.format, StreamFormat::JsonLines);
        assert_eq!(c.filter.family, Some(Family::Inet));
        assert_eq!(c.filter.remote_ports, [443]);
        for other in ["--state=LISTEN", "--interfaces"] {
            let err = check(&["--lifetimes", other]).unwrap_err();
            assert!(err.contains("cannot be used with"), "{other}: {err}");
        }
    }

    #[test]
    fn filters_and_json() {
        let c = check(&[
            "-6",
            "--lport",
            "80,443",
            "-D",
            "22",
            "--state",
            "time_wait,LISTEN",
            "--json",
        ])
        .unwrap();
        assert_eq!(c.filter.family, Some(Family::Inet6));
        assert_eq!(c.filter.local_ports, [80, 443]);
        assert_eq!(c.filter.remote_ports, [22]);
        assert_eq!(c.filter.states, [TcpState::TimeWait, TcpState::Listen]);
        assert_eq!(c.format, StreamFormat::JsonLines);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(
            check(&["--state", "nope"])
                .unwrap_err()
                .contains("unknown TCP state")
        );
        assert!(
            check(&["--ring-size", "3000"])
                .unwrap_err()
                .contains("power of two")
        );
        assert!(check(&["--lport", "70000"]).is_err());
        assert!(check(&["-4", "-6"]).is_err());
        assert!(check(&["--bogus"]).is_err());
        assert!(
            check(&["--events", "state,retrans"])
                .unwrap_err()
                .contains("unknown event kind")
        );
        assert!(check(&["--events", "all", "--lifetimes"]).is_err());
    }

    #[test]
    fn events_default_to_transitions_without_an_event_column() {
        assert_eq!(check(&[]).unwrap().events, None);
        let c = check(&["--events", "reset,drop"]).unwrap();
        assert_eq!(c.events, Some(EventKinds::parse("reset,drop").unwrap()));
    }

    fn check_interfaces(args: &[&str]) -> Result<InterfaceWatchConfig, String> {
        let raw = RawArgs::try_parse_from(["enetstat", "watch"].iter().chain(args))
            .map_err(|e| e.to_string())?;
        match raw.check()? {
            Config::WatchInterfaces(config) => Ok(config),
            other => panic!("not an interface watch config: {other:?}"),
        }
    }

    #[test]
    fn interface_mode() {
        let c = check_interfaces(&["-i", "--json", "--interval", "0.5"]).unwrap();
        assert_eq!(c.format, StreamFormat::JsonLines);
        assert_eq!(c.interval, std::time::Duration::from_millis(500));
        assert_eq!(c.events_per_sec, 100);
        assert!(check_interfaces(&["-i", "--interval", "0"]).is_err());
        assert!(check_interfaces(&["-i", "--interval", "nan"]).is_err());
        assert!(check_interfaces(&["-i", "--lport", "80"]).is_err());
        // Interface options need --interfaces.
        assert!(check(&["--interval", "2"]).is_err());
    }
}
