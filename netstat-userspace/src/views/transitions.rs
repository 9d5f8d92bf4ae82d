//! The transition stream: a `tcpstates`-like table, or JSON lines.

use std::io::{self, Write};

use super::{
    clock::{Clock, DateCache},
    color::StateCell,
    lifetimes,
    line::Line,
    stream_columns::{
        StreamSocket, end_json_with_netns, leading_header, write_leading_columns, write_socket_json,
    },
};
use crate::{
    aggregator::{lifetimes::Lifetime, transitions::Observed},
    events::{
        Task,
        health::{HealthDetail, HealthEvent},
    },
    model::{
        TcpState,
        health::{EventKind, HealthReasons},
        losses::LossCause,
        sockets::InetProtocol,
    },
};

/// How the stream is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamFormat {
    Table { wide: bool },
    JsonLines,
}

/// How the transition stream names a cause of loss (stderr and the JSON `cause`).
pub(crate) fn describe_loss(cause: LossCause) -> &'static str {
    match cause {
        LossCause::RingFull => "ring buffer full",
        LossCause::Recursion => "probe skipped by the kernel (recursion)",
        LossCause::RateLimited => "held back by the rate limit",
        LossCause::Untracked => "beyond the probe's capacity",
    }
}

/// Address column width: room for full IPv6 addresses with `-W`.
pub(super) fn address_width(format: StreamFormat) -> usize {
    match format {
        StreamFormat::Table { wide: true } => 39,
        _ => 15,
    }
}

/// What `watch` prints, chosen once per run by [`watch_printer`]. Owns no I/O: callers pass the
/// writer, which gets one `write_all` per line.
pub(crate) trait WatchPrinter {
    /// `--netns`: the table begins each row with a NETNS column, the namespace's inode (JSON
    /// objects carry `"netns"` always).
    fn show_namespaces(&mut self) {}
    /// `--events`: the table begins each row with an EVENT column (after NETNS); `reasons`
    /// names the health events' reasons in both formats.
    fn show_events(&mut self, reasons: HealthReasons);
    /// The column header, for formats that have one.
    fn header(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn transition(&mut self, out: &mut dyn Write, observed: &Observed) -> io::Result<()>;
    /// A retransmit, reset or drop, with its socket's owner where the tracker knows it.
    fn health(
        &mut self,
        out: &mut dyn Write,
        event: &HealthEvent,
        owner: Option<Task>,
    ) -> io::Result<()>;
    /// `--lifetimes`: a closed connection.
    fn lifetime(&mut self, out: &mut dyn Write, life: &Lifetime) -> io::Result<()>;
    /// Records that never arrived. JSON streams carry them as objects of their own; the table
    /// leaves them to the caller's stderr line so the columns stay parseable.
    fn lost(
        &mut self,
        out: &mut dyn Write,
        now_ns: u64,
        lost: u64,
        cause: LossCause,
    ) -> io::Result<()>;
}

/// Which rows a watch stream shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchRows {
    Transitions,
    Lifetimes,
}

/// The printer for `format`; `color` colours the table's states (JSON is never coloured).
pub(crate) fn watch_printer(
    format: StreamFormat,
    rows: WatchRows,
    clock: Clock,
    color: bool,
) -> Box<dyn WatchPrinter> {
    match format {
        StreamFormat::Table { .. } => Box::new(WatchTable {
            width: address_width(format),
            netns_column: false,
            event_column: false,
            reasons: HealthReasons::default(),
            rows,
            clock,
            cells: StateCells::new(color),
            line: Line::default(),
        }),
        StreamFormat::JsonLines => Box::new(WatchJsonLines {
            reasons: HealthReasons::default(),
            clock,
            dates: DateCache::default(),
            line: Line::default(),
        }),
    }
}

/// Every state's table cell, written once: the name padded to 11 columns, coloured or not.
struct StateCells([Vec<u8>; TcpState::INDEXED]);

impl StateCells {
    fn new(color: bool) -> Self {
        StateCells(std::array::from_fn(|i| {
            let state = TcpState::ALL
                .get(i)
                .copied()
                .unwrap_or(TcpState::Unknown(0));
            StateCell {
                name: state.name(),
                width: 11,
                color,
            }
            .to_string()
            .into_bytes()
        }))
    }

    fn of(&self, state: TcpState) -> &[u8] {
        &self.0[state.index()]
    }
}

/// Writes the line and empties it for the next.
fn emit(line: &mut Line, out: &mut dyn Write) -> io::Result<()> {
    let written = out.write_all(&line.buf);
    line.buf.clear();
    written
}

/// A tcpstates-like table.
struct WatchTable {
    /// The address columns' width.
    width: usize,
    /// A leading NETNS column (`--netns`).
    netns_column: bool,
    /// An EVENT column (`--events`), after NETNS.
    event_column: bool,
    reasons: HealthReasons,
    rows: WatchRows,
    clock: Clock,
    cells: StateCells,
    line: Line,
}

