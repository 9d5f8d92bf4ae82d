//! ss's filter language for snapshots (iproute2 misc/ssfilter.y): `state`/`exclude` words first,
//! then an expression over ports and addresses. Pure: port names come from a resolver the caller passes.

use std::net::{IpAddr, SocketAddr};

/// A compiled filter: the states kept, and an optional expression every kept row must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Bit `n` set keeps sockets whose kernel state number is `n` (ss's state mask).
    pub(crate) states: u32,
    pub(crate) expr: Option<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Local,
    Remote,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ge,
    Le,
}

/// An address pattern as ss's hostcond: a prefix (none = any address) and a port (none = any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPattern {
    pub(crate) prefix: Option<(IpAddr, u8)>,
    pub(crate) port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `sport`/`dport` compared with a port.
    Port(Side, Cmp, u16),
    /// `src`/`dst` matched against a pattern.
    Host(Side, HostPattern),
}

/// What a row offers the filter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    /// The kernel's state number (UDP: ESTABLISHED when connected, else CLOSE).
    pub(crate) state: u8,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
}

const fn bit(state_number: u32) -> u32 {
    1 << state_number
}
const SYN_SENT: u32 = bit(2);
const SYN_RECV: u32 = bit(3);
const TIME_WAIT: u32 = bit(6);
const CLOSE: u32 = bit(7);
const LISTEN: u32 = bit(10);
/// ss's SS_ALL: every state up to and including NEW_SYN_RECV.
const ALL: u32 = (1 << 13) - 2;

/// A state word as ss's scan_state reads it (case-insensitive names and groups).
fn state_mask(word: &str) -> Option<u32> {
    let names: [(&str, u32); 14] = [
        ("established", 1),
        ("syn-sent", 2),
        ("syn-recv", 3),
        ("syn-rcv", 3),
        ("fin-wait-1", 4),
        ("fin-wait-2", 5),
        ("time-wait", 6),
        ("closed", 7),
        ("close", 7),
        ("unconnected", 7),
        ("close-wait", 8),
        ("last-ack", 9),
        ("listening", 10),
        ("closing", 11),
    ];
    let lower = word.to_ascii_lowercase();
    if let Some((_, n)) = names.iter().find(|(name, _)| *name == lower) {
        return Some(bit(*n));
    }
    let connected = ALL & !(LISTEN | CLOSE);
    match lower.as_str() {
        "all" => Some(ALL),
        "connected" => Some(connected),
        "synchronized" => Some(connected & !SYN_SENT),
        "bucket" => Some(SYN_RECV | TIME_WAIT),
        "big" => Some(ALL & !(SYN_RECV | TIME_WAIT)),
        _ => None,
    }
}

impl Filter {
    /// Whether a row passes: its state is kept and the expression (if any) holds.
    pub(crate) fn accepts(&self, row: &Candidate) -> bool {
        self.states & 1u32.checked_shl(u32::from(row.state)).unwrap_or(0) != 0
            && self.expr.as_ref().is_none_or(|e| e.matches(row))
    }
}

impl Expr {
    pub(crate) fn matches(&self, row: &Candidate) -> bool {
        match self {
            Expr::And(a, b) => a.matches(row) && b.matches(row),
            Expr::Or(a, b) => a.matches(row) || b.matches(row),
            Expr::Not(a) => !a.matches(row),
            Expr::Port(side, cmp, port) => {
                let actual = side_addr(row, *side).port();
                match cmp {
                    Cmp::Eq => actual == *port,
                    Cmp::Ge => actual >= *port,
                    Cmp::Le => actual <= *port,
                }
            }
            Expr::Host(side, pattern) => pattern.matches(side_addr(row, *side)),
        }
    }
}

fn side_addr(row: &Candidate, side: Side) -> SocketAddr {
    match side {
        Side::Local => row.local,
        Side::Remote => row.remote,
    }
}

