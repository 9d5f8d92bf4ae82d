//! Which kinds of event a live view asks the probes for (`watch --events`).

use std::fmt;

use super::interfaces::ReasonNames;

/// The kinds of event, as `--events` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EventKind {
    /// TCP state transitions: today's stream.
    State,
    /// Retransmitted segments and SYN-ACKs.
    Retransmit,
    /// Resets sent and received.
    Reset,
    /// Packets of a socket the kernel dropped.
    Drop,
}

impl EventKind {
    pub(crate) const ALL: [EventKind; 4] = [
        EventKind::State,
        EventKind::Retransmit,
        EventKind::Reset,
        EventKind::Drop,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::Retransmit => "retransmit",
            EventKind::Reset => "reset",
            EventKind::Drop => "drop",
        }
    }
}

/// The kernel's names for the reasons health events carry (from BTF; they differ between
/// kernel versions).
#[derive(Clone, Debug, Default)]
pub(crate) struct HealthReasons {
    /// `enum skb_drop_reason`, without `SKB_DROP_REASON_`.
    pub(crate) drops: ReasonNames,
    /// `enum sk_rst_reason`, without `SK_RST_REASON_` (Linux 6.10 and later; older kernels
    /// report 0, unnamed).
    pub(crate) resets: ReasonNames,
}

/// A set of [`EventKind`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventKinds(u8);

impl Default for EventKinds {
    /// Transitions only, as before `--events` existed.
    fn default() -> Self {
        EventKinds::of(&[EventKind::State])
    }
}

impl EventKinds {
    pub(crate) const NONE: EventKinds = EventKinds(0);

    pub(crate) fn of(kinds: &[EventKind]) -> Self {
        EventKinds(kinds.iter().fold(0, |bits, &kind| bits | 1 << kind as u8))
    }

    /// Both sets' kinds.
    pub(crate) fn with(self, other: EventKinds) -> Self {
        EventKinds(self.0 | other.0)
    }

    pub(crate) fn contains(self, kind: EventKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    /// Whether any kind beyond transitions is asked for.
    pub(crate) fn any_health(self) -> bool {
        EventKind::ALL[1..].iter().any(|&kind| self.contains(kind))
    }

    /// `state,reset`, `all`: names separated by commas, case-insensitive.
    pub(crate) fn parse(list: &str) -> Result<Self, String> {
        let mut kinds = EventKinds::NONE;
        for word in list.split(',').map(str::trim) {
            if word.eq_ignore_ascii_case("all") {
                kinds = EventKinds::of(&EventKind::ALL);
                continue;
            }
            let kind = EventKind::ALL
                .into_iter()
                .find(|kind| kind.name().eq_ignore_ascii_case(word))
                .ok_or_else(|| {
                    format!(
                        "unknown event kind {word:?} in --events (known: state, retransmit, reset, drop, all)"
                    )
                })?;
            kinds.0 |= 1 << kind as u8;
        }
        Ok(kinds)
    }
}

impl fmt::Display for EventKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = EventKind::ALL
            .into_iter()
            .filter(|&kind| self.contains(kind))
            .map(EventKind::name)
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_into_sets() {
        assert_eq!(EventKinds::parse("state"), Ok(EventKinds::default()));
        let all = EventKinds::parse("all").unwrap();
        assert!(EventKind::ALL.iter().all(|&k| all.contains(k)));
        let two = EventKinds::parse("Reset, drop").unwrap();
        assert!(two.contains(EventKind::Reset) && two.contains(EventKind::Drop));
        assert!(!two.contains(EventKind::State) && !two.contains(EventKind::Retransmit));
        assert!(two.any_health());
        assert!(!EventKinds::default().any_health());
        assert_eq!(two.to_string(), "reset,drop");
    }

    #[test]
    fn unknown_kinds_are_named_in_the_error() {
        let err = EventKinds::parse("state,retrans").unwrap_err();
        assert!(err.contains("\"retrans\""), "{err}");
        assert!(EventKinds::parse("").is_err());
    }
}
