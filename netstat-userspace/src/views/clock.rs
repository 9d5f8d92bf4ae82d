//! Turning the probes' CLOCK_MONOTONIC timestamps into wall-clock time.

use chrono::{DateTime, Local, Offset as _, SecondsFormat, Utc};

/// Maps monotonic nanoseconds to wall-clock time, with the offset taken once at start-up (so a
/// clock step while running does not reorder events).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    realtime_minus_monotonic_ns: i128,
    /// Local time minus UTC, in seconds, for the time-of-day column.
    local_offset_s: i64,
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl Clock {
    pub(crate) fn now() -> Self {
        let realtime_minus_monotonic_ns =
            clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC);
        let local_offset_s = i64::from(Local::now().offset().fix().local_minus_utc());
        Clock {
            realtime_minus_monotonic_ns,
            local_offset_s,
        }
    }

    #[cfg(test)]
    /// A clock with fixed offsets, for tests.
    pub(crate) fn fixed(realtime_minus_monotonic_ns: i128, local_offset_s: i64) -> Self {
        Clock {
            realtime_minus_monotonic_ns,
            local_offset_s,
        }
    }

    /// The current CLOCK_MONOTONIC time, in the probes' unit.
    pub(crate) fn monotonic_now_ns() -> u64 {
        clock_ns(libc::CLOCK_MONOTONIC) as u64
    }

    fn unix_ns(&self, monotonic_ns: u64) -> i128 {
        i128::from(monotonic_ns) + self.realtime_minus_monotonic_ns
    }

    /// RFC 3339 in UTC with nanoseconds: `2026-11-22T10:41:03.123456789Z`.
    pub(crate) fn rfc3339(&self, monotonic_ns: u64) -> String {
        let ns = self.unix_ns(monotonic_ns);
        let secs = ns.div_euclid(1_000_000_000) as i64;
        let nanos = ns.rem_euclid(1_000_000_000) as u32;
        DateTime::<Utc>::from_timestamp(secs, nanos)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    /// Local time of day with microseconds: `10:41:03.123456`.
    pub(crate) fn time_of_day(&self, monotonic_ns: u64) -> String {
        let local_ns = self.unix_ns(monotonic_ns) + i128::from(self.local_offset_s) * 1_000_000_000;
        let day_ns = local_ns.rem_euclid(86_400 * 1_000_000_000) as u64;
        let secs = day_ns / 1_000_000_000;
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            day_ns % 1_000_000_000 / 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn formats_rfc3339_with_nanoseconds_in_utc() {
        // 2026-11-22T10:41:03Z is 1795344063 s after the epoch.
        let clock = Clock::fixed(1_795_344_063_000_000_000 - 5_000_000_000, 3600);
        assert_eq!(
            clock.rfc3339(5_000_000_007),
            "2026-11-22T10:41:03.000000007Z"
        );
    }

    #[test]
    fn time_of_day_is_local() {
        let clock = Clock::fixed(1_795_344_063_000_000_000, -3600);
        assert_eq!(clock.time_of_day(123_456_789), "09:41:03.123456");
    }
}
