//! The few sscanf conversions net-tools reads /proc/net files with, reproduced so that a line is
//! read exactly as netstat reads it: where a field stops, which conversion fails first, how a
//! number that does not fit is cut down.

use std::net::Ipv4Addr;

/// One directive of a scanf format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// White space in the format: skips any amount of white space, including none.
    Space,
    /// `%Ns`: up to N bytes that are not white space, after skipping white space.
    Word(usize),
    /// `%*s`: a word, read and dropped (not counted).
    SkipWord,
    /// `%d`: a decimal int.
    Int,
    /// `%X` or `%0Nx`: a hexadecimal unsigned int, in at most N bytes when a width is given.
    Hex(Option<usize>),
    /// `%Nc`: the next N bytes, white space included (fewer at the end of the line).
    Bytes(usize),
    /// `%N[0-9A-Fa-f]`: up to N hexadecimal digits.
    HexDigits(usize),
    /// `%lu` or `%Lu`: a decimal 64-bit unsigned number.
    Unsigned,
}

/// What a conversion stored. Text stays bytes: /proc files are not promised to be UTF-8, and
/// sscanf counts bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scanned {
    Text(Vec<u8>),
    Int(i32),
    Hex(u32),
    Unsigned(u64),
}

/// Runs `format` over `line` and returns what the storing conversions read, in order, stopping
/// at the first that fails, as sscanf does (its return value is the length of the result, or
/// -1 where this returns an empty list because the line ended first).
pub(crate) fn scan(line: &[u8], format: &[Conversion]) -> Vec<Scanned> {
    let mut input = Input {
        bytes: line,
        pos: 0,
    };
    let mut stored = Vec::new();
    for conversion in format {
        let value = match *conversion {
            Conversion::Space => {
                input.skip_space();
                continue;
            }
            Conversion::SkipWord => match input.word(usize::MAX) {
                Some(_) => continue,
                None => break,
            },
            Conversion::Word(max) => input.word(max).map(Scanned::Text),
            Conversion::Int => input.int().map(Scanned::Int),
            Conversion::Hex(width) => input.hex(width.unwrap_or(usize::MAX)).map(Scanned::Hex),
            Conversion::Bytes(count) => input.bytes(count).map(Scanned::Text),
            Conversion::HexDigits(max) => input.hex_digits(max).map(Scanned::Text),
            Conversion::Unsigned => input.unsigned().map(Scanned::Unsigned),
        };
        match value {
            Some(value) => stored.push(value),
            None => break,
        }
    }
    stored
}

/// The lines of a file as fgets returns them, each with its newline.
pub(crate) fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|b| *b == b'\n')
}

/// net-tools' proc_gen_fmt: a scanf format for a file whose first line names its columns. Each
/// wanted column, found in the given order, gets its conversion; any other column is skipped.
/// Fails with the first wanted column the header lacks.
pub(crate) fn header_format(
    header: &[u8],
    columns: &[(&'static str, Conversion)],
) -> Result<Vec<Conversion>, &'static str> {
    let mut format = Vec::new();
    let mut wanted = columns.iter().peekable();
    let titles = header
        .split(|b| b" \t\n|".contains(b))
        .map(trim_leading_space)
        .filter(|title| !title.is_empty());
    for title in titles {
        let Some((name, conversion)) = wanted.peek() else {
            break;
        };
        if title == name.as_bytes() {
            format.push(*conversion);
            wanted.next();
        } else {
            format.push(Conversion::SkipWord);
        }
    }
    match wanted.next() {
        Some((missing, _)) => Err(missing),
        None => Ok(format),
    }
}

fn trim_leading_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !is_space(*b))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// C's isspace.
fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b
}

/// An IPv4 address the kernel printed with %08X from its network-order 32 bits (so the text
/// depends on the machine's byte order, and so does reading it back).
pub(crate) fn ipv4_from_kernel_hex(value: u32) -> Ipv4Addr {
    Ipv4Addr::from(value.to_ne_bytes())
}

