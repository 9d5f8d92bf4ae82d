//! TCP states as the kernel numbers them and netstat spells them.

/// A kernel TCP state (include/net/tcp_states.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
    BoundInactive,
    Unknown(u8),
}

impl TcpState {
    /// Every named state, in kernel order.
    pub(crate) const ALL: [TcpState; 13] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
        TcpState::BoundInactive,
    ];

    /// How many values [`TcpState::index`] takes: the named states and one for all unknown ones.
    pub(crate) const INDEXED: usize = 14;

    /// A dense index for tables kept per state: the named states' places in [`TcpState::ALL`],
    /// then one shared by every unknown state (they all print as `UNKNOWN`).
    pub(crate) fn index(self) -> usize {
        match self {
            TcpState::Established => 0,
            TcpState::SynSent => 1,
            TcpState::SynRecv => 2,
            TcpState::FinWait1 => 3,
            TcpState::FinWait2 => 4,
            TcpState::TimeWait => 5,
            TcpState::Close => 6,
            TcpState::CloseWait => 7,
            TcpState::LastAck => 8,
            TcpState::Listen => 9,
            TcpState::Closing => 10,
            TcpState::NewSynRecv => 11,
            TcpState::BoundInactive => 12,
            TcpState::Unknown(_) => 13,
        }
    }

    pub fn from_raw(raw: u8) -> Self {
        match raw {
            1..=13 => Self::ALL[usize::from(raw) - 1],
            other => TcpState::Unknown(other),
        }
    }

    #[cfg(test)]
    pub(crate) fn raw(self) -> u8 {
        match self {
            TcpState::Unknown(raw) => raw,
            named => Self::ALL
                .iter()
                .position(|s| *s == named)
                .map_or(0, |i| i as u8 + 1),
        }
    }

    /// The name netstat prints (net-tools' tcp_state[]); the two states net-tools predates get the
    /// kernel's names.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
            TcpState::Unknown(_) => "UNKNOWN",
        }
    }

    /// Parses a state name as netstat spells it, ignoring case; `-` and `_` are interchangeable.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let wanted = name.trim().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(&wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_round_trip() {
        for raw in 0..=20u8 {
            assert_eq!(TcpState::from_raw(raw).raw(), raw);
        }
        assert_eq!(TcpState::from_raw(1), TcpState::Established);
        assert_eq!(TcpState::from_raw(10), TcpState::Listen);
        assert_eq!(TcpState::from_raw(0), TcpState::Unknown(0));
    }

    #[test]
    fn indices_follow_all_and_unknowns_share_the_last() {
        for (i, state) in TcpState::ALL.into_iter().enumerate() {
            assert_eq!(state.index(), i);
        }
        assert_eq!(TcpState::Unknown(0).index(), TcpState::INDEXED - 1);
        assert_eq!(TcpState::Unknown(200).index(), TcpState::INDEXED - 1);
    }

    #[test]
    fn names_are_netstats() {
        assert_eq!(TcpState::FinWait1.name(), "FIN_WAIT1");
        assert_eq!(TcpState::SynRecv.name(), "SYN_RECV");
        assert_eq!(TcpState::Unknown(99).name(), "UNKNOWN");
    }

    #[test]
    fn parses_names_loosely() {
        assert_eq!(TcpState::parse("established"), Some(TcpState::Established));
        assert_eq!(TcpState::parse("time-wait"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse("CLOSE_WAIT"), Some(TcpState::CloseWait));
        assert_eq!(TcpState::parse("bogus"), None);
    }
}