impl HostPattern {
    fn matches(&self, addr: SocketAddr) -> bool {
        if self.port.is_some_and(|p| p != addr.port()) {
            return false;
        }
        let Some((prefix, len)) = self.prefix else {
            return true;
        };
        // ss matches an IPv4 pattern against an IPv4-mapped IPv6 address too.
        let ip = match (prefix, addr.ip()) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (_, ip) => ip,
        };
        prefix_match(prefix, len, ip)
    }
}

fn prefix_match(prefix: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (prefix, ip) {
        (IpAddr::V4(p), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(p) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(p), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(p) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Splits the joined words into tokens: parentheses stand alone, and a leading `!` (not `!=`) is its own token.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word));
        }
    };
    for c in text.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(c.to_string());
            }
            '!' if word.is_empty() => tokens.push("!".to_string()),
            '=' if tokens.last().is_some_and(|t| t == "!") && word.is_empty() => {
                tokens.pop();
                word.push_str("!=");
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

struct Parser<'a> {
    tokens: Vec<String>,
    at: usize,
    resolve_port: &'a dyn Fn(&str) -> Option<u16>,
}

fn bad(token: Option<&str>, expected: &str) -> String {
    match token {
        Some(t) => format!("bad filter at '{t}': expected {expected}"),
        None => format!("bad filter at end: expected {expected}"),
    }
}

/// Parses ss's filter words. `resolve_port` maps a service name to its port (as ss's getservbyname).
pub(crate) fn parse(
    text: &str,
    resolve_port: &dyn Fn(&str) -> Option<u16>,
) -> Result<Filter, String> {
    let mut p = Parser {
        tokens: tokenize(text),
        at: 0,
        resolve_port,
    };
    let (mut kept, mut excluded, mut named) = (0u32, 0u32, false);
    while let Some(word) = p.peek() {
        let exclude = match word {
            "state" => false,
            "exclude" | "except" => true,
            _ => break,
        };
        p.at += 1;
        let name = p.next();
        let mask = name
            .as_deref()
            .and_then(state_mask)
            .ok_or_else(|| bad(name.as_deref(), "a state name or group"))?;
        if exclude {
            excluded |= mask;
        } else {
            kept |= mask;
            named = true;
        }
    }
    let states = if named { kept } else { ALL } & !excluded;
    let expr = if p.peek().is_some() {
        Some(p.expr()?)
    } else {
        None
    };
    if let Some(rest) = p.peek() {
        return Err(bad(Some(rest), "'and', 'or' or the end"));
    }
    Ok(Filter { states, expr })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }
    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    /// or-expression: and-expressions joined by `or`/`||`.
    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and_expr()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    /// and-expression: unary terms joined by `and`/`&&` or simply juxtaposed.
    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some("and" | "&&") => self.at += 1,
                None | Some("or" | "||" | ")") => return Ok(left),
                Some(_) => {}
            }
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let token = self.next();
        match token.as_deref() {
            Some("not" | "!") => Ok(Expr::Not(Box::new(self.unary()?))),
            Some("(") => {
                let inner = self.expr()?;
                match self.next().as_deref() {
                    Some(")") => Ok(inner),
                    other => Err(bad(other, "')'")),
                }
            }
            Some(kw @ ("sport" | "dport")) => {
                let side = if kw == "sport" {
                    Side::Local
                } else {
                    Side::Remote
                };
                self.port_cond(side)
            }
            Some(kw @ ("src" | "dst")) => {
                let side = if kw == "src" {
                    Side::Local
                } else {
                    Side::Remote
                };
                // ss takes `src ADDR` and `src = ADDR` (`==`, `eq`); it has no `!=` for addresses.
                if matches!(self.peek(), Some("=" | "==" | "eq")) {
                    self.at += 1;
                }
                let word = self.next();
                Ok(Expr::Host(side, self.host(word.as_deref())?))
            }
            other => Err(bad(other, "sport, dport, src, dst, not or '('")),
        }
    }

    fn port_cond(&mut self, side: Side) -> Result<Expr, String> {
        let op = self.next();
        let word = self.next();
        let port = self.port(word.as_deref())?;
        let cond = |cmp| Expr::Port(side, cmp, port);
        let not = |e| Expr::Not(Box::new(e));
        Ok(match op.as_deref() {
            Some("=" | "==" | "eq") => cond(Cmp::Eq),
            Some("!=" | "ne" | "neq") => not(cond(Cmp::Eq)),
            Some(">=" | "ge" | "geq") => cond(Cmp::Ge),
            Some("<=" | "le" | "leq") => cond(Cmp::Le),
            Some(">" | "gt") => not(cond(Cmp::Le)),
            Some("<" | "lt") => not(cond(Cmp::Ge)),
            other => {
                return Err(bad(
                    other,
                    "a comparison (=, !=, <, >, <=, >=, eq, ne, lt, gt, le, ge)",
                ));
            }
        })
    }

    /// A port: `:PORT` or `PORT`, a number or a service name.
    fn port(&self, word: Option<&str>) -> Result<u16, String> {
        let Some(w) = word else {
            return Err(bad(None, "a port"));
        };
        let name = w.strip_prefix(':').unwrap_or(w);
        self.port_name(name)
            .ok_or_else(|| bad(Some(w), "a port number or a known service name"))
    }

    fn port_name(&self, name: &str) -> Option<u16> {
        if name.is_empty() {
            return None;
        }
        if name.bytes().all(|b| b.is_ascii_digit()) {
            return name.parse().ok();
        }
        (self.resolve_port)(name)
    }

    /// A host condition: `*`, `ADDR`, `ADDR/LEN`, `:PORT`, `ADDR:PORT`, `[V6]`, `[V6]:PORT`, `*:PORT`.
    fn host(&self, word: Option<&str>) -> Result<HostPattern, String> {
        let Some(w) = word else {
            return Err(bad(None, "an address"));
        };
        let err = || bad(Some(w), "an address, ADDR/LEN, :PORT or ADDR:PORT");
        let (addr, port) = if let Some(rest) = w.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(err)?;
            match after {
                "" => (inside, None),
                _ => (inside, Some(after.strip_prefix(':').ok_or_else(err)?)),
            }
        } else if !w.contains(':') {
            // Unbracketed, ss takes everything after the last ':' as the port (so `::1` is refused).
            (w, None)
        } else {
            match w.rsplit_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => return Err(err()),
            }
        };
        let prefix = match addr {
            "" | "*" => None,
            a => Some(parse_prefix(a).ok_or_else(err)?),
        };
        let port = match port {
            None | Some("*") => None,
            Some(p) => Some(self.port_name(p).ok_or_else(err)?),
        };
        Ok(HostPattern { prefix, port })
    }
}

