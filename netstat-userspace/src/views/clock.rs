//! Turning the probes' CLOCK_MONOTONIC timestamps into wall-clock time.

use chrono::{DateTime, Local, Offset as _, SecondsFormat, Utc};

use super::line::Line;

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

    #[cfg(test)]
    pub(crate) fn realtime_minus_monotonic_ns_for_tests(&self) -> i128 {
        self.realtime_minus_monotonic_ns
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
        let mut line = Line::default();
        self.write_rfc3339(&mut DateCache::default(), monotonic_ns, &mut line);
        String::from_utf8(line.buf).unwrap_or_default()
    }

    /// [`Clock::rfc3339`] written to `line`, with the date taken from `cache` while the day
    /// stays the same.
    pub(crate) fn write_rfc3339(&self, cache: &mut DateCache, monotonic_ns: u64, line: &mut Line) {
        let ns = self.unix_ns(monotonic_ns);
        let secs = ns.div_euclid(1_000_000_000) as i64;
        let nanos = ns.rem_euclid(1_000_000_000) as u64;
        let day = secs.div_euclid(86_400);
        if cache.day != Some(day) {
            cache.day = Some(day);
            // chrono writes the date, once a day; `None` beyond its range, as never happens for
            // a monotonic clock's offsets.
            cache.date = DateTime::<Utc>::from_timestamp(day * 86_400, 0).map(|midnight| {
                let text = midnight.to_rfc3339_opts(SecondsFormat::Secs, true);
                text[..=text.find('T').unwrap_or(0)].to_string()
            });
        }
        let Some(date) = &cache.date else {
            line.bytes(
                DateTime::<Utc>::default()
                    .to_rfc3339_opts(SecondsFormat::Nanos, true)
                    .as_bytes(),
            );
            return;
        };
        line.bytes(date.as_bytes());
        write_clock_time(line, secs.rem_euclid(86_400) as u64);
        line.byte(b'.');
        line.zero_padded(nanos, 9);
        line.byte(b'Z');
    }

    /// Local time of day with microseconds: `10:41:03.123456`.
    pub(crate) fn time_of_day(&self, monotonic_ns: u64) -> String {
        let mut line = Line::default();
        self.write_time_of_day(monotonic_ns, &mut line);
        String::from_utf8(line.buf).unwrap_or_default()
    }

    /// [`Clock::time_of_day`] written to `line`.
    pub(crate) fn write_time_of_day(&self, monotonic_ns: u64, line: &mut Line) {
        let local_ns = self.unix_ns(monotonic_ns) + i128::from(self.local_offset_s) * 1_000_000_000;
        let day_ns = local_ns.rem_euclid(86_400 * 1_000_000_000) as u64;
        write_clock_time(line, day_ns / 1_000_000_000);
        line.byte(b'.');
        line.zero_padded(day_ns % 1_000_000_000 / 1000, 6);
    }
}

/// The date part of the last RFC 3339 timestamp written (`2026-11-22T`).
#[derive(Debug, Default)]
pub(crate) struct DateCache {
    day: Option<i64>,
    date: Option<String>,
}

/// `HH:MM:SS` of the seconds since midnight.
fn write_clock_time(line: &mut Line, secs: u64) {
    line.two_digits(secs / 3600);
    line.byte(b':');
    line.two_digits(secs / 60 % 60);
    line.byte(b':');
    line.two_digits(secs % 60);
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SecondsFormat, Utc};

    use super::{Clock, DateCache, Line};

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

    #[test]
    fn timestamps_match_chrono_across_days_with_the_date_cached() {
        let mut cache = DateCache::default();
        let mut rng = crate::views::line::tests::Lcg(5);
        for offset in [0, 1_795_344_063_000_000_000, -86_400_000_000_000 * 365 * 30] {
            let clock = Clock::fixed(offset, 3600);
            let mut ns = 0u64;
            for _ in 0..20_000 {
                // Mostly small steps, sometimes across midnight, sometimes far.
                ns = ns.wrapping_add(match rng.next() % 100 {
                    0 => rng.next() >> 4,
                    1..=9 => rng.next() % 200_000_000_000_000,
                    _ => rng.next() % 2_000_000_000,
                }) % (1 << 62);
                let unix = i128::from(ns) + offset;
                let expected = DateTime::<Utc>::from_timestamp(
                    unix.div_euclid(1_000_000_000) as i64,
                    unix.rem_euclid(1_000_000_000) as u32,
                )
                .unwrap_or_default()
                .to_rfc3339_opts(SecondsFormat::Nanos, true);
                let mut line = Line::default();
                clock.write_rfc3339(&mut cache, ns, &mut line);
                assert_eq!(String::from_utf8(line.buf).unwrap(), expected, "{ns}");
                let local = unix + 3_600_000_000_000;
                let day_ns = local.rem_euclid(86_400 * 1_000_000_000) as u64;
                let secs = day_ns / 1_000_000_000;
                assert_eq!(
                    clock.time_of_day(ns),
                    format!(
                        "{:02}:{:02}:{:02}.{:06}",
                        secs / 3600,
                        secs / 60 % 60,
                        secs % 60,
                        day_ns % 1_000_000_000 / 1000
                    )
                );
            }
        }
    }
}
