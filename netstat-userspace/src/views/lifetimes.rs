//! `watch --lifetimes`: one line per closed connection, like tcplife.

use std::io::{self, Write};

use super::{
    clock::{Clock, DateCache},
    line::Line,
    stream_columns::{
        end_json_with_netns, leading_header, write_leading_columns, write_socket_json,
    },
};
use crate::aggregator::lifetimes::Lifetime;

/// The table's header: `width` is the address columns' width.
pub(super) fn write_header(out: &mut dyn Write, width: usize) -> io::Result<()> {
    writeln!(
        out,
        "{} {:<10} {:<10} {:<7} {:<8} MS",
        leading_header(width),
        "TX_BYTES",
        "RX_BYTES",
        "RETRANS",
        "SRTT_MS"
    )
}

pub(super) fn write_row(line: &mut Line, clock: &Clock, life: &Lifetime, width: usize) {
    write_leading_columns(line, clock, &life.close, life.owner, width);
    for count in [life.bytes.map(|b| b.sent), life.bytes.map(|b| b.received)] {
        line.byte(b' ');
        let start = line.buf.len();
        match count {
            Some(n) => line.decimal(n),
            None => line.byte(b'-'),
        }
        line.pad_from(start, 10);
    }
    line.byte(b' ');
    let start = line.buf.len();
    match life.retransmits {
        Some(n) => line.decimal(u64::from(n)),
        None => line.byte(b'-'),
    }
    line.pad_from(start, 7);
    line.byte(b' ');
    let start = line.buf.len();
    match life.srtt_us {
        Some(us) => line.millis_3(u64::from(us) * 1000),
        None => line.byte(b'-'),
    }
    line.pad_from(start, 8);
    line.byte(b' ');
    // `>`: at least this long; the connection was open before it was first seen.
    if life.partial {
        line.byte(b'>');
    }
    line.millis_3(life.duration_ns);
    line.byte(b'\n');
}

/// One object: the socket's fields, then payload bytes sent and acknowledged by the peer and
/// received (`null` when unknown: no BTF), milliseconds from the first transition seen to the
/// close, whether the opening was not seen (`ms` is then a lower bound), the state the socket
/// entered CLOSE from (FIN_WAIT2, LAST_ACK, CLOSING: an orderly close), and the segments it
/// retransmitted and its smoothed RTT at the close.
pub(super) fn write_json(line: &mut Line, clock: &Clock, dates: &mut DateCache, life: &Lifetime) {
    let t = &life.close;
    write_socket_json(line, clock, dates, "lifetime", t, life.owner);
    line.bytes(b",\"tx_bytes\":");
    line.json_opt(life.bytes.map(|b| b.sent));
    line.bytes(b",\"rx_bytes\":");
    line.json_opt(life.bytes.map(|b| b.received));
    line.bytes(b",\"ms\":");
    line.json_f64(life.duration_ns as f64 / 1e6);
    line.bytes(if life.partial {
        b",\"partial\":true"
    } else {
        b",\"partial\":false"
    });
    line.bytes(b",\"closed_from\":\"");
    line.bytes(t.old.name().as_bytes());
    line.bytes(b"\",\"retransmits\":");
    line.json_opt(life.retransmits.map(u64::from));
    line.bytes(b",\"srtt_us\":");
    line.json_opt(life.srtt_us.map(u64::from));
    end_json_with_netns(line, t);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        aggregator::{
            lifetimes::Payload,
            transitions::tests::{t, task},
        },
        model::TcpState,
        views::transitions::{StreamFormat, WatchRows, watch_printer},
    };

    fn life(bytes: Option<Payload>, partial: bool) -> Lifetime {
        let mut close = t(
            1,
            0xffff_8881_2345_6780,
            TcpState::LastAck,
            TcpState::Close,
            task(0, "irq"),
        );
        close.local_port = 8080;
        close.remote_port = 51000;
        close.netns = 4026531840;
        Lifetime {
            close,
            owner: Some(task(4242, "nginx")),
            duration_ns: 1_250_000,
            partial,
            bytes,
            retransmits: bytes.map(|_| 2),
            srtt_us: bytes.map(|_| 52),
        }
    }

    const BYTES: Option<Payload> = Some(Payload {
        sent: 3000,
        received: 10_000,
    });

    fn render(format: StreamFormat, l: &Lifetime) -> String {
        let mut printer = watch_printer(format, WatchRows::Lifetimes, Clock::fixed(0, 0), false);
        let mut out = Vec::new();
        printer.header(&mut out).unwrap();
        printer.lifetime(&mut out, l).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_rows_line_up_with_the_header() {
        let table = render(StreamFormat::Table { wide: false }, &life(BYTES, false));
        let lines: Vec<_> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "TIME            PID     COMM             LADDR           LPORT RADDR           RPORT TX_BYTES   RX_BYTES   RETRANS SRTT_MS  MS",
                "00:00:00.001000 4242    nginx            127.0.0.1       8080  127.0.0.1       51000 3000       10000      2       0.052    1.250",
            ]
        );
    }

    #[test]
    fn partial_durations_are_lower_bounds_and_unknown_bytes_are_dashes() {
        let table = render(StreamFormat::Table { wide: false }, &life(None, true));
        let row: Vec<_> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row[7..], ["-", "-", "-", "-", ">1.250"]);
    }

    #[test]
    fn json_has_the_documented_fields() {
        let line = render(StreamFormat::JsonLines, &life(BYTES, false));
        assert_eq!(
            line,
            "{\"event\":\"lifetime\",\"ts\":\"1970-01-01T00:00:00.001000000Z\",\"skaddr\":\"0xffff888123456780\",\"cookie\":null,\"pid\":4242,\
             \"comm\":\"nginx\",\"family\":\"inet\",\"laddr\":\"127.0.0.1\",\"lport\":8080,\
             \"raddr\":\"127.0.0.1\",\"rport\":51000,\"tx_bytes\":3000,\"rx_bytes\":10000,\"ms\":1.25,\
             \"partial\":false,\"closed_from\":\"LAST_ACK\",\"retransmits\":2,\"srtt_us\":52,\"netns\":4026531840}\n"
        );
        let v: serde_json::Value =
            serde_json::from_str(&render(StreamFormat::JsonLines, &life(None, true))).unwrap();
        assert_eq!(v["tx_bytes"], serde_json::Value::Null);
        assert_eq!(v["rx_bytes"], serde_json::Value::Null);
        assert_eq!(v["partial"], true);
    }
}
