//! Escaping of untrusted bytes (process names, socket paths) for output.

use std::fmt::Write as _;

/// Renders `bytes` so that nothing in them can drive a terminal or break a line-oriented consumer:
/// printable characters (valid UTF-8, not control) stay as they are, a backslash becomes `\\`, and
/// every other byte becomes `\xNN`. The result is unambiguous: the original bytes can be recovered.
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
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

/// For netstat-compatible views: the bytes netstat would print, except that C0 control bytes and
/// DEL (the ones that move a terminal's cursor or start an escape sequence, or break a line)
/// become `\xNN`. Everything printable, including non-UTF-8 text, is left as netstat prints it.
pub fn escape_controls(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !bytes.iter().any(|&b| is_control(b)) {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for &b in bytes {
        if is_control(b) {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        } else {
            out.push(b);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::{escape_bytes, escape_controls};

    #[test]
    fn netstat_views_escape_only_controls() {
        assert_eq!(&*escape_controls(b"/run/a\\b\xff"), b"/run/a\\b\xff");
        assert_eq!(
            &*escape_controls(b"/tmp/x\x1b[2J\x7f"),
            b"/tmp/x\\x1b[2J\\x7f"
        );
    }

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
