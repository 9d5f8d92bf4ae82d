//! What the probes could not deliver: one account for every probe, every stream and the daemon.

/// Why records (or, for the interface counters, packets) went missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LossCause {
    /// The ring buffer was full when the probe tried to reserve a record.
    RingFull,
    /// The kernel skipped the probe because another BPF program was running on that CPU.
    Recursion,
    /// Held back by the probe's per-CPU rate limit (the interface counters still count them).
    RateLimited,
    /// Packets of interfaces beyond the probes' counter capacity.
    Untracked,
}

/// Losses by cause, counted since the probe was attached (or, from [`Losses::since`], between
/// two readings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Losses {
    pub(crate) ring_full: u64,
    pub(crate) recursion: u64,
    pub(crate) rate_limited: u64,
    pub(crate) untracked: u64,
}

impl Losses {
    /// What was lost after `earlier`, by cause. Counters only grow; one that went back (a
    /// program reloaded) counts from zero rather than wrapping.
    pub(crate) fn since(&self, earlier: &Losses) -> Losses {
        Losses {
            ring_full: self.ring_full.saturating_sub(earlier.ring_full),
            recursion: self.recursion.saturating_sub(earlier.recursion),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
            untracked: self.untracked.saturating_sub(earlier.untracked),
        }
    }

    /// Every cause together.
    pub(crate) fn total(&self) -> u64 {
        self.ring_full + self.recursion + self.rate_limited + self.untracked
    }

    /// The count for each cause, in a fixed order.
    pub(crate) fn by_cause(&self) -> [(LossCause, u64); 4] {
        [
            (LossCause::RingFull, self.ring_full),
            (LossCause::Recursion, self.recursion),
            (LossCause::RateLimited, self.rate_limited),
            (LossCause::Untracked, self.untracked),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_by_cause_and_never_wraps() {
        let earlier = Losses {
            ring_full: 10,
            recursion: 2,
            rate_limited: 0,
            untracked: 5,
        };
        let now = Losses {
            ring_full: 17,
            recursion: 2,
            rate_limited: 3,
            untracked: 1,
        };
        let lost = now.since(&earlier);
        assert_eq!(
            lost,
            Losses {
                ring_full: 7,
                recursion: 0,
                rate_limited: 3,
                untracked: 0,
            }
        );
        assert_eq!(lost.total(), 10);
        assert_eq!(
            lost.by_cause(),
            [
                (LossCause::RingFull, 7),
                (LossCause::Recursion, 0),
                (LossCause::RateLimited, 3),
                (LossCause::Untracked, 0),
            ]
        );
    }
}
