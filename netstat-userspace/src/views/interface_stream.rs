//! The live interface stream: a block of per-interface counters and rates each interval, error
//! and drop events as they happen, and interfaces appearing or vanishing. A table, or JSON lines
//! (every object has a `type`).

use std::io::{self, Write};

use serde::Serialize;

use super::{
    clock::Clock, escape::escape_bytes, json::write_line, netstat::interfaces::flag_names,
    transitions::StreamFormat,
};
use crate::{
    aggregator::interfaces::{InterfaceSample, LinkEvent, Rates, Unseen},
    events::interface::{InterfaceEvent, InterfaceEventKind, xmit_rc_name},
    model::{interfaces::ReasonNames, losses::LossCause, names::KernelFunctions},
};

/// How the interface stream names what was lost (stderr and the JSON `what`).
pub(crate) fn describe_loss(cause: LossCause) -> &'static str {
    match cause {
        LossCause::RingFull => "events lost: ring buffer full",
        LossCause::RateLimited => "events held back by the rate limit (still counted)",
        LossCause::Untracked => "packets of interfaces beyond the probes' capacity, not counted",
        LossCause::Recursion => "probe runs skipped by the kernel (recursion), not counted",
    }
}

/// What `watch --interfaces` prints, chosen once per run by [`interface_printer`].
pub(crate) trait InterfacePrinter {
    /// Drop reasons print as numbers until the probe's names for them are given here.
    fn set_drop_reasons(&mut self, reasons: ReasonNames);
    /// The column header, for formats that have one.
    fn header(&self, out: &mut dyn Write) -> io::Result<()>;
    fn samples(
        &self,
        out: &mut dyn Write,
        now_ns: u64,
        samples: &[InterfaceSample],
    ) -> io::Result<()>;
    fn event(&self, out: &mut dyn Write, event: &InterfaceEvent) -> io::Result<()>;
    fn link_event(&self, out: &mut dyn Write, now_ns: u64, event: &LinkEvent) -> io::Result<()>;
    /// Events that never arrived. The table leaves them to the caller's stderr line.
    fn lost(&self, out: &mut dyn Write, now_ns: u64, lost: u64, cause: LossCause)
    -> io::Result<()>;
}

/// The printer for `format`; `symbols` names the kernel functions where drops happen.
pub(crate) fn interface_printer(
    format: StreamFormat,
    clock: Clock,
    symbols: Box<dyn KernelFunctions>,
) -> Box<dyn InterfacePrinter> {
    let naming = EventNaming {
        reasons: ReasonNames::default(),
        symbols,
    };
    match format {
        StreamFormat::Table { .. } => Box::new(InterfaceTable { clock, naming }),
        StreamFormat::JsonLines => Box::new(InterfaceJsonLines { clock, naming }),
    }
}

/// How an error or drop event is described, in either format.
struct EventNaming {
    reasons: ReasonNames,
    /// Where drops happened, named by function.
    symbols: Box<dyn KernelFunctions>,
}

/// An event's words: its kind, reason, driver return code, location and function.
struct EventWords {
    kind: &'static str,
    reason: String,
    rc: Option<i32>,
    location: Option<String>,
    function: Option<String>,
}

impl EventNaming {
    fn words(&self, event: &InterfaceEvent) -> EventWords {
        match event.kind {
            InterfaceEventKind::XmitFailed { rc } => EventWords {
                kind: "xmit_failed",
                reason: xmit_rc_name(rc).to_string(),
                rc: Some(rc),
                location: None,
                function: None,
            },
            InterfaceEventKind::Drop { reason, location } => EventWords {
                kind: "drop",
                reason: self.reasons.name(reason),
                rc: None,
                location: Some(format!("{location:#x}")),
                function: self.symbols.describe(location),
            },
        }
    }
}

/// A link event's words: what happened, to which interface, its index, its former name.
fn link_words(event: &LinkEvent) -> (&'static str, String, u32, Option<String>) {
    match event {
        LinkEvent::Appeared(link) => ("appeared", name(&link.name), link.ifindex, None),
        LinkEvent::Vanished(link) => ("vanished", name(&link.name), link.ifindex, None),
        LinkEvent::Renamed { ifindex, from, to } => {
            ("renamed", name(to), *ifindex, Some(name(from)))
        }
    }
}

#[derive(Serialize)]
struct SampleJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    interfaces: Vec<InterfaceJson<'a>>,
}

#[derive(Serialize)]
struct InterfaceJson<'a> {
    iface: String,
    ifindex: u32,
    /// As `-i --json` names them (ifconfig's words).
    flags: Vec<&'static str>,
    mtu: u32,
    /// The kernel's counters: baseline plus what the probes counted.
    rx_packets: u64,
    rx_bytes: u64,
    tx_packets: u64,
    tx_bytes: u64,
    /// What the probes saw since the start.
    tx_errors_seen: u64,
    rx_dropped_seen: u64,
    tx_dropped_seen: u64,
    rates: &'a Rates,
    /// What the kernel counted beyond the probes, found when the interface was quiet.
    unseen: &'a Unseen,
    /// False when traffic moved the counters while the baseline was read.
    exact: bool,
}

