//! The transition stream: a `tcpstates`-like table, or JSON lines.

use std::io::{self, Write};

use serde::Serialize;

use super::{clock::Clock, color::StateCell, escape::escape_bytes, lifetimes};
use crate::{
    aggregator::{lifetimes::Lifetime, transitions::Observed},
    events::{Task, TcpTransition},
    model::{TcpState, losses::LossCause},
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

/// The fields every stream object begins with: when, whose, and which socket.
#[derive(Serialize)]
pub(super) struct SocketJson {
    ts: String,
    skaddr: String,
    /// The kernel's socket cookie (`null` from the classic tracepoint): unlike `skaddr`, never
    /// reused, and the `cookie` of `ss -e`'s sockets.
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
    pub(super) fn new(clock: &Clock, t: &TcpTransition, owner: Option<Task>) -> Self {
        SocketJson {
            ts: clock.rfc3339(t.ts_ns),
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

/// The network namespace as JSON shows it: `null` when unknown.
pub(super) fn netns_json(t: &TcpTransition) -> Option<u32> {
    (t.netns != 0).then_some(t.netns)
}

/// Table columns every stream row begins with: time, owner, endpoints. `w` is the address width.
pub(super) fn leading_header(w: usize) -> String {
    format!(
        "{:<15} {:<7} {:<16} {:<w$} {:<5} {:<w$} {:<5}",
        "TIME", "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT"
    )
}

pub(super) fn leading_columns(
    clock: &Clock,
    t: &TcpTransition,
    owner: Option<Task>,
    w: usize,
) -> String {
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

/// Address column width: room for full IPv6 addresses with `-W`.
pub(super) fn address_width(format: StreamFormat) -> usize {
    match format {
        StreamFormat::Table { wide: true } => 39,
        _ => 15,
    }
}

#[derive(Serialize)]
struct TransitionJson {
    #[serde(flatten)]
    socket: SocketJson,
    oldstate: &'static str,
    newstate: &'static str,
    ms: Option<f64>,
    /// The socket's network namespace inode, as `ls -iL /proc/PID/ns/net` shows it.
    netns: Option<u32>,
}

#[derive(Serialize)]
struct LostJson {
    ts: String,
    lost: u64,
    cause: &'static str,
}

/// What `watch` prints, chosen once per run by [`watch_printer`]. Owns no I/O: callers pass the
/// writer.
pub(crate) trait WatchPrinter {
    /// The column header, for formats that have one.
    fn header(&self, out: &mut dyn Write) -> io::Result<()>;
    fn transition(&self, out: &mut dyn Write, observed: &Observed) -> io::Result<()>;
    /// `--lifetimes`: a closed connection.
    fn lifetime(&self, out: &mut dyn Write, life: &Lifetime) -> io::Result<()>;
    /// Records that never arrived. JSON streams carry them as objects of their own; the table
    /// leaves them to the caller's stderr line so the columns stay parseable.
    fn lost(&self, out: &mut dyn Write, now_ns: u64, lost: u64, cause: LossCause)
    -> io::Result<()>;
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
            rows,
            clock,
            color,
        }),
        StreamFormat::JsonLines => Box::new(WatchJsonLines { clock }),
    }
}

/// A tcpstates-like table.
struct WatchTable {
    /// The address columns' width.
    width: usize,
    rows: WatchRows,
    clock: Clock,
    color: bool,
}

impl WatchPrinter for WatchTable {
    fn header(&self, out: &mut dyn Write) -> io::Result<()> {
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

    fn transition(&self, out: &mut dyn Write, observed: &Observed) -> io::Result<()> {
        let t = &observed.transition;
        let ms = observed
            .in_old_state_ns
            .map_or_else(|| "-".to_string(), |ns| format!("{:.3}", ns as f64 / 1e6));
        let state = |state: TcpState| StateCell {
            name: state.name(),
            width: 11,
            color: self.color,
        };
        writeln!(
            out,
            "{} {} -> {} {}",
            leading_columns(&self.clock, t, observed.owner, self.width),
            state(t.old),
            state(t.new),
            ms
        )
    }

    fn lifetime(&self, out: &mut dyn Write, life: &Lifetime) -> io::Result<()> {
        lifetimes::write_row(out, &self.clock, life, self.width)
    }

    fn lost(&self, _: &mut dyn Write, _: u64, _: u64, _: LossCause) -> io::Result<()> {
        Ok(())
    }
}

/// JSON lines, one object per transition, lifetime or loss.
struct WatchJsonLines {
    clock: Clock,
}

impl WatchPrinter for WatchJsonLines {
    fn header(&self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn transition(&self, out: &mut dyn Write, observed: &Observed) -> io::Result<()> {
        let t = &observed.transition;
        let record = TransitionJson {
            socket: SocketJson::new(&self.clock, t, observed.owner),
            oldstate: t.old.name(),
            newstate: t.new.name(),
            ms: observed.in_old_state_ns.map(|ns| ns as f64 / 1e6),
            netns: netns_json(t),
        };
        super::json::write_line(out, &record)
    }

    fn lifetime(&self, out: &mut dyn Write, life: &Lifetime) -> io::Result<()> {
        lifetimes::write_json(out, &self.clock, life)
    }

    fn lost(
        &self,
        out: &mut dyn Write,
        now_ns: u64,
        lost: u64,
        cause: LossCause,
    ) -> io::Result<()> {
        let record = LostJson {
            ts: self.clock.rfc3339(now_ns),
            lost,
            cause: describe_loss(cause),
        };
        super::json::write_line(out, &record)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
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
            "{\"ts\":\"1970-01-01T00:00:00.001500000Z\",\"skaddr\":\"0xffff888123456780\",\"cookie\":null,\"pid\":4242,\
             \"comm\":\"x\",\"family\":\"inet6\",\"laddr\":\"::1\",\"lport\":8080,\"raddr\":\"::1\",\
             \"rport\":51000,\"oldstate\":\"SYN_RECV\",\"newstate\":\"ESTABLISHED\",\"ms\":2.25,\
             \"netns\":null}\n"
        );
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
