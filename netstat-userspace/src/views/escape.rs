//! Escaping of untrusted bytes (process names, socket paths) for output.

use std::fmt::Write as _;

/// Renders `bytes` so that nothing in them can drive a terminal or break a line-oriented consumer:
/// printable characters (valid UTF-8, not control) stay as they are, a backslash becomes `\\`, and
/// every other byte becomes `\xNN`. The result is unambiguous: the original bytes can be recovered.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_bytes;

    #[test]
    fn plain_names_are_untouched() {
        assert_eq!(escape_bytes(b"nginx: worker"), "nginx: worker");
        assert_eq!(escape_bytes("kworker/ü".as_bytes()), "kworker/ü");
    }

    #[test]
    fn terminal_controls_and_newlines_are_escaped() {
        assert_eq!(escape_bytes(b"\x1b[2J"), "\\x1b[2J");
        assert_eq!(escape_bytes(b"a\nb\tc\rd\x7f"), "a\\x0ab\\x09c\\x0dd\\x7f");
        // C1 controls arrive as two UTF-8 bytes.
        assert_eq!(escape_bytes("\u{9b}2J".as_bytes()), "\\xc2\\x9b2J");
    }

    #[test]
    fn backslashes_and_invalid_utf8_are_unambiguous() {
        assert_eq!(escape_bytes(b"a\\x1b"), "a\\\\x1b");
        assert_eq!(escape_bytes(b"\xff\xfeok"), "\\xff\\xfeok");
    }
}
