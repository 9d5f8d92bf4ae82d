//! The kernel's SNMP counter files, parsed: /proc/net/snmp and /proc/net/netstat hold
//! "Title: names" / "Title: values" line pairs; /proc/net/snmp6 and /proc/net/sctp/snmp hold one
//! "name value" line per counter. Pure: text in, counters out, in file order.
//!
//! Values are read the way net-tools reads them (C's `strtoull`), so that odd values print as
//! netstat prints them: a sign is allowed and a negative number wraps modulo 2^64 (Tcp's MaxConn
//! is -1), a number too large saturates at 2^64-1, and parsing stops at the first character that
//! is not a digit.

use std::fmt;

use crate::model::statistics::{Counter, Section};

/// What a file held up to the first line that could not be read, and that line's problem.
/// netstat prints what came before a bad line, so a problem does not discard the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed<T> {
    pub(crate) items: Vec<T>,
    pub(crate) problem: Option<ParseError>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// A header or value line of a pair without the ':' after its title.
    MissingColon { line: usize },
    /// A "name value" line without a number after the name.
    MissingValue { line: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingColon { line } => {
                write!(f, "line {line}: no ':' after the section title")
            }
            ParseError::MissingValue { line } => {
                write!(f, "line {line}: no number after the counter name")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// What separates names in a header line (net-tools splits on these three only).
const NAME_SEPARATORS: [char; 3] = [' ', '\t', '\n'];

/// C's isspace() in the C locale: what strtoull and scanf skip.
const C_WHITESPACE: [char; 6] = [' ', '\t', '\n', '\x0b', '\x0c', '\r'];

/// Parses /proc/net/snmp or /proc/net/netstat. An empty line where a header is expected is
/// skipped; a header on the last line, without its value line, is dropped. The n-th value belongs
/// to the n-th name: missing values, and every value from the first that is not a number on, read
/// as 0; extra values are ignored. The title of the value line is not checked.
pub(crate) fn parse_line_pairs(text: &str) -> Parsed<Section> {
    let mut sections = Vec::new();
    let mut lines = text.split_inclusive('\n').zip(1..);
    while let Some((header, header_line)) = lines.next() {
        if header == "\n" {
            continue;
        }
        let Some((values, values_line)) = lines.next() else {
            break;
        };
        let (title, names) = match header.split_once(':') {
            Some(split) => split,
            None => return with_problem(sections, ParseError::MissingColon { line: header_line }),
        };
        let mut values = match values.split_once(':') {
            Some((_, values)) => values,
            None => return with_problem(sections, ParseError::MissingColon { line: values_line }),
        };
        let counters = names
            .split(NAME_SEPARATORS)
            .filter(|name| !name.is_empty())
            .map(|name| {
                // A value that is not a number reads as 0 and stays unread, as in netstat.
                let value = match parse_leading_u64(values) {
                    Some((value, rest)) => {
                        values = rest;
                        value
                    }
                    None => 0,
                };
                Counter {
                    name: name.to_string(),
                    value,
                }
            })
            .collect();
        sections.push(Section {
            title: title.to_string(),
            counters,
        });
    }
    Parsed {
        items: sections,
        problem: None,
    }
}

/// Parses /proc/net/snmp6 or /proc/net/sctp/snmp: "name value" per line, anything after the value
/// ignored, blank lines skipped.
pub(crate) fn parse_name_value_lines(text: &str) -> Parsed<Counter> {
    let mut counters = Vec::new();
    for (line, number) in text.split('\n').zip(1..) {
        let line = line.trim_start_matches(C_WHITESPACE);
        if line.is_empty() {
            continue;
        }
        let name_end = line.find(C_WHITESPACE).unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        let Some((value, _)) = parse_leading_u64(rest) else {
            return with_problem(counters, ParseError::MissingValue { line: number });
        };
        counters.push(Counter {
            name: name.to_string(),
            value,
        });
    }
    Parsed {
        items: counters,
        problem: None,
    }
}

fn with_problem<T>(items: Vec<T>, problem: ParseError) -> Parsed<T> {
    Parsed {
        items,
        problem: Some(problem),
    }
}

/// C's `strtoull(text, &end, 10)`: the number at the start of `text` (after whitespace) and the
/// text after it, or None where strtoull finds no digits.
fn parse_leading_u64(text: &str) -> Option<(u64, &str)> {
    let text = text.trim_start_matches(C_WHITESPACE);
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return None;
    }
    let (digits, rest) = unsigned.split_at(digits_len);
    let magnitude = digits.bytes().try_fold(0u64, |acc, digit| {
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    let value = match magnitude {
        None => u64::MAX,
        Some(magnitude) if negative => magnitude.wrapping_neg(),
        Some(magnitude) => magnitude,
    };
    Some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(name: &str, value: u64) -> Counter {
        Counter {
            name: name.to_string(),
            value,
        }
    }

    fn section(title: &str, counters: &[(&str, u64)]) -> Section {
        Section {
            title: title.to_string(),
            counters: counters
                .iter()
                .map(|(name, value)| counter(name, *value))
                .collect(),
        }
    }

    #[test]
    fn reads_well_formed_fixtures_as_the_other_layers_tests_build_them() {
        use crate::model::statistics::test_sections;
        let pairs = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 10\n\
                     Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 3\n";
        assert_eq!(
            parse_line_pairs(pairs).items,
            test_sections::line_pairs(pairs)
        );
        let lines = "Ip6InReceives 1\nIcmp6InMsgs 3\nSctpCurrEstab 1\n";
        assert_eq!(
            parse_name_value_lines(lines).items,
            test_sections::name_value_lines(lines)
        );
    }

    #[test]
    fn pairs_keep_file_order() {
        let text = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 5866\n\
                    Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 35\n";
        let parsed = parse_line_pairs(text);
        assert_eq!(parsed.problem, None);
        assert_eq!(
            parsed.items,
            vec![
                section(
                    "Ip",
                    &[("Forwarding", 2), ("DefaultTTL", 64), ("InReceives", 5866)]
                ),
                section(
                    "Tcp",
                    &[
                        ("RtoAlgorithm", 1),
                        ("MaxConn", u64::MAX),
                        ("ActiveOpens", 35)
                    ]
                ),
            ]
        );
    }

    #[test]
    fn pairs_split_names_on_spaces_and_tabs() {
        let parsed = parse_line_pairs("Udp:  In\tOut   Errs\nUdp:\t1  2\t3");
        assert_eq!(
            parsed.items,
            vec![section("Udp", &[("In", 1), ("Out", 2), ("Errs", 3)])]
        );
    }

    #[test]
    fn pairs_skip_blank_header_lines_and_drop_a_header_without_values() {
        let parsed = parse_line_pairs("\nA: x\nA: 1\n\nB: y\nB: 2\nC: z\n");
        assert_eq!(parsed.problem, None);
        assert_eq!(
            parsed.items,
            vec![section("A", &[("x", 1)]), section("B", &[("y", 2)])]
        );
    }

    #[test]
    fn pairs_with_missing_extra_and_unreadable_values() {
        let parsed = parse_line_pairs(
            "Few: a b c\nFew: 7\nMany: a\nMany: 1 2 3\nBad: a b c d\nBad: 1 x 3 4\n",
        );
        assert_eq!(
            parsed.items,
            vec![
                section("Few", &[("a", 7), ("b", 0), ("c", 0)]),
                section("Many", &[("a", 1)]),
                // From the first value that is not a number on, everything reads as 0.
                section("Bad", &[("a", 1), ("b", 0), ("c", 0), ("d", 0)]),
            ]
        );
    }

    #[test]
    fn pairs_without_names_or_counters() {
        let parsed = parse_line_pairs("Empty:\nEmpty:\n");
        assert_eq!(parsed.items, vec![section("Empty", &[])]);
    }

    #[test]
    fn pairs_stop_at_a_line_without_colon() {
        let parsed = parse_line_pairs("A: x\nA: 1\nB: y\nno colon\nC: z\nC: 3\n");
        assert_eq!(parsed.items, vec![section("A", &[("x", 1)])]);
        assert_eq!(parsed.problem, Some(ParseError::MissingColon { line: 4 }));

        let parsed = parse_line_pairs("no colon\nA: 1\n");
        assert_eq!(parsed.items, vec![]);
        assert_eq!(parsed.problem, Some(ParseError::MissingColon { line: 1 }));
        assert_eq!(
            parsed.problem.map(|problem| problem.to_string()),
            Some("line 1: no ':' after the section title".to_string())
        );
    }

    #[test]
    fn pairs_of_empty_text() {
        assert_eq!(
            parse_line_pairs(""),
            Parsed {
                items: vec![],
                problem: None
            }
        );
    }

    #[test]
    fn values_read_like_strtoull() {
        assert_eq!(parse_leading_u64("  42 7"), Some((42, " 7")));
        assert_eq!(parse_leading_u64("+5"), Some((5, "")));
        assert_eq!(parse_leading_u64("-1"), Some((u64::MAX, "")));
        assert_eq!(parse_leading_u64("-0"), Some((0, "")));
        assert_eq!(
            parse_leading_u64("18446744073709551615"),
            Some((u64::MAX, ""))
        );
        assert_eq!(
            parse_leading_u64("99999999999999999999999"),
            Some((u64::MAX, ""))
        );
        assert_eq!(parse_leading_u64("0x10"), Some((0, "x10")));
        assert_eq!(parse_leading_u64("x10"), None);
        assert_eq!(parse_leading_u64("-"), None);
        assert_eq!(parse_leading_u64(""), None);
    }

    #[test]
    fn name_value_lines_in_order() {
        let text =
            "Ip6InReceives                   \t1\nIcmp6InMsgs \t 0\nUdp6NoPorts 3 trailing\n";
        let parsed = parse_name_value_lines(text);
        assert_eq!(parsed.problem, None);
        assert_eq!(
            parsed.items,
            vec![
                counter("Ip6InReceives", 1),
                counter("Icmp6InMsgs", 0),
                counter("Udp6NoPorts", 3),
            ]
        );
    }

    #[test]
    fn name_value_lines_skip_blank_lines() {
        let parsed = parse_name_value_lines("\n  \nA 1\n\t\nB 2");
        assert_eq!(parsed.items, vec![counter("A", 1), counter("B", 2)]);
        assert_eq!(parsed.problem, None);
    }

    #[test]
    fn name_value_lines_stop_at_a_line_without_value() {
        let parsed = parse_name_value_lines("A 1\nB\nC 3\n");
        assert_eq!(parsed.items, vec![counter("A", 1)]);
        assert_eq!(parsed.problem, Some(ParseError::MissingValue { line: 2 }));

        let parsed = parse_name_value_lines("A one\n");
        assert_eq!(parsed.items, vec![]);
        assert_eq!(parsed.problem, Some(ParseError::MissingValue { line: 1 }));
    }
}
