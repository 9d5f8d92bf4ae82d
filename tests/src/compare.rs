//! Comparing enetstat's output with netstat's, byte for byte, with a stated tolerance for the
//! fields that move between two reads.

use std::process::{Command, Output};

/// Runs `program ARGS` inside namespace `ns` (`ip netns exec`).
pub fn run_in(ns: &str, program: &std::path::Path, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(program)
        .args(args)
        .output()
        .expect("running ip netns exec")
}

/// Timers count down between two reads: `(12.34/` may differ by up to this many seconds.
pub const TIMER_TOLERANCE_S: f64 = 2.0;

/// The first line where the two outputs differ beyond the tolerance, with both outputs, or None.
pub fn difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    let expected_lines: Vec<&[u8]> = expected.split(|&b| b == b'\n').collect();
    let actual_lines: Vec<&[u8]> = actual.split(|&b| b == b'\n').collect();
    let first = (0..expected_lines.len().max(actual_lines.len())).find(|&i| {
        match (expected_lines.get(i), actual_lines.get(i)) {
            (Some(e), Some(a)) => !lines_match(e, a),
            _ => true,
        }
    })?;
    Some(format!(
        "first difference at line {}:\n  netstat:  {:?}\n  enetstat: {:?}\n--- netstat ---\n{}\n--- enetstat ---\n{}",
        first + 1,
        expected_lines
            .get(first)
            .map(|l| String::from_utf8_lossy(l)),
        actual_lines.get(first).map(|l| String::from_utf8_lossy(l)),
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(actual)
    ))
}

/// Equal, or equal once every timer value `(N.NN/` is masked and the values are within the
/// tolerance of each other.
fn lines_match(expected: &[u8], actual: &[u8]) -> bool {
    if expected == actual {
        return true;
    }
    let (e_mask, e_timers) = mask_timers(expected);
    let (a_mask, a_timers) = mask_timers(actual);
    e_mask == a_mask
        && e_timers.len() == a_timers.len()
        && e_timers
            .iter()
            .zip(&a_timers)
            .all(|(e, a)| (e - a).abs() <= TIMER_TOLERANCE_S)
}

/// Replaces each `(digits.digits/` with `(#/`, returning the masked line and the values.
fn mask_timers(line: &[u8]) -> (Vec<u8>, Vec<f64>) {
    let text = String::from_utf8_lossy(line);
    let mut masked = String::new();
    let mut values = Vec::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('(') {
        masked.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let end = rest.find('/').unwrap_or(0);
        match rest[..end].parse::<f64>() {
            Ok(value) if end > 0 => {
                values.push(value);
                masked.push('#');
                rest = &rest[end..];
            }
            _ => {}
        }
    }
    masked.push_str(rest);
    (masked.into_bytes(), values)
}

/// netstat prints control bytes of untrusted names raw; enetstat escapes them as `\xNN`
/// (README: "Untrusted bytes"). This applies that documented escaping to netstat's output, line by
/// line, so the rest can still be compared byte for byte.
pub fn escape_controls(bytes: &[u8]) -> Vec<u8> {
    let lines: Vec<Vec<u8>> = bytes
        .split(|&b| b == b'\n')
        .map(|line| enetstat::escape_controls(line).into_owned())
        .collect();
    lines.join(&b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_within_tolerance_match() {
        assert!(lines_match(
            b"tcp x timewait (59.87/0/0)",
            b"tcp x timewait (59.10/0/0)"
        ));
        assert!(!lines_match(
            b"tcp x timewait (59.87/0/0)",
            b"tcp x timewait (50.00/0/0)"
        ));
        assert!(!lines_match(
            b"tcp x timewait (59.87/0/0)",
            b"tcp x timewait (59.87/1/0)"
        ));
        assert!(!lines_match(b"tcp 5 x", b"tcp 6 x"));
        assert!(difference(b"a\nb\n", b"a\nb\n").is_none());
        assert!(difference(b"a\nb\n", b"a\nc\n").unwrap().contains("line 2"));
    }
}
