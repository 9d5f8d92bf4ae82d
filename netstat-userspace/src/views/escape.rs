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

/// For netstat-compatible views: the bytes netstat would print, except that control characters
/// become `\xNN`: C0 controls and DEL (they move a terminal's cursor, start an escape sequence or
/// break a line), and C1 controls, U+0080..U+009F (U+009B is an 8-bit CSI). A C1 control is
/// escaped whether it comes as UTF-8 (`\xc2\x9b`) or as a lone byte 0x80..0x9F outside any valid
/// UTF-8 sequence, which a terminal in an 8-bit locale obeys. Everything printable, including
/// other non-UTF-8 text (Latin-1 `\xe9`, say) and backslashes, is left as netstat prints it.
pub fn escape_controls(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    // Fast path: C0 and DEL are plain bytes, and a C1 control needs a byte of 0x80 or more.
    if !bytes.iter().any(|&b| is_c0_or_del(b) || b >= 0x80) {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let escape = |out: &mut Vec<u8>, raw: &[u8]| {
        for b in raw {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    };
    for chunk in bytes.utf8_chunks() {
        let mut buf = [0u8; 4];
        for c in chunk.valid().chars() {
            let raw = c.encode_utf8(&mut buf).as_bytes();
            if c.is_control() {
                escape(&mut out, raw);
            } else {
                out.extend_from_slice(raw);
            }
        }
        for &b in chunk.invalid() {
            if (0x80..=0x9f).contains(&b) {
                escape(&mut out, &[b]);
            } else {
                out.push(b);
            }
        }
    }
    if out == bytes {
        return std::borrow::Cow::Borrowed(bytes);
    }
    std::borrow::Cow::Owned(out)
}

fn is_c0_or_del(b: u8) -> bool {
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
        // C1 controls, as UTF-8 and as lone bytes; other UTF-8 and Latin-1 stay.
        assert_eq!(
            &*escape_controls("a\u{9b}2J\u{85}ü\u{a0}Ā".as_bytes()),
            "a\\xc2\\x9b2J\\xc2\\x85ü\u{a0}Ā".as_bytes()
        );
        assert_eq!(
            &*escape_controls(b"caf\xe9 \x9b\x80\xc2"),
            b"caf\xe9 \\x9b\\x80\xc2"
        );
        assert!(matches!(
            escape_controls("kworker/ü".as_bytes()),
            std::borrow::Cow::Borrowed(_)
        ));
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
