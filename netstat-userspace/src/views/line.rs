//! The stream's lines written as bytes: integers and addresses without `fmt`, untrusted bytes
//! escaped on a fast path, JSON strings and numbers as serde_json writes them. `watch` writes a
//! line per transition, and `format!` cost it thousands of instructions per line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::escape::escape_bytes;

/// A line (or many) being written.
#[derive(Debug, Default)]
pub(crate) struct Line {
    pub(crate) buf: Vec<u8>,
}

const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

impl Line {
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn byte(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// Spaces after a field that began at `start`, up to `width` columns (`{:<width}` for text
    /// of one column per byte).
    pub(crate) fn pad_from(&mut self, start: usize, width: usize) {
        self.spaces(width.saturating_sub(self.buf.len() - start));
    }

    pub(crate) fn spaces(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, b' ');
    }

    /// A few bytes, pushed one by one: for short runs of varying length, where a `memcpy` call
    /// costs more than the bytes.
    fn short(&mut self, bytes: &[u8]) {
        self.buf.reserve(bytes.len());
        for &b in bytes {
            self.buf.push(b);
        }
    }

    /// `n` in decimal, as `{}` writes it.
    pub(crate) fn decimal(&mut self, mut n: u64) {
        if n < 10 {
            return self.byte(b'0' + n as u8);
        }
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            at -= 2;
            let pair = n as usize * 2;
            digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            digits[at] = b'0' + n as u8;
        }
        self.short(&digits[at..]);
    }

    /// `n` in decimal, right-aligned in `width` columns (`{:width$}` for an integer).
    pub(crate) fn right_aligned(&mut self, n: u64, width: usize) {
        let start = self.buf.len();
        self.decimal(n);
        let pad = width.saturating_sub(self.buf.len() - start);
        if pad > 0 {
            self.buf
                .splice(start..start, std::iter::repeat_n(b' ', pad));
        }
    }

    /// `n` in decimal with leading zeros to `width` digits (`{:0width$}`), for `n` < 10^width.
    pub(crate) fn zero_padded(&mut self, n: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut rest = n;
        for digit in digits[..width].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.bytes(&digits[..width]);
    }

    /// Two digits, for `n` < 100.
    pub(crate) fn two_digits(&mut self, n: u64) {
        let pair = n as usize * 2;
        self.bytes(&DIGIT_PAIRS[pair..pair + 2]);
    }

    /// `n` in lowercase hex without a prefix (`{:x}`).
    pub(crate) fn hex(&mut self, n: u64) {
        let mut digits = [0u8; 16];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b"0123456789abcdef"[(rest & 0xf) as usize];
            rest >>= 4;
            if rest == 0 {
                break;
            }
        }
        self.short(&digits[at..]);
    }

    /// An address as `Display` writes it.
    pub(crate) fn ip(&mut self, addr: &IpAddr) {
        match addr {
            IpAddr::V4(v4) => self.ipv4(v4),
            IpAddr::V6(v6) => self.ipv6(v6),
        }
    }

    fn ipv4(&mut self, addr: &Ipv4Addr) {
        for (i, &octet) in addr.octets().iter().enumerate() {
            if i > 0 {
                self.byte(b'.');
            }
            self.decimal(u64::from(octet));
        }
    }

    /// RFC 5952 as the standard library writes it: the first longest run of two or more zero
    /// groups becomes `::`, IPv4-mapped addresses end in dotted quads.
    fn ipv6(&mut self, addr: &Ipv6Addr) {
        if let Some(v4) = addr.to_ipv4_mapped() {
            self.bytes(b"::ffff:");
            return self.ipv4(&v4);
        }
        let groups = addr.segments();
        let (mut best_start, mut best_len, mut run_start, mut run_len) = (0, 0, 0, 0);
        for (i, &group) in groups.iter().enumerate() {
            if group == 0 {
                if run_len == 0 {
                    run_start = i;
                }
                run_len += 1;
                if run_len > best_len {
                    (best_start, best_len) = (run_start, run_len);
                }
            } else {
                run_len = 0;
            }
        }
        let colon_separated = |line: &mut Self, part: &[u16]| {
            for (i, &group) in part.iter().enumerate() {
                if i > 0 {
                    line.byte(b':');
                }
                line.hex(u64::from(group));
            }
        };
        if best_len > 1 {
            colon_separated(self, &groups[..best_start]);
            self.bytes(b"::");
            colon_separated(self, &groups[best_start + best_len..]);
        } else {
            colon_separated(self, &groups);
        }
    }

    /// Untrusted bytes as [`escape_bytes`] renders them; returns the columns (characters) written.
    pub(crate) fn escaped(&mut self, raw: &[u8]) -> usize {
        if raw
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && b != b'\\')
        {
            self.bytes(raw);
            return raw.len();
        }
        let escaped = escape_bytes(raw);
        self.bytes(escaped.as_bytes());
        escaped.chars().count()
    }

    /// `ns` in milliseconds with three decimals, as `{:.3}` writes `ns as f64 / 1e6`.
    pub(crate) fn millis_3(&mut self, ns: u64) {
        let (us, rest) = (ns / 1000, ns % 1000);
        // Below 10^15 ns the float is within 1.2e-7 ms of ns / 1e6, and a value that is not a
        // tie (rest 500) is at least 1e-6 ms from one: both round alike. Ties go through `fmt`.
        if rest == 500 || ns >= 1_000_000_000_000_000 {
            use std::io::Write as _;
            let _ = write!(self.buf, "{:.3}", ns as f64 / 1e6);
            return;
        }
        let us = us + u64::from(rest > 500);
        self.decimal(us / 1000);
        self.byte(b'.');
        self.zero_padded(us % 1000, 3);
    }

    /// A JSON number as serde_json writes an `f64` (`null` when not finite).
    pub(crate) fn json_f64(&mut self, value: f64) {
        if value.is_finite() {
            self.bytes(ryu::Buffer::new().format_finite(value).as_bytes());
        } else {
            self.bytes(b"null");
        }
    }

    /// A JSON string as serde_json writes one.
    pub(crate) fn json_str(&mut self, text: &[u8]) {
        self.byte(b'"');
        let mut clean = 0;
        for (i, &b) in text.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..0x20 => b"",
                _ => continue,
            };
            self.bytes(&text[clean..i]);
            clean = i + 1;
            if escape.is_empty() {
                self.bytes(b"\\u00");
                self.bytes(&[b"0123456789abcdef"[usize::from(b >> 4)]]);
                self.bytes(&[b"0123456789abcdef"[usize::from(b & 0xf)]]);
            } else {
                self.bytes(escape);
            }
        }
        self.bytes(&text[clean..]);
        self.byte(b'"');
    }

    /// A JSON string of untrusted bytes, escaped first as [`escape_bytes`] does.
    pub(crate) fn json_escaped(&mut self, raw: &[u8]) {
        if raw
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && b != b'\\' && b != b'"')
        {
            self.byte(b'"');
            self.bytes(raw);
            self.byte(b'"');
        } else {
            self.json_str(escape_bytes(raw).as_bytes());
        }
    }

    /// A JSON number, or `null`.
    pub(crate) fn json_opt(&mut self, value: Option<u64>) {
        match value {
            Some(n) => self.decimal(n),
            None => self.bytes(b"null"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn line(write: impl FnOnce(&mut Line)) -> String {
        let mut line = Line::default();
        write(&mut line);
        String::from_utf8(line.buf).unwrap()
    }

    /// A small deterministic generator, so that failures reproduce.
    pub(crate) struct Lcg(pub(crate) u64);

    impl Lcg {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 ^ (self.0 >> 29)
        }
    }

    #[test]
    fn integers_match_fmt() {
        let mut rng = Lcg(1);
        let mut values = vec![0, 1, 9, 10, 99, 100, 999, 1000, u64::MAX, u64::MAX - 1];
        values.extend((0..64).map(|shift| 1u64 << shift));
        values.extend((0..64).map(|shift| (1u64 << shift) - 1));
        values.extend((0..10_000).map(|_| rng.next() >> (rng.next() % 64)));
        for n in values {
            assert_eq!(line(|l| l.decimal(n)), n.to_string());
            assert_eq!(line(|l| l.hex(n)), format!("{n:x}"));
            assert_eq!(
                line(|l| l.zero_padded(n % 1000, 3)),
                format!("{:03}", n % 1000)
            );
            assert_eq!(line(|l| l.two_digits(n % 100)), format!("{:02}", n % 100));
        }
    }

    #[test]
    fn addresses_match_display() {
        let mut rng = Lcg(2);
        let mut addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "::",
            "::1",
            "1::",
            "::ffff:10.1.2.3",
            "::ffff:0.0.0.0",
            "::10.1.2.3",
            "64:ff9b::1.2.3.4",
            "fe80::1:2",
            "1:0:0:1:0:0:0:1",
            "1:0:0:1:0:0:1:1",
            "1:0:1:0:1:0:1:0",
            "0:0:1::",
            "2001:db8::ff00:42:8329",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for _ in 0..20_000 {
            // Groups that are often zero, so that runs of every length and place come up.
            let groups: [u16; 8] = std::array::from_fn(|_| {
                if rng.next().is_multiple_of(3) {
                    rng.next() as u16
                } else {
                    0
                }
            });
            addrs.push(IpAddr::V6(Ipv6Addr::from(groups)));
            addrs.push(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)));
            let mapped = Ipv4Addr::from(rng.next() as u32).to_ipv6_mapped();
            addrs.push(IpAddr::V6(mapped));
        }
        for addr in addrs {
            assert_eq!(line(|l| l.ip(&addr)), addr.to_string(), "{addr:?}");
        }
    }

    #[test]
    fn milliseconds_match_fmt_ties_and_huge_values_included() {
        let mut rng = Lcg(3);
        let mut values = vec![
            0,
            1,
            499,
            500,
            501,
            1500,
            2500,
            999_999,
            1_000_000,
            999_999_500,
        ];
        values.extend([999_999_999_999_999, 1_000_000_000_000_000, u64::MAX]);
        values.extend((0..20_000).map(|_| rng.next() >> (rng.next() % 64)));
        values.extend((0..2_000).map(|_| (rng.next() >> 20) / 1000 * 1000 + 500));
        for ns in values {
            assert_eq!(
                line(|l| l.millis_3(ns)),
                format!("{:.3}", ns as f64 / 1e6),
                "{ns}"
            );
        }
    }

    #[test]
    fn json_matches_serde_json() {
        let mut rng = Lcg(4);
        for ns in (0..5_000).map(|_| rng.next() >> (rng.next() % 64)) {
            let value = ns as f64 / 1e6;
            assert_eq!(
                line(|l| l.json_f64(value)),
                serde_json::to_string(&value).unwrap()
            );
        }
        assert_eq!(line(|l| l.json_f64(f64::NAN)), "null");
        let mut texts: Vec<Vec<u8>> = vec![b"".to_vec(), b"plain".to_vec(), b"\"\\/".to_vec()];
        texts.push((0u8..=0x7f).collect());
        for _ in 0..2_000 {
            texts.push((0..rng.next() % 20).map(|_| rng.next() as u8).collect());
        }
        for raw in texts {
            let text = escape_bytes(&raw);
            assert_eq!(
                line(|l| l.json_str(text.as_bytes())),
                serde_json::to_string(&text).unwrap()
            );
            assert_eq!(
                line(|l| l.json_escaped(&raw)),
                serde_json::to_string(&text).unwrap(),
                "{raw:?}"
            );
            let mut columns = 0;
            assert_eq!(line(|l| columns = l.escaped(&raw)), text);
            assert_eq!(columns, text.chars().count());
        }
    }
}