#[derive(Serialize)]
struct EventJson {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    iface: String,
    ifindex: u32,
    direction: &'static str,
    reason: String,
    /// The driver's return code (transmit failures).
    rc: Option<i32>,
    /// Where the kernel dropped the packet, a kernel text address (drops).
    location: Option<String>,
    /// That address as `function+0xoffset`, when /proc/kallsyms names it.
    function: Option<String>,
    len: u32,
    /// EtherType, e.g. 0x0800 for IPv4.
    protocol: String,
}

#[derive(Serialize)]
struct LinkJson {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    event: &'static str,
    iface: String,
    ifindex: u32,
    from: Option<String>,
}

#[derive(Serialize)]
struct LostJson {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    lost: u64,
    what: &'static str,
}

/// Interface names are chosen by whoever creates the interface: escape them.
fn name(raw: &[u8]) -> String {
    escape_bytes(raw)
}

/// A block of rows per interval, one line per event.
struct InterfaceTable {
    clock: Clock,
    naming: EventNaming,
}

impl InterfacePrinter for InterfaceTable {
    fn set_drop_reasons(&mut self, reasons: ReasonNames) {
        self.naming.reasons = reasons;
    }

    fn header(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{:<15} {:<15} {:>10} {:>12} {:>10} {:>12} {:>7} {:>7} {:>14} {:>14}",
            "TIME",
            "IFACE",
            "RX-PKT/s",
            "RX-B/s",
            "TX-PKT/s",
            "TX-B/s",
            "ERR/s",
            "DRP/s",
            "RX-OK",
            "TX-OK"
        )
    }

    fn samples(
        &self,
        out: &mut dyn Write,
        now_ns: u64,
        samples: &[InterfaceSample],
    ) -> io::Result<()> {
        let time = self.clock.time_of_day(now_ns);
        for s in samples {
            let r = &s.rates;
            writeln!(
                out,
                "{:<15} {:<15} {:>10.0} {:>12.0} {:>10.0} {:>12.0} {:>7.0} {:>7.0} {:>14} {:>14}",
                time,
                name(&s.link.name),
                r.rx_packets,
                r.rx_bytes,
                r.tx_packets,
                r.tx_bytes,
                r.errors,
                r.drops,
                s.totals.rx_packets,
                s.totals.tx_packets
            )?;
        }
        Ok(())
    }

    fn event(&self, out: &mut dyn Write, event: &InterfaceEvent) -> io::Result<()> {
        let words = self.naming.words(event);
        writeln!(
            out,
            "{:<15} {:<15} {} {} {}{}{} len={} proto={:#06x}",
            self.clock.time_of_day(event.ts_ns),
            escape_bytes(event.ifname_bytes()),
            event.direction.name(),
            words.kind.replace('_', "-"),
            words.reason,
            words.rc.map(|rc| format!(" (rc={rc})")).unwrap_or_default(),
            words
                .function
                .as_deref()
                .map(|f| format!(" at {f}"))
                .unwrap_or_default(),
            event.len,
            event.protocol
        )
    }

    fn link_event(&self, out: &mut dyn Write, now_ns: u64, event: &LinkEvent) -> io::Result<()> {
        let (what, link_name, _, from) = link_words(event);
        writeln!(
            out,
            "{:<15} {:<15} {what}{}",
            self.clock.time_of_day(now_ns),
            link_name,
            from.map(|f| format!(" (was {f})")).unwrap_or_default()
        )
    }

    fn lost(&self, _: &mut dyn Write, _: u64, _: u64, _: LossCause) -> io::Result<()> {
        Ok(())
    }
}

/// JSON lines; every object has a `type`.
struct InterfaceJsonLines {
    clock: Clock,
    naming: EventNaming,
}

impl InterfacePrinter for InterfaceJsonLines {
    fn set_drop_reasons(&mut self, reasons: ReasonNames) {
        self.naming.reasons = reasons;
    }

