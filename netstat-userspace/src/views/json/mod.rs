//! JSON renderings of netstat's views (`--json`), kept apart from the text printers and built from
//! the same typed rows. Listings are JSON lines, one object per row; `-s` is one object.
//!
//! Field names are part of enetstat's interface (README, "JSON output"): fields may be added, none
//! is renamed or removed. No names are looked up: addresses, ports and uids are always numbers,
//! whatever `-n` says. Untrusted bytes (program names, paths, interface names) are escaped as
//! `watch --json` escapes them ([`escape_bytes`](super::escape::escape_bytes)): the result is
//! valid UTF-8, drives no terminal, and the original bytes can be recovered.

pub(crate) mod groups;
pub(crate) mod interfaces;
pub(crate) mod route;
pub(crate) mod sockets;
pub(crate) mod statistics;

use std::io::{self, Write};

use serde::Serialize;

/// Writes one object and its newline.
pub(crate) fn write_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Copies JSON lines, each object stamped with `members` first: preformatted JSON members, such
/// as `"ts":"…"` (`-c`: the time of the snapshot the objects come from) and `"netns":{…}`
/// (`--netns`). Every line is an object, as this module writes them.
pub(crate) fn stamp_lines(lines: &[u8], members: &str, out: &mut dyn Write) -> io::Result<()> {
    for line in lines.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let Some(fields) = line.strip_prefix(b"{") else {
            return Err(io::Error::other("a JSON line that is not an object"));
        };
        write!(out, "{{{members}")?;
        if fields != b"}" {
            out.write_all(b",")?;
        }
        out.write_all(fields)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The `"ts"` member of a stamp.
pub(crate) fn ts_member(ts: &str) -> String {
    format!("\"ts\":{}", serde_json::Value::from(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_lines_are_objects_with_ts_first() {
        let mut out = Vec::new();
        stamp_lines(
            b"{\"a\":1}\n{}\n",
            &ts_member("2026-01-01T00:00:00Z"),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["ts"], "2026-01-01T00:00:00Z");
        assert_eq!(lines[0]["a"], 1);
        assert_eq!(lines[1]["ts"], "2026-01-01T00:00:00Z");
        assert!(text.starts_with("{\"ts\":"));
        assert!(stamp_lines(b"[1]\n", "x", &mut Vec::new()).is_err());
    }
}