impl WatchTable {
    /// The NETNS cell, when shown: the inode (10 digits, as every namespace inode has), or `-`
    /// when the probe could not read it.
    fn netns_cell(&mut self, t: &impl StreamSocket) {
        if !self.netns_column {
            return;
        }
        let start = self.line.buf.len();
        match t.netns() {
            0 => self.line.byte(b'-'),
            netns => self.line.decimal(u64::from(netns)),
        }
        self.line.pad_from(start, NETNS_WIDTH);
        self.line.byte(b' ');
    }

    /// The cells before the time: NETNS and EVENT, each when shown.
    fn lead_cells(&mut self, t: &impl StreamSocket, kind: EventKind) {
        self.netns_cell(t);
        if self.event_column {
            let start = self.line.buf.len();
            self.line.bytes(kind.name().as_bytes());
            self.line.pad_from(start, EVENT_WIDTH);
            self.line.byte(b' ');
        }
    }
}

/// The NETNS column's width: namespace inodes are at least 0xF0000000, 10 digits.
const NETNS_WIDTH: usize = 10;
/// The EVENT column's width: `retransmit`.
const EVENT_WIDTH: usize = 10;

/// A health event's details as the table shows them after the socket's state, e.g.
/// `segments=2 tlp`, `sent reason=NOT_SPECIFIED`, `reason=SOCKET_RCVBUFF udp`.
fn write_health_detail(line: &mut Line, event: &HealthEvent, reasons: &HealthReasons) {
    match event.detail {
        HealthDetail::Retransmit {
            segments,
            tail_loss_probe,
            synack,
            error,
        } => {
            line.bytes(b"segments=");
            line.decimal(u64::from(segments));
            if tail_loss_probe {
                line.bytes(b" tlp");
            }
            if synack {
                line.bytes(b" synack");
            }
            if error != 0 {
                line.bytes(format!(" error={error}").as_bytes());
            }
        }
        HealthDetail::Reset {
            sent,
            no_socket,
            reason,
        } => {
            line.bytes(if sent { b"sent" } else { b"received" });
            if no_socket {
                line.bytes(b" no-socket");
            }
            if sent {
                line.bytes(b" reason=");
                line.bytes(reasons.resets.name(reason).as_bytes());
            }
        }
        HealthDetail::Drop { reason } => {
            line.bytes(b"reason=");
            line.bytes(reasons.drops.name(reason).as_bytes());
            if let Some(protocol) = protocol_name(event.protocol).filter(|&p| p != "tcp") {
                line.byte(b' ');
                line.bytes(protocol.as_bytes());
            }
        }
    }
}

/// A socket's `IPPROTO_*` by name: [`InetProtocol::name`], and the raw sockets of ICMP;
/// None for 0 (no socket) and the unnamed.
fn protocol_name(protocol: u8) -> Option<&'static str> {
    match protocol {
        1 => Some("icmp"),
        58 => Some("icmpv6"),
        _ => InetProtocol::from_ipproto(protocol).map(InetProtocol::name),
    }
}

impl WatchPrinter for WatchTable {
    fn show_namespaces(&mut self) {
        self.netns_column = true;
    }

    fn show_events(&mut self, reasons: HealthReasons) {
        self.event_column = true;
        self.reasons = reasons;
    }

    fn header(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.netns_column {
            write!(out, "{:<NETNS_WIDTH$} ", "NETNS")?;
        }
        if self.event_column {
            write!(out, "{:<EVENT_WIDTH$} ", "EVENT")?;
        }
        match self.rows {
            WatchRows::Transitions => writeln!(
                out,
                "{} {:<11} -> {:<11} MS",
                leading_header(self.width),
                "OLDSTATE",
                "NEWSTATE"
            ),
            WatchRows::Lifetimes => lifetimes::write_header(out, self.width),
        }
    }

    fn transition(&mut self, out: &mut dyn Write, observed: &Observed) -> io::Result<()> {
        let t = &observed.transition;
        self.lead_cells(t, EventKind::State);
        let line = &mut self.line;
        write_leading_columns(line, &self.clock, t, observed.owner, self.width);
        line.byte(b' ');
        line.bytes(self.cells.of(t.old));
        line.bytes(b" -> ");
        line.bytes(self.cells.of(t.new));
        line.byte(b' ');
        match observed.in_old_state_ns {
            Some(ns) => line.millis_3(ns),
            None => line.byte(b'-'),
        }
        line.byte(b'\n');
        emit(line, out)
    }

    fn health(
        &mut self,
        out: &mut dyn Write,
        event: &HealthEvent,
        owner: Option<Task>,
    ) -> io::Result<()> {
        self.lead_cells(event, event.kind());
        let line = &mut self.line;
        write_leading_columns(line, &self.clock, event, owner, self.width);
        line.byte(b' ');
        match event.state {
            Some(state) => line.bytes(self.cells.of(state)),
            None => {
                line.byte(b'-');
                line.spaces(10);
            }
        }
        line.byte(b' ');
        write_health_detail(line, event, &self.reasons);
        line.byte(b'\n');
        emit(line, out)
    }