    fn header(&self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn samples(
        &self,
        out: &mut dyn Write,
        now_ns: u64,
        samples: &[InterfaceSample],
    ) -> io::Result<()> {
        write_line(
            out,
            &SampleJson {
                kind: "interfaces",
                ts: self.clock.rfc3339(now_ns),
                interfaces: samples
                    .iter()
                    .map(|s| InterfaceJson {
                        iface: name(&s.link.name),
                        ifindex: s.link.ifindex,
                        flags: flag_names(s.link.flags as u16),
                        mtu: s.link.mtu,
                        rx_packets: s.totals.rx_packets,
                        rx_bytes: s.totals.rx_bytes,
                        tx_packets: s.totals.tx_packets,
                        tx_bytes: s.totals.tx_bytes,
                        tx_errors_seen: s.seen.tx_errors,
                        rx_dropped_seen: s.seen.rx_dropped,
                        tx_dropped_seen: s.seen.tx_dropped,
                        rates: &s.rates,
                        unseen: &s.unseen,
                        exact: s.settled,
                    })
                    .collect(),
            },
        )
    }

    fn event(&self, out: &mut dyn Write, event: &InterfaceEvent) -> io::Result<()> {
        let words = self.naming.words(event);
        write_line(
            out,
            &EventJson {
                kind: words.kind,
                ts: self.clock.rfc3339(event.ts_ns),
                iface: escape_bytes(event.ifname_bytes()),
                ifindex: event.ifindex,
                direction: event.direction.name(),
                reason: words.reason,
                rc: words.rc,
                location: words.location,
                function: words.function,
                len: event.len,
                protocol: format!("{:#06x}", event.protocol),
            },
        )
    }

    fn link_event(&self, out: &mut dyn Write, now_ns: u64, event: &LinkEvent) -> io::Result<()> {
        let (what, link_name, ifindex, from) = link_words(event);
        write_line(
            out,
            &LinkJson {
                kind: "link",
                ts: self.clock.rfc3339(now_ns),
                event: what,
                iface: link_name,
                ifindex,
                from,
            },
        )
    }

    fn lost(
        &self,
        out: &mut dyn Write,
        now_ns: u64,
        lost: u64,
        cause: LossCause,
    ) -> io::Result<()> {
        write_line(
            out,
            &LostJson {
                kind: "lost",
                ts: self.clock.rfc3339(now_ns),
                lost,
                what: describe_loss(cause),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{aggregator::interfaces::LinkInfo, events::interface::Direction};
    use netstat_common::InterfaceCounters;

    struct NoFunctions;

    impl KernelFunctions for NoFunctions {
        fn describe(&self, _: u64) -> Option<String> {
            None
        }
    }

    fn printer(format: StreamFormat) -> Box<dyn InterfacePrinter> {
        interface_printer(format, Clock::fixed(0, 0), Box::new(NoFunctions))
    }

    fn sample() -> InterfaceSample {
        InterfaceSample {
            link: LinkInfo {
                ifindex: 3,
                name: "veth\x1b0".into(),
                flags: 0x1043,
                mtu: 1500,
            },
            totals: crate::model::interfaces::DevStats {
                rx_packets: 10,
                tx_packets: 20,
                ..Default::default()
            },
            seen: InterfaceCounters {
                rx_packets: 5,
                ..Default::default()
            },
            rates: Rates {
                rx_packets: 2.0,
                ..Default::default()
            },
            settled: true,
            unseen: Default::default(),
        }
    }

    #[test]
    fn table_rows_escape_names_and_line_up_with_the_header() {
        let p = printer(StreamFormat::Table { wide: false });
        let mut out = Vec::new();
        p.header(&mut out).unwrap();
        p.samples(&mut out, 1_000_000_000, &[sample()]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), lines[1].len(), "{text}");
        assert!(lines[1].contains("veth\\x1b0"), "{text}");
        assert!(lines[1].starts_with("00:00:01.000000"));
    }

    #[test]
    fn json_lines_are_typed_objects() {
        let p = printer(StreamFormat::JsonLines);
        let mut out = Vec::new();
        p.samples(&mut out, 0, &[sample()]).unwrap();
        let event = InterfaceEvent {
            ts_ns: 0,
            ifindex: 3,
            ifname: *b"veth0\0\0\0\0\0\0\0\0\0\0\0",
            direction: Direction::Tx,
            kind: InterfaceEventKind::XmitFailed { rc: 1 },
            len: 1514,
            protocol: 0x0800,
        };
        p.event(&mut out, &event).unwrap();
        let lines: Vec<serde_json::Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["type"], "interfaces");
        assert_eq!(lines[0]["interfaces"][0]["rx_packets"], 10);
        assert!(lines[0]["interfaces"][0].get("gro_merged").is_none());
        assert_eq!(lines[0]["interfaces"][0]["unseen"]["rx_packets"], 0);
        assert_eq!(lines[0]["interfaces"][0]["rates"]["rx_packets"], 2.0);
        assert_eq!(lines[1]["type"], "xmit_failed");
        assert_eq!(lines[1]["reason"], "NET_XMIT_DROP");
        assert_eq!(lines[1]["rc"], 1);
        assert_eq!(lines[1]["direction"], "tx");
        assert_eq!(lines[1]["protocol"], "0x0800");
    }
}