fn parse_prefix(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;

    fn services(name: &str) -> Option<u16> {
        match name {
            "ssh" => Some(22),
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        }
    }

    fn f(text: &str) -> Filter {
        parse(text, &services).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn row(state: TcpState, local: &str, remote: &str) -> Candidate {
        Candidate {
            state: state.index() as u8 + 1,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    fn est(local: &str, remote: &str) -> Candidate {
        row(TcpState::Established, local, remote)
    }

    #[test]
    fn empty_keeps_everything() {
        let filter = f("");
        assert!(filter.accepts(&row(TcpState::Listen, "0.0.0.0:22", "0.0.0.0:0")));
        assert!(filter.accepts(&row(TcpState::TimeWait, "[::1]:22", "[::1]:5")));
    }

    #[test]
    fn states_and_groups() {
        let listen = row(TcpState::Listen, "0.0.0.0:22", "0.0.0.0:0");
        let tw = row(TcpState::TimeWait, "127.0.0.1:1", "127.0.0.1:2");
        let syn = row(TcpState::SynSent, "127.0.0.1:1", "127.0.0.1:2");
        let e = est("127.0.0.1:1", "127.0.0.1:2");
        assert!(f("state listening").accepts(&listen));
        assert!(!f("state listening").accepts(&e));
        assert!(f("state connected").accepts(&e) && f("state connected").accepts(&syn));
        assert!(!f("state connected").accepts(&listen));
        assert!(!f("state synchronized").accepts(&syn) && f("state synchronized").accepts(&tw));
        assert!(f("state bucket").accepts(&tw) && !f("state bucket").accepts(&e));
        assert!(!f("state big").accepts(&tw) && f("state big").accepts(&listen));
        assert!(!f("exclude time-wait").accepts(&tw) && f("exclude time-wait").accepts(&e));
        assert!(f("state established state time-wait").accepts(&tw));
        assert!(!f("state all exclude listening").accepts(&listen));
        assert!(f("state ESTABLISHED").accepts(&e));
        assert!(f("state closed").accepts(&row(TcpState::Close, "0.0.0.0:53", "0.0.0.0:0")));
    }

    #[test]
    fn ports_and_operators() {
        let e = est("127.0.0.1:2222", "127.0.0.1:443");
        for yes in [
            "dport = :443",
            "dport == 443",
            "dport eq :https",
            "sport != :ssh",
            "sport > :2221",
            "sport gt 2221",
            "sport >= 2222",
            "sport < 2223",
            "sport le 2222",
            "dport ne 80",
            "dport neq :http",
            "( dport = :443 or sport = :ssh )",
            "state established ( dport = :443 )",
            "sport = :2222 dport = :443",
            "sport = :2222 && dport = :443",
            "not dport = :80",
            "! dport = :80",
            "!(dport = :80)",
            "not not dport = :443",
            "dport = :80 || sport = :2222",
        ] {
            assert!(f(yes).accepts(&e), "{yes}");
        }
        for no in [
            "sport > :2222",
            "sport lt 2222",
            "dport = :80",
            "sport = :2222 and dport = :80",
            "not ( dport = :443 )",
        ] {
            assert!(!f(no).accepts(&e), "{no}");
        }
    }

    #[test]
    fn hosts() {
        let e = est("127.0.0.1:2222", "10.1.2.3:443");
        let v6 = est("[::1]:8080", "[::1]:40000");
        let mapped = est("[::ffff:127.0.0.1]:8080", "[::ffff:10.0.0.1]:1");
        assert!(f("src 127.0.0.0/8").accepts(&e));
        assert!(f("dst 10.0.0.0/8").accepts(&e));
        assert!(!f("dst 10.0.0.0/16").accepts(&e));
        assert!(f("src = 127.0.0.1:2222").accepts(&e));
        assert!(!f("src 127.0.0.1:2223").accepts(&e));
        assert!(f("src :2222").accepts(&e));
        assert!(f("src *:2222").accepts(&e));
        assert!(f("src 127.0.0.1:*").accepts(&e));
        assert!(f("src *").accepts(&e) && f("src *").accepts(&v6));
        assert!(f("not dst 127.0.0.1").accepts(&e));
        assert!(f("src [::1]:8080").accepts(&v6));
        assert!(f("src [::1]").accepts(&v6));
        assert!(!f("src 127.0.0.1").accepts(&v6));
        assert!(f("src 127.0.0.1").accepts(&mapped));
        assert!(f("src 0.0.0.0/0").accepts(&e));
    }

    #[test]
    fn errors_name_the_token() {
        for (text, token) in [
            ("foo", "'foo'"),
            ("dport = :nosuchservice", "':nosuchservice'"),
            ("dport ~ 1", "'~'"),
            ("state bogus", "'bogus'"),
            ("( sport = 1", "at end"),
            ("sport = 1 )", "')'"),
            ("src 300.1.1.1", "'300.1.1.1'"),
            ("src ::1", "'::1'"),
            ("dst != 127.0.0.1", "'!='"),
            ("src 10.0.0.0/33", "'10.0.0.0/33'"),
            ("sport = 70000", "'70000'"),
            ("dport =", "at end"),
            ("sport = 1 or", "at end"),
        ] {
            let err = parse(text, &services).unwrap_err();
            assert!(
                err.starts_with("bad filter ") && err.contains(token),
                "{text}: {err}"
            );
        }
    }
}