    fn lifetime(&mut self, out: &mut dyn Write, life: &Lifetime) -> io::Result<()> {
        self.netns_cell(&life.close);
        lifetimes::write_row(&mut self.line, &self.clock, life, self.width);
        emit(&mut self.line, out)
    }

    fn lost(&mut self, _: &mut dyn Write, _: u64, _: u64, _: LossCause) -> io::Result<()> {
        Ok(())
    }
}

/// JSON lines, one object per transition, health event, lifetime or loss.
struct WatchJsonLines {
    reasons: HealthReasons,
    clock: Clock,
    dates: DateCache,
    line: Line,
}

impl WatchPrinter for WatchJsonLines {
    fn show_events(&mut self, reasons: HealthReasons) {
        self.reasons = reasons;
    }

    fn header(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn health(
        &mut self,
        out: &mut dyn Write,
        event: &HealthEvent,
        owner: Option<Task>,
    ) -> io::Result<()> {
        let line = &mut self.line;
        let kind = event.kind();
        write_socket_json(
            line,
            &self.clock,
            &mut self.dates,
            kind.name(),
            event,
            owner,
        );
        line.bytes(b",\"state\":");
        match event.state {
            Some(state) => line.json_str(state.name().as_bytes()),
            None => line.bytes(b"null"),
        }
        line.bytes(b",\"protocol\":");
        match protocol_name(event.protocol) {
            Some(name) => line.json_str(name.as_bytes()),
            None if event.protocol == 0 => line.bytes(b"null"),
            None => line.decimal(u64::from(event.protocol)),
        }
        let reason = |line: &mut Line, names: &crate::model::interfaces::ReasonNames, code: u32| {
            line.bytes(b",\"reason\":");
            line.json_str(names.name(code).as_bytes());
            line.bytes(b",\"reason_code\":");
            line.decimal(u64::from(code));
        };
        match event.detail {
            HealthDetail::Retransmit {
                segments,
                tail_loss_probe,
                synack,
                error,
            } => {
                line.bytes(b",\"segments\":");
                line.decimal(u64::from(segments));
                line.bytes(if tail_loss_probe {
                    b",\"tlp\":true"
                } else {
                    b",\"tlp\":false"
                });
                line.bytes(if synack {
                    b",\"synack\":true"
                } else {
                    b",\"synack\":false"
                });
                line.bytes(format!(",\"error\":{error}").as_bytes());
            }
            HealthDetail::Reset {
                sent,
                no_socket,
                reason: code,
            } => {
                line.bytes(if sent {
                    b",\"direction\":\"sent\""
                } else {
                    b",\"direction\":\"received\""
                });
                line.bytes(if no_socket {
                    b",\"no_socket\":true"
                } else {
                    b",\"no_socket\":false"
                });
                if sent {
                    reason(line, &self.reasons.resets, code);
                } else {
                    line.bytes(b",\"reason\":null,\"reason_code\":null");
                }
            }
            HealthDetail::Drop { reason: code } => reason(line, &self.reasons.drops, code),
        }
        end_json_with_netns(line, event);
        emit(line, out)
    }

    fn transition(&mut self, out: &mut dyn Write, observed: &Observed) -> io::Result<()> {
        let t = &observed.transition;
        let line = &mut self.line;
        write_socket_json(
            line,
            &self.clock,
            &mut self.dates,
            "state",
            t,
            observed.owner,
        );
        line.bytes(b",\"oldstate\":\"");
        line.bytes(t.old.name().as_bytes());
        line.bytes(b"\",\"newstate\":\"");
        line.bytes(t.new.name().as_bytes());
        line.bytes(b"\",\"ms\":");
        match observed.in_old_state_ns {
            Some(ns) => line.json_f64(ns as f64 / 1e6),
            None => line.bytes(b"null"),
        }
        end_json_with_netns(line, t);
        emit(line, out)
    }

    fn lifetime(&mut self, out: &mut dyn Write, life: &Lifetime) -> io::Result<()> {
        lifetimes::write_json(&mut self.line, &self.clock, &mut self.dates, life);
        emit(&mut self.line, out)
    }

    fn lost(
        &mut self,
        out: &mut dyn Write,
        now_ns: u64,
        lost: u64,
        cause: LossCause,
    ) -> io::Result<()> {
        let line = &mut self.line;
        line.bytes(b"{\"event\":\"lost\",\"ts\":\"");
        self.clock.write_rfc3339(&mut self.dates, now_ns, line);
        line.bytes(b"\",\"lost\":");
        line.decimal(lost);
        line.bytes(b",\"cause\":");
        line.json_str(describe_loss(cause).as_bytes());
        line.bytes(b"}\n");
        emit(line, out)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn the_netns_column_leads_each_row_when_asked() {
        let format = StreamFormat::Table { wide: false };
        let mut printer = watch_printer(format, WatchRows::Transitions, Clock::fixed(0, 0), false);
        printer.show_namespaces();
        let mut out = Vec::new();
        printer.header(&mut out).unwrap();
        let mut known = observed(Some(b"server"), Some(3));
        known.transition.netns = 4026532281;
        let unknown = observed(Some(b"server"), Some(3));
        for observed in [known, unknown] {
            printer.transition(&mut out, &observed).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NETNS      TIME "), "{text}");
        assert!(lines[1].starts_with("4026532281 "), "{text}");
        assert!(lines[2].starts_with("-          "), "{text}");
        // Everything after the column is the row without it.
        let mut plain = watch_printer(format, WatchRows::Transitions, Clock::fixed(0, 0), false);
        let mut without = Vec::new();
        plain.header(&mut without).unwrap();
        assert_eq!(
            &lines[0][11..],
            String::from_utf8(without).unwrap().trim_end()
        );
    }

    use crate::{
        events::{Comm, Task, TcpTransition},
        model::{TcpState, sockets::Family},
    };

    fn observed(owner: Option<&[u8]>, ms: Option<u64>) -> Observed {
        let task = |name: &[u8]| {
            let mut comm = [0u8; 16];
            comm[..name.len()].copy_from_slice(name);
            Task {
                tgid: 4242,
                comm: Comm::new(comm),
            }
        };
        Observed {
            transition: TcpTransition {
                ts_ns: 1_500_000,
                skaddr: 0xffff_8881_2345_6780,
                family: Family::Inet6,
                local: "::1".parse::<IpAddr>().unwrap(),
                local_port: 8080,
                remote: "::1".parse::<IpAddr>().unwrap(),
                remote_port: 51000,
                old: TcpState::SynRecv,
                new: TcpState::Established,
                task: task(b"irrelevant"),
                netns: 0,
                counters: None,
                cookie: None,
            },
            owner: owner.map(task),
            in_old_state_ns: ms.map(|ms| ms * 1_000_000 + 250_000),
            first_seen: crate::aggregator::transitions::Sighting {
                ts_ns: 0,
                old: TcpState::Listen,
                new: TcpState::SynRecv,
            },
        }
    }

    fn printer(format: StreamFormat, color: bool) -> Box<dyn WatchPrinter> {
        watch_printer(format, WatchRows::Transitions, Clock::fixed(0, 0), color)
    }

    fn render(format: StreamFormat, o: &Observed) -> String {
        let mut out = Vec::new();
        printer(format, false).transition(&mut out, o).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_rows_line_up_with_the_header() {
        let mut header = Vec::new();
        printer(StreamFormat::Table { wide: false }, false)
            .header(&mut header)
            .unwrap();
        let header = String::from_utf8(header).unwrap();
        let row = render(
            StreamFormat::Table { wide: false },
            &observed(Some(b"nginx"), Some(3)),
        );
        assert_eq!(
            row,
            "00:00:00.001500 4242    nginx            ::1             8080  ::1             51000 SYN_RECV    -> ESTABLISHED 3.250\n"
        );
        assert_eq!(header.find("PID"), row.find("4242"));
        assert_eq!(header.find("OLDSTATE"), row.find("SYN_RECV"));
        assert_eq!(header.find("MS"), row.find("3.250"));
    }

    #[test]
    fn coloured_states_keep_the_columns() {
        let mut out = Vec::new();
        printer(StreamFormat::Table { wide: false }, true)
            .transition(&mut out, &observed(Some(b"nginx"), Some(3)))
            .unwrap();
        let row = String::from_utf8(out).unwrap();
        assert!(
            row.contains("\x1b[35mSYN_RECV\x1b[0m    -> \x1b[32mESTABLISHED\x1b[0m 3.250"),
            "{row:?}"
        );
        assert_eq!(
            crate::views::color::strip_sgr(&row),
            render(
                StreamFormat::Table { wide: false },
                &observed(Some(b"nginx"), Some(3))
            )
        );
        let mut out = Vec::new();
        printer(StreamFormat::JsonLines, true)
            .transition(&mut out, &observed(None, None))
            .unwrap();
        assert!(!out.contains(&0x1b), "JSON is never coloured");
    }

    #[test]
    fn unknown_owner_and_time_print_dashes() {
        let row = render(StreamFormat::Table { wide: false }, &observed(None, None));
        let fields: Vec<_> = row.split_whitespace().collect();
        assert_eq!(fields[1], "-");
        assert_eq!(fields[2], "-");
        assert_eq!(*fields.last().unwrap(), "-");
    }

    #[test]
    fn hostile_comm_is_escaped_in_the_table_and_json_stays_valid() {
        let o = observed(Some(b"\x1b[2J\nevil"), None);
        let row = render(StreamFormat::Table { wide: false }, &o);
        assert!(row.contains("\\x1b[2J\\x0aevil"), "{row}");
        assert_eq!(row.matches('\n').count(), 1);
        assert!(!row.contains('\x1b'));

        let line = render(StreamFormat::JsonLines, &o);
        assert_eq!(line.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["comm"], "\\x1b[2J\\x0aevil");
    }

    #[test]
    fn json_has_the_documented_fields_and_nulls_for_unknowns() {
        let v: serde_json::Value =
            serde_json::from_str(&render(StreamFormat::JsonLines, &observed(None, None))).unwrap();
        assert_eq!(v["ts"], "1970-01-01T00:00:00.001500000Z");
        assert_eq!(v["skaddr"], "0xffff888123456780");
        assert_eq!(v["pid"], serde_json::Value::Null);
        assert_eq!(v["comm"], serde_json::Value::Null);
        assert_eq!(v["family"], "inet6");
        assert_eq!(v["laddr"], "::1");
        assert_eq!(v["lport"], 8080);
        assert_eq!(v["raddr"], "::1");
        assert_eq!(v["rport"], 51000);
        assert_eq!(v["oldstate"], "SYN_RECV");
        assert_eq!(v["newstate"], "ESTABLISHED");
        assert_eq!(v["ms"], serde_json::Value::Null);

        let v: serde_json::Value = serde_json::from_str(&render(
            StreamFormat::JsonLines,
            &observed(Some(b"x"), Some(2)),
        ))
        .unwrap();
        assert_eq!(v["pid"], 4242);
        assert_eq!(v["ms"], 2.25);
    }

    #[test]
    fn json_fields_come_in_the_documented_order() {
        let line = render(StreamFormat::JsonLines, &observed(Some(b"x"), Some(2)));
        assert_eq!(
            line,
            "{\"event\":\"state\",\"ts\":\"1970-01-01T00:00:00.001500000Z\",\"skaddr\":\"0xffff888123456780\",\"cookie\":null,\"pid\":4242,\
             \"comm\":\"x\",\"family\":\"inet6\",\"laddr\":\"::1\",\"lport\":8080,\"raddr\":\"::1\",\
             \"rport\":51000,\"oldstate\":\"SYN_RECV\",\"newstate\":\"ESTABLISHED\",\"ms\":2.25,\
             \"netns\":null}\n"
        );
    }

    fn health(detail: HealthDetail, state: Option<TcpState>, protocol: u8) -> HealthEvent {
        let o = observed(None, None);
        let t = o.transition;
        HealthEvent {
            ts_ns: t.ts_ns,
            cookie: Some(99),
            skaddr: t.skaddr,
            family: t.family,
            local: t.local,
            local_port: t.local_port,
            remote: t.remote,
            remote_port: t.remote_port,
            task: t.task,
            netns: 4026532281,
            state,
            protocol,
            detail,
        }
    }

    fn reasons() -> HealthReasons {
        use crate::model::interfaces::ReasonNames;
        HealthReasons {
            drops: ReasonNames::new([(6, "SOCKET_RCVBUFF".to_string())].into()),
            resets: ReasonNames::new([(2, "NO_SOCKET".to_string())].into()),
        }
    }

    fn render_health(format: StreamFormat, event: &HealthEvent, owner: Option<Task>) -> String {
        let mut printer = printer(format, false);
        printer.show_events(reasons());
        let mut out = Vec::new();
        printer.header(&mut out).unwrap();
        printer.health(&mut out, event, owner).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn health_rows_share_the_table_under_an_event_column() {
        let retransmit = health(
            HealthDetail::Retransmit {
                segments: 2,
                tail_loss_probe: true,
                synack: false,
                error: -113,
            },
            Some(TcpState::Established),
            6,
        );
        let owner = observed(Some(b"nginx"), None).owner;
        let table = render_health(StreamFormat::Table { wide: false }, &retransmit, owner);
        let lines: Vec<_> = table.lines().collect();
        assert!(lines[0].starts_with("EVENT      TIME "), "{table}");
        assert_eq!(
            lines[1],
            "retransmit 00:00:00.001500 4242    nginx            ::1             8080  ::1             51000 ESTABLISHED segments=2 tlp error=-113"
        );
        assert_eq!(lines[0].find("OLDSTATE"), lines[1].find("ESTABLISHED"));
        let reset = health(
            HealthDetail::Reset {
                sent: true,
                no_socket: true,
                reason: 2,
            },
            None,
            0,
        );
        let row = render_health(StreamFormat::Table { wide: false }, &reset, None);
        assert!(
            row.lines()
                .nth(1)
                .unwrap()
                .ends_with(" -           sent no-socket reason=NO_SOCKET"),
            "{row}"
        );
        let drop = health(HealthDetail::Drop { reason: 7 }, None, 17);
        let row = render_health(StreamFormat::Table { wide: false }, &drop, None);
        assert!(
            row.ends_with(" reason=reason 7 udp\n"),
            "an unnamed reason: {row}"
        );
    }

    #[test]
    fn health_json_carries_each_kinds_fields() {
        let json = |event: &HealthEvent| -> serde_json::Value {
            serde_json::from_str(render_health(StreamFormat::JsonLines, event, None).trim())
                .unwrap()
        };
        let v = json(&health(
            HealthDetail::Retransmit {
                segments: 3,
                tail_loss_probe: false,
                synack: true,
                error: 0,
            },
            Some(TcpState::SynRecv),
            6,
        ));
        assert_eq!(v["event"], "retransmit");
        assert_eq!(v["cookie"], 99);
        assert_eq!(v["state"], "SYN_RECV");
        assert_eq!(v["protocol"], "tcp");
        assert_eq!(
            (v["segments"].clone(), v["tlp"].clone()),
            (3.into(), false.into())
        );
        assert_eq!(
            (v["synack"].clone(), v["error"].clone()),
            (true.into(), 0.into())
        );
        assert_eq!(v["netns"], 4026532281u64);
        let v = json(&health(
            HealthDetail::Reset {
                sent: false,
                no_socket: false,
                reason: 0,
            },
            Some(TcpState::Established),
            6,
        ));
        assert_eq!(v["direction"], "received");
        assert_eq!(v["reason"], serde_json::Value::Null);
        let v = json(&health(HealthDetail::Drop { reason: 6 }, None, 17));
        assert_eq!(v["event"], "drop");
        assert_eq!(v["reason"], "SOCKET_RCVBUFF");
        assert_eq!(v["reason_code"], 6);
        assert_eq!(v["state"], serde_json::Value::Null);
        assert_eq!(v["protocol"], "udp");
    }

    #[test]
    fn lost_records_are_their_own_json_object_without_a_newstate() {
        let mut out = Vec::new();
        printer(StreamFormat::JsonLines, false)
            .lost(&mut out, 0, 17, LossCause::RingFull)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["lost"], 17);
        assert!(v.get("newstate").is_none());

        let mut out = Vec::new();
        printer(StreamFormat::Table { wide: false }, false)
            .lost(&mut out, 0, 17, LossCause::RingFull)
            .unwrap();
        assert!(out.is_empty(), "the table reports losses on stderr");
    }
}

/// The formatting this module had before its writer (`format!`, serde, `to_string`), kept as the
/// oracle that the writer's bytes are checked against.
#[cfg(test)]
mod before_the_writer {
    use serde::Serialize;

    use super::*;
    use crate::{
        events::{Task, TcpTransition},
        views::escape::escape_bytes,
    };

    #[derive(Serialize)]
    struct SocketJson {
        event: &'static str,
        ts: String,
        skaddr: String,
        cookie: Option<u64>,
        pid: Option<u32>,
        comm: Option<String>,
        family: &'static str,
        laddr: String,
        lport: u16,
        raddr: String,
        rport: u16,
    }

    impl SocketJson {
        fn new(event: &'static str, clock: &Clock, t: &TcpTransition, owner: Option<Task>) -> Self {
            SocketJson {
                event,
                ts: old_rfc3339(clock, t.ts_ns),
                skaddr: format!("{:#x}", t.skaddr),
                cookie: t.cookie,
                pid: owner.map(|o| o.tgid),
                comm: owner.map(|o| escape_bytes(o.comm.as_bytes())),
                family: t.family.name(),
                laddr: t.local.to_string(),
                lport: t.local_port,
                raddr: t.remote.to_string(),
                rport: t.remote_port,
            }
        }
    }

    /// chrono's whole RFC 3339, as `Clock::rfc3339` was.
    fn old_rfc3339(clock: &Clock, monotonic_ns: u64) -> String {
        let ns = i128::from(monotonic_ns) + clock.realtime_minus_monotonic_ns_for_tests();
        chrono::DateTime::<chrono::Utc>::from_timestamp(
            ns.div_euclid(1_000_000_000) as i64,
            ns.rem_euclid(1_000_000_000) as u32,
        )
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    }

    #[derive(Serialize)]
    struct TransitionJson {
        #[serde(flatten)]
        socket: SocketJson,
        oldstate: &'static str,
        newstate: &'static str,
        ms: Option<f64>,
        netns: Option<u32>,
    }

    #[derive(Serialize)]
    struct LifetimeJson {
        #[serde(flatten)]
        socket: SocketJson,
        tx_bytes: Option<u64>,
        rx_bytes: Option<u64>,
        ms: f64,
        partial: bool,
        closed_from: &'static str,
        retransmits: Option<u32>,
        srtt_us: Option<u32>,
        netns: Option<u32>,
    }

    #[derive(Serialize)]
    struct LostJson {
        event: &'static str,
        ts: String,
        lost: u64,
        cause: &'static str,
    }

    fn json_line(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap() + "\n"
    }

    fn leading_columns(clock: &Clock, t: &TcpTransition, owner: Option<Task>, w: usize) -> String {
        let pid = owner.map_or_else(|| "-".to_string(), |o| o.tgid.to_string());
        let comm = owner.map_or_else(|| "-".to_string(), |o| escape_bytes(o.comm.as_bytes()));
        format!(
            "{:<15} {:<7} {:<16} {:<w$} {:<5} {:<w$} {:<5}",
            clock.time_of_day(t.ts_ns),
            pid,
            comm,
            t.local.to_string(),
            t.local_port,
            t.remote.to_string(),
            t.remote_port,
        )
    }

    pub(super) fn transition(
        format: StreamFormat,
        color: bool,
        clock: &Clock,
        o: &Observed,
    ) -> String {
        let t = &o.transition;
        match format {
            StreamFormat::Table { .. } => {
                let ms = o
                    .in_old_state_ns
                    .map_or_else(|| "-".to_string(), |ns| format!("{:.3}", ns as f64 / 1e6));
                let state = |state: TcpState| StateCell {
                    name: state.name(),
                    width: 11,
                    color,
                };
                format!(
                    "{} {} -> {} {}\n",
                    leading_columns(clock, t, o.owner, address_width(format)),
                    state(t.old),
                    state(t.new),
                    ms
                )
            }
            StreamFormat::JsonLines => json_line(&TransitionJson {
                socket: SocketJson::new("state", clock, t, o.owner),
                oldstate: t.old.name(),
                newstate: t.new.name(),
                ms: o.in_old_state_ns.map(|ns| ns as f64 / 1e6),
                netns: (t.netns != 0).then_some(t.netns),
            }),
        }
    }

    pub(super) fn lifetime(format: StreamFormat, clock: &Clock, life: &Lifetime) -> String {
        let t = &life.close;
        let ms = life.duration_ns as f64 / 1e6;
        match format {
            StreamFormat::Table { .. } => {
                let count = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
                let at_least = if life.partial { ">" } else { "" };
                let srtt = life.srtt_us.map_or_else(
                    || "-".to_string(),
                    |us| format!("{:.3}", f64::from(us) / 1e3),
                );
                format!(
                    "{} {:<10} {:<10} {:<7} {:<8} {at_least}{:.3}\n",
                    leading_columns(clock, t, life.owner, address_width(format)),
                    count(life.bytes.map(|b| b.sent)),
                    count(life.bytes.map(|b| b.received)),
                    count(life.retransmits.map(u64::from)),
                    srtt,
                    ms,
                )
            }
            StreamFormat::JsonLines => json_line(&LifetimeJson {
                socket: SocketJson::new("lifetime", clock, t, life.owner),
                tx_bytes: life.bytes.map(|b| b.sent),
                rx_bytes: life.bytes.map(|b| b.received),
                ms,
                partial: life.partial,
                closed_from: t.old.name(),
                retransmits: life.retransmits,
                srtt_us: life.srtt_us,
                netns: (t.netns != 0).then_some(t.netns),
            }),
        }
    }

    pub(super) fn lost(clock: &Clock, now_ns: u64, lost: u64, cause: LossCause) -> String {
        json_line(&LostJson {
            event: "lost",
            ts: old_rfc3339(clock, now_ns),
            lost,
            cause: describe_loss(cause),
        })
    }
}

#[cfg(test)]
mod same_bytes_as_before {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::{
        aggregator::{
            lifetimes::Payload,
            transitions::{Sighting, TransitionTracker},
        },
        events::{Comm, Task, TcpTransition},
        model::sockets::Family,
        views::line::tests::Lcg,
    };

    const COMMS: &[&[u8]] = &[
        b"nginx",
        b"",
        b"0123456789abcdef",
        b"a\\b",
        b"say \"hi\"",
        b"\x1b[2J\nevil",
        b"tab\there\x7f",
        b"kworker/\xc3\xbc",
        b"\xc2\x9b2J",
        b"\xff\xfe\x80bad",
        b"caf\xe9",
        b"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82",
    ];

    fn address(rng: &mut Lcg, family: Family) -> IpAddr {
        match (family, rng.next() % 4) {
            (Family::Inet, 0) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (Family::Inet, _) => IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
            (Family::Inet6, 0) => IpAddr::V6(Ipv4Addr::from(rng.next() as u32).to_ipv6_mapped()),
            (Family::Inet6, 1) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            (Family::Inet6, _) => {
                IpAddr::V6(Ipv6Addr::from(std::array::from_fn::<u16, 8, _>(|_| {
                    if rng.next().is_multiple_of(2) {
                        rng.next() as u16
                    } else {
                        0
                    }
                })))
            }
        }
    }

    fn state(rng: &mut Lcg) -> TcpState {
        TcpState::from_raw((rng.next() % 16) as u8)
    }

    fn transition(rng: &mut Lcg) -> TcpTransition {
        let family = if rng.next().is_multiple_of(2) {
            Family::Inet
        } else {
            Family::Inet6
        };
        let mut comm = [0u8; 16];
        let name = COMMS[(rng.next() % COMMS.len() as u64) as usize];
        comm[..name.len()].copy_from_slice(name);
        TcpTransition {
            ts_ns: rng.next() >> (rng.next() % 40),
            skaddr: rng.next() >> (rng.next() % 64),
            family,
            local: address(rng, family),
            local_port: rng.next() as u16 >> (rng.next() % 16),
            remote: address(rng, family),
            remote_port: rng.next() as u16,
            old: state(rng),
            new: state(rng),
            task: Task {
                tgid: (rng.next() as u32) >> (rng.next() % 32),
                comm: Comm::new(comm),
            },
            netns: if rng.next().is_multiple_of(3) {
                0
            } else {
                rng.next() as u32
            },
            counters: None,
            cookie: rng.next().is_multiple_of(2).then(|| rng.next()),
        }
    }

    fn small(rng: &mut Lcg) -> Option<u64> {
        (!rng.next().is_multiple_of(3)).then(|| rng.next() >> (rng.next() % 64))
    }

    const FORMATS: [StreamFormat; 3] = [
        StreamFormat::Table { wide: false },
        StreamFormat::Table { wide: true },
        StreamFormat::JsonLines,
    ];

    fn clocks() -> [Clock; 3] {
        [
            Clock::fixed(0, 0),
            Clock::fixed(1_795_344_063_000_000_000, 3600),
            Clock::fixed(1_795_344_063_123_456_789, -5 * 3600 - 1800),
        ]
    }

    #[test]
    fn transitions_are_written_as_before() {
        let mut rng = Lcg(11);
        for clock in clocks() {
            for format in FORMATS {
                for color in [false, true] {
                    let mut printer = watch_printer(format, WatchRows::Transitions, clock, color);
                    let mut out = Vec::new();
                    let mut expected = String::new();
                    for _ in 0..3_000 {
                        let transition = transition(&mut rng);
                        let observed = Observed {
                            transition,
                            owner: (!rng.next().is_multiple_of(4)).then_some(transition.task),
                            in_old_state_ns: small(&mut rng),
                            first_seen: Sighting {
                                ts_ns: 0,
                                old: TcpState::Close,
                                new: TcpState::SynSent,
                            },
                        };
                        printer.transition(&mut out, &observed).unwrap();
                        expected +=
                            &before_the_writer::transition(format, color, &clock, &observed);
                    }
                    assert_eq!(
                        String::from_utf8_lossy(&out),
                        expected,
                        "{format:?} {color}"
                    );
                }
            }
        }
    }

    #[test]
    fn lifetimes_and_losses_are_written_as_before() {
        let mut rng = Lcg(12);
        for clock in clocks() {
            for format in FORMATS {
                let mut printer = watch_printer(format, WatchRows::Lifetimes, clock, false);
                let mut out = Vec::new();
                let mut expected = String::new();
                for _ in 0..3_000 {
                    let close = transition(&mut rng);
                    let life = Lifetime {
                        close,
                        owner: (!rng.next().is_multiple_of(4)).then_some(close.task),
                        duration_ns: rng.next() >> (rng.next() % 64),
                        partial: rng.next().is_multiple_of(2),
                        bytes: (!rng.next().is_multiple_of(3)).then(|| Payload {
                            sent: rng.next() >> (rng.next() % 64),
                            received: rng.next() >> (rng.next() % 64),
                        }),
                        retransmits: (!rng.next().is_multiple_of(3))
                            .then(|| (rng.next() >> (rng.next() % 64)) as u32),
                        srtt_us: (!rng.next().is_multiple_of(3))
                            .then(|| (rng.next() >> (rng.next() % 64)) as u32),
                    };
                    printer.lifetime(&mut out, &life).unwrap();
                    expected += &before_the_writer::lifetime(format, &clock, &life);
                }
                assert_eq!(String::from_utf8_lossy(&out), expected, "{format:?}");
            }
            let mut printer = watch_printer(
                StreamFormat::JsonLines,
                WatchRows::Transitions,
                clock,
                false,
            );
            for cause in [
                LossCause::RingFull,
                LossCause::Recursion,
                LossCause::RateLimited,
                LossCause::Untracked,
            ] {
                let (now, lost) = (rng.next() >> 2, rng.next() >> (rng.next() % 64));
                let mut out = Vec::new();
                printer.lost(&mut out, now, lost, cause).unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    before_the_writer::lost(&clock, now, lost, cause)
                );
            }
        }
    }

    #[test]
    fn the_tracker_s_owners_and_times_come_out_as_before() {
        // Real sequences through the tracker, so that owners and times are as watch has them.
        let mut tracker = TransitionTracker::new();
        let mut rng = Lcg(13);
        let clock = clocks()[1];
        for format in FORMATS {
            let mut printer = watch_printer(format, WatchRows::Transitions, clock, true);
            let (mut out, mut expected) = (Vec::new(), String::new());
            for _ in 0..2_000 {
                let mut t = transition(&mut rng);
                t.skaddr %= 16;
                let observed = tracker.observe(t);
                printer.transition(&mut out, &observed).unwrap();
                expected += &before_the_writer::transition(format, true, &clock, &observed);
            }
            assert_eq!(String::from_utf8_lossy(&out), expected);
        }
    }
}
