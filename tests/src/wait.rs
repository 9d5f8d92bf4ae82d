//! Waiting for a condition with a deadline, instead of sleeping for a guess.

use std::{
    fmt::Display,
    time::{Duration, Instant},
};

use anyhow::bail;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it gives a value, failing with `what` after `deadline`.
pub fn until<T>(
    what: impl Display,
    deadline: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > end {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `holds` until it is true, failing with `what` after `deadline`.
pub fn until_true(
    what: impl Display,
    deadline: Duration,
    mut holds: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    until(what, deadline, || Ok(holds()?.then_some(())))
}

/// How many times `needle` occurs in the file at `path` (0 while it does not exist).
pub fn occurrences(path: &std::path::Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_never_holds_fails_at_its_deadline() {
        let started = Instant::now();
        let err = until_true("nothing", Duration::from_millis(100), || Ok(false)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(err.to_string().contains("waiting for nothing"), "{err}");
    }

    #[test]
    fn the_first_value_is_returned() {
        let mut polls = 0;
        let got = until("three polls", Duration::from_secs(5), || {
            polls += 1;
            Ok((polls == 3).then_some(polls))
        })
        .unwrap();
        assert_eq!(got, 3);
    }
}