/// net-tools' INET_getsock: the first eight characters of `text` as such an address.
pub(crate) fn ipv4_from_kernel_text(text: &[u8]) -> Option<Ipv4Addr> {
    let digits = text.get(..8)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(text, 16).ok().map(ipv4_from_kernel_hex)
}

struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, max: usize, accept: impl Fn(u8) -> bool) -> &[u8] {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    fn word(&mut self, max: usize) -> Option<Vec<u8>> {
        self.skip_space();
        let word = self.take_while(max, |b| !is_space(b));
        (!word.is_empty()).then(|| word.to_vec())
    }

    fn bytes(&mut self, count: usize) -> Option<Vec<u8>> {
        let end = self.bytes.len().min(self.pos.saturating_add(count));
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        (!taken.is_empty()).then(|| taken.to_vec())
    }

    fn hex_digits(&mut self, max: usize) -> Option<Vec<u8>> {
        let digits = self.take_while(max, |b| b.is_ascii_hexdigit());
        (!digits.is_empty()).then(|| digits.to_vec())
    }

    /// An optional sign within `width`; returns whether it was a minus and the width left.
    fn sign(&mut self, width: usize) -> (bool, usize) {
        match self.peek() {
            Some(sign @ (b'+' | b'-')) if width > 0 => {
                self.pos += 1;
                (sign == b'-', width - 1)
            }
            _ => (false, width),
        }
    }

    /// `%d`: glibc converts with strtol (saturating at the range of a 64-bit long) and stores
    /// the low 32 bits.
    fn int(&mut self) -> Option<i32> {
        self.skip_space();
        self.peek()?;
        let (negative, _) = self.sign(usize::MAX);
        let digits = self.take_while(usize::MAX, |b| b.is_ascii_digit());
        if digits.is_empty() {
            return None;
        }
        let magnitude = digits.iter().try_fold(0_i64, |value, digit| {
            value
                .checked_mul(10)
                .and_then(|v| v.checked_sub(i64::from(digit - b'0')))
        });
        // Accumulated as a negative number, which has the larger range.
        let value = match (magnitude, negative) {
            (Some(v), true) => v,
            (Some(v), false) => v.checked_neg().unwrap_or(i64::MAX),
            (None, true) => i64::MIN,
            (None, false) => i64::MAX,
        };
        Some(value as i32)
    }

    /// `%lu`: glibc converts with strtoull, which saturates and negates for a minus sign.
    fn unsigned(&mut self) -> Option<u64> {
        self.skip_space();
        self.peek()?;
        let (negative, _) = self.sign(usize::MAX);
        let digits = self.take_while(usize::MAX, |b| b.is_ascii_digit());
        if digits.is_empty() {
            return None;
        }
        let value = digits
            .iter()
            .try_fold(0_u64, |value, digit| {
                value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            })
            .unwrap_or(u64::MAX);
        Some(if negative {
            value.wrapping_neg()
        } else {
            value
        })
    }

    /// `%X`: glibc converts with strtoul (saturating at a 64-bit unsigned long, negated for a
    /// minus sign) and stores the low 32 bits. A `0x` prefix counts against the width.
    fn hex(&mut self, width: usize) -> Option<u32> {
        self.skip_space();
        self.peek()?;
        let (negative, mut width) = self.sign(width);
        let has_prefix = width >= 2
            && self.peek() == Some(b'0')
            && matches!(self.bytes.get(self.pos + 1), Some(b'x' | b'X'));
        if has_prefix {
            self.pos += 2;
            width -= 2;
        }
        let digits = self.take_while(width, |b| b.is_ascii_hexdigit());
        if digits.is_empty() && !has_prefix {
            return None;
        }
        let value = digits
            .iter()
            .try_fold(0_u64, |value, digit| {
                let digit = char::from(*digit).to_digit(16).unwrap_or(0);
                value.checked_mul(16)?.checked_add(u64::from(digit))
            })
            .unwrap_or(u64::MAX);
        let value = if negative {
            value.wrapping_neg()
        } else {
            value
        };
        Some(value as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::{Conversion::*, *};
    use Scanned as S;

    fn text(s: &str) -> Scanned {
        S::Text(s.as_bytes().to_vec())
    }

    fn scan(line: &str, format: &[Conversion]) -> Vec<Scanned> {
        super::scan(line.as_bytes(), format)
    }

    #[test]
    fn words_numbers_and_where_they_stop() {
        assert_eq!(
            scan("eth0\t0A\t-5\tzz", &[Word(15), Hex(None), Int, Int]),
            vec![text("eth0"), S::Hex(10), S::Int(-5)]
        );
        assert_eq!(
            scan("abcdef", &[Word(4), Word(4)]),
            vec![text("abcd"), text("ef")]
        );
        assert_eq!(scan("a b c", &[SkipWord, Word(9)]), vec![text("b")]);
        assert_eq!(scan("   \n", &[Int]), vec![]);
    }

    #[test]
    fn numbers_cut_as_glibc_cuts_them() {
        assert_eq!(scan("4294967296", &[Int]), vec![S::Int(0)]);
        assert_eq!(scan("99999999999999999999", &[Int]), vec![S::Int(-1)]);
        assert_eq!(scan("+5", &[Int]), vec![S::Int(5)]);
        assert_eq!(
            scan("99999999999999999999 -1 7", &[Unsigned, Unsigned, Unsigned]),
            vec![S::Unsigned(u64::MAX), S::Unsigned(u64::MAX), S::Unsigned(7)]
        );
        assert_eq!(scan("-", &[Int]), vec![]);
        assert_eq!(scan("-1", &[Hex(None)]), vec![S::Hex(u32::MAX)]);
        assert_eq!(scan("FFFFFFFF", &[Hex(None)]), vec![S::Hex(u32::MAX)]);
        assert_eq!(scan("0xzz", &[Hex(None)]), vec![S::Hex(0)]);
        assert_eq!(
            scan("12ab", &[Hex(Some(2)), Hex(Some(2))]),
            vec![S::Hex(0x12), S::Hex(0xab)]
        );
        // TOS is printed in hex but read with %d: "1A" stops after the 1.
        assert_eq!(scan("1A 7", &[Int, Int]), vec![S::Int(1)]);
    }

    #[test]
    fn fixed_byte_counts_and_digit_sets() {
        assert_eq!(
            scan("1\tlo        :     1", &[Int, Space, Bytes(15)]),
            vec![S::Int(1), text("lo        :    ")]
        );
        assert_eq!(
            scan("1\tlo: 5\n", &[Int, Space, Bytes(15)]),
            vec![S::Int(1), text("lo: 5\n")]
        );
        assert_eq!(
            scan(
                "\t\t\t\t010000E0     1 0",
                &[Space, HexDigits(8), Space, Int]
            ),
            vec![text("010000E0"), S::Int(1)]
        );
        assert_eq!(scan("xyz", &[HexDigits(8)]), vec![]);
    }

    #[test]
    fn header_columns_in_order() {
        let header = b"Iface\tDestination\tGateway \tFlags\t\tRefCnt  \n";
        assert_eq!(
            header_format(header, &[("Iface", Word(15)), ("Flags", Hex(None))]),
            Ok(vec![Word(15), SkipWord, SkipWord, Hex(None)])
        );
        assert_eq!(
            header_format(header, &[("Flags", Hex(None)), ("Iface", Word(15))]),
            Err("Iface")
        );
        assert_eq!(header_format(b"", &[("Iface", Word(15))]), Err("Iface"));
    }

    #[test]
    fn kernel_hex_addresses() {
        let expected = if cfg!(target_endian = "little") {
            Ipv4Addr::new(127, 0, 0, 1)
        } else {
            Ipv4Addr::new(1, 0, 0, 127)
        };
        assert_eq!(ipv4_from_kernel_text(b"0100007F"), Some(expected));
        assert_eq!(ipv4_from_kernel_text(b"0100007Fxyz"), Some(expected));
        assert_eq!(ipv4_from_kernel_text(b"0100007"), None);
        assert_eq!(ipv4_from_kernel_text(b"0.0.0.0"), None);
    }
}
