//! `netstat -s` as net-tools 2.10 prints it (statistics.c): each section of the counter files in
//! file order, its counters as sentences where netstat knows them and as "Name: value" where it
//! does not.
//!
//! net-tools' quirks are kept, since scripts parse this output:
//! - A section netstat has no table for (IcmpMsg, UdpLite, IpExt, MPTcpExt...) is shown whatever
//!   protocols were asked for, and keeps the indentation of whatever was printed before it.
//! - Counters are looked up by binary search in tables that are not all sorted, so some known
//!   counters (Forwarding, TCPTimeouts...) are missed and print as unknown ones.
//! - Settings (DefaultTTL, Forwarding, RtoAlgorithm) are never printed as sentences: netstat has
//!   no option to turn on its print_static switch.

use std::io::{self, Write};

use crate::model::statistics::{Counter, Section};

/// The protocols asked for: -w shows the Ip and Icmp tables, -t Tcp and TcpExt, -u Udp, -S Sctp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShownProtocols {
    pub(crate) raw: bool,
    pub(crate) tcp: bool,
    pub(crate) udp: bool,
    pub(crate) sctp: bool,
}

/// The IPv4 counter files: /proc/net/snmp, /proc/net/netstat (empty when absent) and
/// /proc/net/sctp/snmp (None when absent: SCTP is a module).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InetCounters<'a> {
    pub(crate) snmp: &'a [Section],
    pub(crate) netstat: &'a [Section],
    pub(crate) sctp: Option<&'a [Counter]>,
}

/// A section of counters as netstat shows it: a title, its counters, and the tables netstat
/// looks the title up in.
pub(crate) struct CounterSection<'a> {
    pub(crate) title: &'a str,
    pub(crate) counters: &'a [Counter],
    tables: &'static [Table],
}

impl CounterSection<'_> {
    fn table(&self) -> Option<&'static Table> {
        self.tables.iter().find(|table| table.title == self.title)
    }

    /// Whether netstat prints this section: one it has a table for only when its protocol was
    /// asked for, any other always.
    pub(crate) fn shown(&self, shown: ShownProtocols) -> bool {
        self.table()
            .is_none_or(|table| shown.includes(table.protocol))
    }
}

/// `netstat -s`'s sections: every section of /proc/net/snmp and /proc/net/netstat, then SCTP's
/// counters.
pub(crate) fn inet_sections<'a>(counters: &InetCounters<'a>) -> Vec<CounterSection<'a>> {
    let section = |title, counters| CounterSection {
        title,
        counters,
        tables: INET_TABLES,
    };
    let mut sections: Vec<CounterSection> = counters
        .snmp
        .iter()
        .chain(counters.netstat)
        .map(|s| section(&s.title, &s.counters))
        .collect();
    if let Some(sctp) = counters.sctp {
        sections.push(section(SCTP_TITLE, sctp));
    }
    sections
}

/// `netstat -s -6`'s sections: /proc/net/snmp6, grouped into sections by name, then the Tcp
/// sections of /proc/net/snmp (the kernel keeps no TCP counters per IP version).
pub(crate) fn inet6_sections<'a>(
    snmp6: &'a [Counter],
    snmp: &'a [Section],
) -> Vec<CounterSection<'a>> {
    let mut sections = Vec::new();
    let mut rest = snmp6;
    while let Some(first) = rest.first() {
        // A section runs while the names contain its title: the first name up to its '6'
        // ("Icmp6InMsgs" starts "Icmp6").
        let title = match first.name.find('6') {
            Some(six) => &first.name[..=six],
            None => first.name.as_str(),
        };
        let len = rest
            .iter()
            .position(|counter| !counter.name.contains(title))
            .unwrap_or(rest.len());
        let (counters, next) = rest.split_at(len);
        sections.push(CounterSection {
            title,
            counters,
            tables: INET6_TABLES,
        });
        rest = next;
    }
    // netstat picks these by prefix, which would also take a "TcpExt" section.
    for section in snmp
        .iter()
        .filter(|section| section.title.starts_with("Tcp"))
    {
        sections.push(CounterSection {
            title: &section.title,
            counters: &section.counters,
            tables: INET_TABLES,
        });
    }
    sections
}

/// Prints sections as `netstat -s` does.
pub(crate) fn write_sections(
    sections: &[CounterSection],
    shown: ShownProtocols,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut printer = Printer::new(shown, out);
    for section in sections {
        printer.section(section)?;
    }
    Ok(())
}

/// Prints sections one after the other. The indentation of a counter netstat does not know is
/// that of the line before it, even across sections and files, hence the state.
struct Printer<'w> {
    out: &'w mut dyn Write,
    shown: ShownProtocols,
    /// The kind of the last known counter: whether the lines are in an ICMP histogram.
    state: Kind,
}

impl<'w> Printer<'w> {
    fn new(shown: ShownProtocols, out: &'w mut dyn Write) -> Self {
        Printer {
            out,
            shown,
            state: Kind::Number,
        }
    }

    fn section(&mut self, section: &CounterSection) -> io::Result<()> {
        let (title, counters) = (section.title, section.counters);
        let entries = match section.table() {
            Some(table) => {
                self.state = Kind::Number;
                if !section.shown(self.shown) {
                    return Ok(());
                }
                Some(table.entries)
            }
            None => None,
        };
        writeln!(self.out, "{title}:")?;
        for counter in counters {
            match entries.and_then(|entries| lookup(entries, &counter.name)) {
                Some(entry) => self.known(entry, counter.value)?,
                None if counter.value != 0 => writeln!(
                    self.out,
                    "{:indent$}{}: {}",
                    "",
                    counter.name,
                    counter.value,
                    indent = self.state.indent()
                )?,
                None => {}
            }
        }
        Ok(())
    }

    fn known(&mut self, entry: &Entry, value: u64) -> io::Result<()> {
        // A setting, or a counter netstat deliberately leaves out (Tcp's RtoMin...).
        if entry.kind == Kind::Setting || entry.template.is_empty() {
            return Ok(());
        }
        if let Some(heading) = entry.kind.histogram_heading() {
            // Printed on entering the histogram, even if none of its counters is; indented
            // like the line before it.
            if self.state != entry.kind {
                writeln!(
                    self.out,
                    "{:indent$}{heading}",
                    "",
                    indent = self.state.indent()
                )?;
            }
        }
        if entry.kind == Kind::Number || value != 0 {
            writeln!(
                self.out,
                "{:indent$}{}",
                "",
                entry.template.replacen("%llu", &value.to_string(), 1),
                indent = entry.kind.indent()
            )?;
        }
        self.state = entry.kind;
        Ok(())
    }
}

impl ShownProtocols {
    fn includes(self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Raw => self.raw,
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
            Protocol::Sctp => self.sctp,
        }
    }
}

/// net-tools' lookup: glibc's bsearch with strcmp. Some tables are out of strcmp order, so this
/// must probe the same entries glibc does to miss the same counters.
fn lookup(entries: &'static [Entry], name: &str) -> Option<&'static Entry> {
    let (mut low, mut high) = (0, entries.len());
    while low < high {
        let middle = (low + high) / 2;
        let entry = entries.get(middle)?;
        match name.cmp(entry.name) {
            std::cmp::Ordering::Less => high = middle,
            std::cmp::Ordering::Greater => low = middle + 1,
            std::cmp::Ordering::Equal => return Some(entry),
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Raw,
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Printed even when zero.
    Number,
    /// Printed when not zero.
    OptionalNumber,
    /// Printed when not zero, under "ICMP input histogram:".
    InputHistogram,
    /// Printed when not zero, under "ICMP output histogram:".
    OutputHistogram,
    /// A configuration value: never printed.
    Setting,
}

impl Kind {
    fn indent(self) -> usize {
        match self {
            Kind::InputHistogram | Kind::OutputHistogram => 8,
            Kind::Number | Kind::OptionalNumber | Kind::Setting => 4,
        }
    }

    fn histogram_heading(self) -> Option<&'static str> {
        match self {
            Kind::InputHistogram => Some("ICMP input histogram:"),
            Kind::OutputHistogram => Some("ICMP output histogram:"),
            Kind::Number | Kind::OptionalNumber | Kind::Setting => None,
        }
    }
}

/// A counter netstat knows: its sentence, with "%llu" standing for the value.
struct Entry {
    name: &'static str,
    template: &'static str,
    kind: Kind,
}

struct Table {
    title: &'static str,
    entries: &'static [Entry],
    protocol: Protocol,
}

const SCTP_TITLE: &str = "Sctp";

const INET_TABLES: &[Table] = &[
    table("Ip", IP, Protocol::Raw),
    table("Icmp", ICMP, Protocol::Raw),
    table("Tcp", TCP, Protocol::Tcp),
    table("Udp", UDP, Protocol::Udp),
    table(SCTP_TITLE, SCTP, Protocol::Sctp),
    table("TcpExt", TCP_EXT, Protocol::Tcp),
];

const INET6_TABLES: &[Table] = &[
    table("Ip6", IP6, Protocol::Raw),
    table("Icmp6", ICMP6, Protocol::Raw),
    table("Udp6", UDP6, Protocol::Udp),
    table("Tcp6", TCP, Protocol::Tcp),
];

const fn table(title: &'static str, entries: &'static [Entry], protocol: Protocol) -> Table {
    Table {
        title,
        entries,
        protocol,
    }
}

const fn entry(name: &'static str, template: &'static str, kind: Kind) -> Entry {
    Entry {
        name,
        template,
        kind,
    }
}

// The tables below are net-tools 2.10's, entry for entry and in its order (which the lookup
// depends on), texts included. Short kind names keep each entry on a line, as in statistics.c.
use Kind::{
    InputHistogram as IN_HIST, Number as NUM, OptionalNumber as OPT, OutputHistogram as OUT_HIST,
    Setting as SETTING,
};

const IP: &[Entry] = &[
    entry("DefaultTTL", "Default TTL is %llu", SETTING),
    entry("Forwarding", "Forwarding is %s", SETTING),
    entry("ForwDatagrams", "%llu forwarded", NUM),
    entry("FragCreates", "%llu fragments created", OPT),
    entry(
        "FragFails",
        "%llu outgoing packets failed fragmentation",
        OPT,
    ),
    entry("FragOKs", "%llu outgoing packets fragmented ok", OPT),
    entry("InAddrErrors", "%llu with invalid addresses", OPT),
    entry("InDelivers", "%llu incoming packets delivered", NUM),
    entry("InDiscards", "%llu incoming packets discarded", NUM),
    entry("InHdrErrors", "%llu with invalid headers", OPT),
    entry("InReceives", "%llu total packets received", NUM),
    entry("InUnknownProtos", "%llu with unknown protocol", OPT),
    entry("OutDiscards", "%llu outgoing packets dropped", OPT),
    entry("OutNoRoutes", "%llu dropped because of missing route", OPT),
    entry("OutRequests", "%llu requests sent out", NUM),
    entry("ReasmFails", "%llu packet reassemblies failed", OPT),
    entry("ReasmOKs", "%llu packets reassembled ok", OPT),
    entry("ReasmReqds", "%llu reassemblies required", OPT),
    entry("ReasmTimeout", "%llu fragments dropped after timeout", OPT),
];

const IP6: &[Entry] = &[
    entry("Ip6FragCreates", "%llu fragments created", OPT),
    entry(
        "Ip6FragFails",
        "%llu outgoing packets failed fragmentation",
        OPT,
    ),
    entry("Ip6FragOKs", "%llu outgoing packets fragmented ok", OPT),
    entry("Ip6InAddrErrors", "%llu with invalid addresses", OPT),
    entry("Ip6InDelivers", "%llu incoming packets delivered", NUM),
    entry("Ip6InDiscards", "%llu incoming packets discarded", NUM),
    entry("Ip6InHdrErrors", "%llu with invalid headers", OPT),
    entry("Ip6InMcastPkts", "%llu incoming multicast packets", OPT),
    entry("Ip6InNoRoutes", "%llu incoming packets with no route", OPT),
    entry("Ip6InReceives", "%llu total packets received", NUM),
    entry("Ip6InTooBigErrors", "%llu with packets too big", OPT),
    entry("Ip6InTruncatedPkts", "%llu with truncated packets", OPT),
    entry("Ip6InUnknownProtos", "%llu with unknown protocol", OPT),
    entry("Ip6OutDiscards", "%llu outgoing packets dropped", OPT),
    entry("Ip6OutForwDatagrams", "%llu forwarded", NUM),
    entry("Ip6OutMcastPkts", "%llu outgoing multicast packets", OPT),
    entry(
        "Ip6OutNoRoutes",
        "%llu dropped because of missing route",
        OPT,
    ),
    entry("Ip6OutRequests", "%llu requests sent out", NUM),
    entry("Ip6ReasmFails", "%llu packet reassemblies failed", OPT),
    entry("Ip6ReasmOKs", "%llu packets reassembled ok", OPT),
    entry("Ip6ReasmReqds", "%llu reassemblies required", OPT),
    entry(
        "Ip6ReasmTimeout",
        "%llu fragments dropped after timeout",
        OPT,
    ),
];

const ICMP: &[Entry] = &[
    entry("InAddrMaskReps", "address mask replies: %llu", IN_HIST),
    entry("InAddrMasks", "address mask request: %llu", IN_HIST),
    entry("InDestUnreachs", "destination unreachable: %llu", IN_HIST),
    entry("InEchoReps", "echo replies: %llu", IN_HIST),
    entry("InEchos", "echo requests: %llu", IN_HIST),
    entry("InErrors", "%llu input ICMP message failed", NUM),
    entry("InMsgs", "%llu ICMP messages received", NUM),
    entry("InParmProbs", "wrong parameters: %llu", IN_HIST),
    entry("InRedirects", "redirects: %llu", IN_HIST),
    entry("InSrcQuenchs", "source quenches: %llu", IN_HIST),
    entry("InTimeExcds", "timeout in transit: %llu", IN_HIST),
    entry("InTimestampReps", "timestamp reply: %llu", IN_HIST),
    entry("InTimestamps", "timestamp request: %llu", IN_HIST),
    entry("OutAddrMaskReps", "address mask replies: %llu", OUT_HIST),
    entry("OutAddrMasks", "address mask requests: %llu", OUT_HIST),
    entry("OutDestUnreachs", "destination unreachable: %llu", OUT_HIST),
    entry("OutEchoReps", "echo replies: %llu", OUT_HIST),
    entry("OutEchos", "echo requests: %llu", OUT_HIST),
    entry("OutErrors", "%llu ICMP messages failed", NUM),
    entry("OutMsgs", "%llu ICMP messages sent", NUM),
    entry("OutParmProbs", "wrong parameters: %llu", OUT_HIST),
    entry("OutRedirects", "redirect: %llu", OUT_HIST),
    entry("OutSrcQuenchs", "source quench: %llu", OUT_HIST),
    entry("OutTimeExcds", "time exceeded: %llu", OUT_HIST),
    entry("OutTimestampReps", "timestamp replies: %llu", OUT_HIST),
    entry("OutTimestamps", "timestamp requests: %llu", OUT_HIST),
];

const ICMP6: &[Entry] = &[
    entry(
        "Icmp6InDestUnreachs",
        "destination unreachable: %llu",
        IN_HIST,
    ),
    entry("Icmp6InEchoReplies", "echo replies: %llu", IN_HIST),
    entry("Icmp6InEchos", "echo requests: %llu", IN_HIST),
    entry("Icmp6InErrors", "%llu input ICMP message failed", NUM),
    entry(
        "Icmp6InGroupMembQueries",
        "group member queries: %llu",
        IN_HIST,
    ),
    entry(
        "Icmp6InGroupMembReductions",
        "group member reductions: %llu",
        IN_HIST,
    ),
    entry(
        "Icmp6InGroupMembResponses",
        "group member responses: %llu",
        IN_HIST,
    ),
    entry("Icmp6InMsgs", "%llu ICMP messages received", NUM),
    entry(
        "Icmp6InNeighborAdvertisements",
        "neighbour advertisement: %llu",
        IN_HIST,
    ),
    entry(
        "Icmp6InNeighborSolicits",
        "neighbour solicits: %llu",
        IN_HIST,
    ),
    entry("Icmp6InParmProblems", "parameter problem: %llu", IN_HIST),
    entry("Icmp6InPktTooBigs", "packets too big: %llu", IN_HIST),
    entry("Icmp6InRedirects", "redirects: %llu", IN_HIST),
    entry(
        "Icmp6InRouterAdvertisements",
        "router advertisement: %llu",
        IN_HIST,
    ),
    entry("Icmp6InRouterSolicits", "router solicits: %llu", IN_HIST),
    entry(
        "Icmp6InTimeExcds",
        "received ICMPv6 time exceeded: %llu",
        IN_HIST,
    ),
    entry(
        "Icmp6OutDestUnreachs",
        "destination unreachable: %llu",
        OUT_HIST,
    ),
    entry("Icmp6OutEchoReplies", "echo replies: %llu", OUT_HIST),
    entry("Icmp6OutEchos", "echo requests: %llu", OUT_HIST),
    entry(
        "Icmp6OutGroupMembQueries",
        "group member queries: %llu",
        OUT_HIST,
    ),
    entry(
        "Icmp6OutGroupMembReductions",
        "group member reductions: %llu",
        OUT_HIST,
    ),
    entry(
        "Icmp6OutGroupMembResponses",
        "group member responses: %llu",
        OUT_HIST,
    ),
    entry("Icmp6OutMsgs", "%llu ICMP messages sent", NUM),
    entry(
        "Icmp6OutNeighborAdvertisements",
        "neighbor advertisements: %llu",
        OUT_HIST,
    ),
    entry(
        "Icmp6OutNeighborSolicits",
        "neighbor solicits: %llu",
        OUT_HIST,
    ),
    entry("Icmp6OutParmProblems", "parameter problem: %llu", OUT_HIST),
    entry("Icmp6OutPktTooBigs", "packets too big: %llu", OUT_HIST),
    entry("Icmp6OutRedirects", "redirects: %llu", OUT_HIST),
    // The trailing space is net-tools': the kernel's counter never matches it.
    entry(
        "Icmp6OutRouterAdvertisements ",
        "router advertisement: %llu",
        OUT_HIST,
    ),
    entry("Icmp6OutRouterSolicits", "router solicits: %llu", OUT_HIST),
    entry(
        "Icmp6OutTimeExcds",
        "sent ICMPv6 time exceeded: %llu",
        OUT_HIST,
    ),
];

const TCP: &[Entry] = &[
    entry("ActiveOpens", "%llu active connection openings", NUM),
    entry("AttemptFails", "%llu failed connection attempts", NUM),
    entry("CurrEstab", "%llu connections established", NUM),
    entry("EstabResets", "%llu connection resets received", NUM),
    entry("InErrs", "%llu bad segments received", NUM),
    entry("InSegs", "%llu segments received", NUM),
    entry("MaxConn", "", NUM),
    entry("OutRsts", "%llu resets sent", NUM),
    entry("OutSegs", "%llu segments sent out", NUM),
    entry("PassiveOpens", "%llu passive connection openings", NUM),
    entry("RetransSegs", "%llu segments retransmitted", NUM),
    entry("RtoAlgorithm", "RTO algorithm is %s", SETTING),
    entry("RtoMax", "", NUM),
    entry("RtoMin", "", NUM),
];

const UDP: &[Entry] = &[
    entry("InDatagrams", "%llu packets received", NUM),
    entry("InErrors", "%llu packet receive errors", NUM),
    entry("NoPorts", "%llu packets to unknown port received", NUM),
    entry("OutDatagrams", "%llu packets sent", NUM),
    entry("RcvbufErrors", "%llu receive buffer errors", NUM),
    entry("SndbufErrors", "%llu send buffer errors", NUM),
];

const UDP6: &[Entry] = &[
    entry("Udp6InDatagrams", "%llu packets received", NUM),
    entry("Udp6InErrors", "%llu packet receive errors", NUM),
    entry("Udp6NoPorts", "%llu packets to unknown port received", NUM),
    entry("Udp6OutDatagrams", "%llu packets sent", NUM),
];

const TCP_EXT: &[Entry] = &[
    entry(
        "DelayedACKLocked",
        "%llu delayed acks further delayed because of locked socket",
        OPT,
    ),
    entry(
        "DelayedACKLost",
        "Quick ack mode was activated %llu times",
        OPT,
    ),
    entry("DelayedACKs", "%llu delayed acks sent", OPT),
    entry(
        "EmbryonicRsts",
        "%llu resets received for embryonic SYN_RECV sockets",
        OPT,
    ),
    entry("ListenDrops", "%llu SYNs to LISTEN sockets dropped", OPT),
    entry(
        "ListenOverflows",
        "%llu times the listen queue of a socket overflowed",
        OPT,
    ),
    entry(
        "LockDroppedIcmps",
        "%llu ICMP packets dropped because socket was locked",
        OPT,
    ),
    entry(
        "OfoPruned",
        "%llu packets dropped from out-of-order queue because of socket buffer overrun",
        OPT,
    ),
    entry(
        "OutOfWindowIcmps",
        "%llu ICMP packets dropped because they were out-of-window",
        OPT,
    ),
    entry(
        "PAWSActive",
        "%llu active connections rejected because of time stamp",
        OPT,
    ),
    entry(
        "PAWSEstab",
        "%llu packets rejected in established connections because of timestamp",
        OPT,
    ),
    entry(
        "PAWSPassive",
        "%llu passive connections rejected because of time stamp",
        OPT,
    ),
    entry(
        "PruneCalled",
        "%llu packets pruned from receive queue because of socket buffer overrun",
        OPT,
    ),
    entry("RcvPruned", "%llu packets pruned from receive queue", OPT),
    entry(
        "SockMallocOOM",
        "Ran %llu times out of system memory during packet sending",
        OPT,
    ),
    entry("SyncookiesFailed", "%llu invalid SYN cookies received", OPT),
    entry("SyncookiesRecv", "%llu SYN cookies received", OPT),
    entry("SyncookiesSent", "%llu SYN cookies sent", OPT),
    entry(
        "TCPAbortFailed",
        "%llu times unable to send RST due to no memory",
        OPT,
    ),
    entry(
        "TCPAbortOnClose",
        "%llu connections reset due to early user close",
        OPT,
    ),
    entry(
        "TCPAbortOnData",
        "%llu connections reset due to unexpected data",
        OPT,
    ),
    entry(
        "TCPAbortOnLinger",
        "%llu connections aborted after user close in linger timeout",
        OPT,
    ),
    entry(
        "TCPAbortOnMemory",
        "%llu connections aborted due to memory pressure",
        OPT,
    ),
    entry(
        "TCPAbortOnSyn",
        "%llu connections reset due to unexpected SYN",
        OPT,
    ),
    entry(
        "TCPAbortOnTimeout",
        "%llu connections aborted due to timeout",
        OPT,
    ),
    entry(
        "TCPDirectCopyFromBacklog",
        "%llu bytes directly in process context from backlog",
        OPT,
    ),
    entry(
        "TCPDirectCopyFromPrequeue",
        "%llu bytes directly received in process context from prequeue",
        OPT,
    ),
    entry(
        "TCPDSACKOfoRecv",
        "%llu DSACKs for out of order packets received",
        OPT,
    ),
    entry(
        "TCPDSACKOfoSent",
        "%llu DSACKs sent for out of order packets",
        OPT,
    ),
    entry("TCPDSACKOldSent", "%llu DSACKs sent for old packets", OPT),
    entry("TCPDSACKRecv", "%llu DSACKs received", OPT),
    entry(
        "TCPDSackUndo",
        "%llu congestion window recovered without slow start using DSACK",
        OPT,
    ),
    entry(
        "TCPDSACKUndo",
        "%llu congestion windows recovered without slow start by DSACK",
        OPT,
    ),
    entry(
        "TCPFACKReorder",
        "Detected reordering %llu times using FACK",
        OPT,
    ),
    entry("TCPFastRetrans", "%llu fast retransmits", OPT),
    entry("TCPForwardRetrans", "%llu forward retransmits", OPT),
    entry(
        "TCPFullUndo",
        "%llu congestion windows fully recovered without slow start",
        OPT,
    ),
    entry("TCPHPAcks", "%llu predicted acknowledgments", OPT),
    entry("TCPHPHits", "%llu packet headers predicted", NUM),
    entry(
        "TCPHPHitsToUser",
        "%llu packet headers predicted and directly queued to user",
        OPT,
    ),
    entry("TCPLossFailures", "%llu timeouts in loss state", OPT),
    entry("TCPLoss", "%llu TCP data loss events", OPT),
    entry(
        "TCPLossUndo",
        "%llu congestion windows recovered without slow start after partial ack",
        OPT,
    ),
    entry("TCPLostRetransmits", "%llu retransmits lost", OPT),
    entry(
        "TCPMemoryPressures",
        "TCP ran low on memory %llu times",
        OPT,
    ),
    entry(
        "TCPPartialUndo",
        "%llu congestion windows partially recovered using Hoe heuristic",
        OPT,
    ),
    entry(
        "TCPPrequeued",
        "%llu packets directly queued to recvmsg prequeue",
        OPT,
    ),
    entry(
        "TCPPrequeueDropped",
        "%llu packets dropped from prequeue",
        OPT,
    ),
    entry(
        "TCPPureAcks",
        "%llu acknowledgments not containing data payload received",
        OPT,
    ),
    entry(
        "TCPRcvCollapsed",
        "%llu packets collapsed in receive queue due to low socket buffer",
        OPT,
    ),
    entry(
        "TCPRenoFailures",
        "%llu timeouts after reno fast retransmit",
        OPT,
    ),
    entry(
        "TCPRenoRecoveryFailed",
        "%llu reno fast retransmits failed",
        OPT,
    ),
    entry(
        "TCPRenoRecoveryFail",
        "%llu classic Reno fast retransmits failed",
        OPT,
    ),
    entry(
        "TCPRenoRecovery",
        "%llu times recovered from packet loss due to fast retransmit",
        OPT,
    ),
    entry(
        "TCPRenoReorder",
        "Detected reordering %llu times using reno fast retransmit",
        OPT,
    ),
    entry("TCPSackFailures", "%llu timeouts after SACK recovery", OPT),
    entry("TCPSackRecoveryFail", "%llu SACK retransmits failed", OPT),
    entry(
        "TCPSackRecovery",
        "%llu times recovered from packet loss by selective acknowledgements",
        OPT,
    ),
    entry("TCPSACKReneging", "%llu bad SACK blocks received", OPT),
    entry(
        "TCPSACKReorder",
        "Detected reordering %llu times using SACK",
        OPT,
    ),
    entry(
        "TCPSchedulerFailed",
        "%llu times receiver scheduled too late for direct processing",
        OPT,
    ),
    entry("TCPSlowStartRetrans", "%llu retransmits in slow start", OPT),
    entry("TCPTimeouts", "%llu other TCP timeouts", OPT),
    entry(
        "TCPTSReorder",
        "Detected reordering %llu times using time stamp",
        OPT,
    ),
    entry(
        "TWKilled",
        "%llu TCP sockets finished time wait in slow timer",
        OPT,
    ),
    entry(
        "TW",
        "%llu TCP sockets finished time wait in fast timer",
        OPT,
    ),
    entry(
        "TWRecycled",
        "%llu time wait sockets recycled by time stamp",
        OPT,
    ),
];

const SCTP: &[Entry] = &[
    entry("SctpAborteds", "%llu Number of Aborteds ", NUM),
    entry("SctpActiveEstabs", "%llu Active Associations", NUM),
    entry(
        "SctpChecksumErrors",
        "%llu Number of Packets with invalid Checksum",
        NUM,
    ),
    entry("SctpCurrEstab", "%llu Current Associations", NUM),
    entry("SctpFragUsrMsgs", "%llu Number of messages fragmented", NUM),
    entry(
        "SctpInCtrlChunks",
        "%llu Number of control chunks received",
        NUM,
    ),
    entry(
        "SctpInOrderChunks",
        "%llu Number of ordered chunks received",
        NUM,
    ),
    entry(
        "SctpInSCTPPacks",
        "%llu Number of SCTP packets received",
        NUM,
    ),
    entry(
        "SctpInUnorderChunks",
        "%llu Number of Unordered chunks received",
        NUM,
    ),
    entry(
        "SctpOutCtrlChunks",
        "%llu Number of control chunks sent",
        NUM,
    ),
    entry("SctpOutOfBlues", "%llu Number of Out of Blue packets", NUM),
    entry(
        "SctpOutOrderChunks",
        "%llu Number of ordered chunks sent",
        NUM,
    ),
    entry("SctpOutSCTPPacks", "%llu Number of SCTP packets sent", NUM),
    entry(
        "SctpOutUnorderChunks",
        "%llu Number of Unordered chunks sent",
        NUM,
    ),
    entry("SctpPassiveEstabs", "%llu Passive Associations", NUM),
    entry(
        "SctpReasmUsrMsgs",
        "%llu Number of messages reassembled ",
        NUM,
    ),
    entry("SctpShutdowns", "%llu Number of Graceful Terminations", NUM),
];

#[cfg(test)]
mod tests {
    //! Each expected output here is what net-tools 2.10's netstat printed for the same input
    //! (the input files as /proc/net in a private mount namespace, LC_ALL=C), for the arguments
    //! named in the test. The full files are compared in the golden test of
    //! cli::golden_tests (`statistics_match_netstat`).

    use super::*;
    use crate::model::statistics::test_sections::{line_pairs, name_value_lines};

    /// `-s`: every protocol.
    const ALL: ShownProtocols = ShownProtocols {
        raw: true,
        tcp: true,
        udp: true,
        sctp: true,
    };

    /// `-st`.
    const TCP_ONLY: ShownProtocols = ShownProtocols {
        raw: false,
        tcp: true,
        udp: false,
        sctp: false,
    };

    fn inet(snmp: &str, netstat: &str, sctp: Option<&str>, shown: ShownProtocols) -> String {
        let snmp = line_pairs(snmp);
        let netstat = line_pairs(netstat);
        let sctp = sctp.map(name_value_lines);
        let counters = InetCounters {
            snmp: &snmp,
            netstat: &netstat,
            sctp: sctp.as_deref(),
        };
        let mut out = Vec::new();
        write_sections(&inet_sections(&counters), shown, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("UTF-8")
    }

    fn inet6(snmp6: &str, snmp: &str, shown: ShownProtocols) -> String {
        let snmp6 = name_value_lines(snmp6);
        let snmp = line_pairs(snmp);
        let mut out = Vec::new();
        write_sections(&inet6_sections(&snmp6, &snmp), shown, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn known_counters_as_sentences_unknown_ones_when_not_zero() {
        let snmp = "Ip: Forwarding DefaultTTL InReceives InHdrErrors OutRequests FragCreates \
                    OutTransmits NewThing\nIp: 2 64 0 0 5 1 0 7\n";
        // InReceives is printed at 0, InHdrErrors is not; DefaultTTL is a setting; Forwarding
        // is missed by the lookup and printed as unknown.
        assert_eq!(
            inet(snmp, "", None, ALL),
            "Ip:\n    Forwarding: 2\n    0 total packets received\n    5 requests sent out\n    \
             1 fragments created\n    NewThing: 7\n"
        );
        assert_eq!(inet(snmp, "", None, TCP_ONLY), "");
    }

    #[test]
    fn icmp_histograms_and_the_indentation_they_leave() {
        let snmp = "Icmp: InMsgs InDestUnreachs OutMsgs OutEchos\nIcmp: 0 0 0 0\n\
                    IcmpMsg: InType3 OutType8\nIcmpMsg: 0 2\n\
                    Icmp: OutEchos InEchos\nIcmp: 3 4\n";
        assert_eq!(
            inet(snmp, "", None, ALL),
            "Icmp:\n    0 ICMP messages received\n    ICMP input histogram:\n    \
             0 ICMP messages sent\n    ICMP output histogram:\nIcmpMsg:\n        OutType8: 2\n\
             Icmp:\n    ICMP output histogram:\n        echo requests: 3\n        \
             ICMP input histogram:\n        echo requests: 4\n"
        );
        // Without -w the Icmp section is skipped, so IcmpMsg is indented as after a header.
        assert_eq!(
            inet(snmp, "", None, TCP_ONLY),
            "IcmpMsg:\n    OutType8: 2\n"
        );
    }

    #[test]
    fn sections_without_a_table_are_shown_whatever_was_asked() {
        let snmp = "Ip: InReceives\nIp: 1\nIcmpMsg: InType3\nIcmpMsg: 2\nTcp: ActiveOpens\n\
                    Tcp: 3\nUdp: InDatagrams\nUdp: 4\nUdpLite: InDatagrams\nUdpLite: 5\n";
        assert_eq!(
            inet(snmp, "", None, ALL),
            "Ip:\n    1 total packets received\nIcmpMsg:\n    InType3: 2\nTcp:\n    \
             3 active connection openings\nUdp:\n    4 packets received\nUdpLite:\n    \
             InDatagrams: 5\n"
        );
        assert_eq!(
            inet(snmp, "", None, TCP_ONLY),
            "IcmpMsg:\n    InType3: 2\nTcp:\n    3 active connection openings\nUdpLite:\n    \
             InDatagrams: 5\n"
        );
    }

    #[test]
    fn unsorted_tables_miss_some_known_counters() {
        let netstat = "TcpExt: TW TWKilled TWRecycled TCPTimeouts TCPLoss TCPLossFailures\n\
                       TcpExt: 1 2 3 4 5 6\n";
        assert_eq!(
            inet("", netstat, None, TCP_ONLY),
            "TcpExt:\n    1 TCP sockets finished time wait in fast timer\n    TWKilled: 2\n    \
             3 time wait sockets recycled by time stamp\n    TCPTimeouts: 4\n    TCPLoss: 5\n    \
             6 timeouts in loss state\n"
        );
    }

    #[test]
    fn settings_and_left_out_counters_are_not_printed() {
        let snmp = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens InErrs\n\
                    Tcp: 1 200 120000 -1 0 0\n";
        assert_eq!(
            inet(snmp, "", None, ALL),
            "Tcp:\n    0 active connection openings\n    0 bad segments received\n"
        );
    }

    #[test]
    fn sctp_header_whenever_its_file_exists() {
        let snmp = "Ip: InReceives\nIp: 1\n";
        assert_eq!(
            inet(snmp, "", Some(""), ALL),
            "Ip:\n    1 total packets received\nSctp:\n"
        );
        assert_eq!(
            inet(snmp, "", None, ALL),
            "Ip:\n    1 total packets received\n"
        );
        assert_eq!(inet(snmp, "", Some(""), TCP_ONLY), "");
    }

    #[test]
    fn inet6_sections_by_name_then_tcp_from_snmp() {
        let snmp6 = "Ip6InReceives 1\nIp6OutTransmits 2\nIcmp6InMsgs 3\nIcmp6InEchos 0\n\
                     Icmp6InType8 4\nXIcmp6Y 5\nUdp6InDatagrams 6\nUdpLite6InDatagrams 7\n\
                     Tcp6ActiveOpens 8\nIp6Again 9\nNoSix 10\n";
        let snmp = "Ip: InReceives\nIp: 1\nTcp: ActiveOpens\nTcp: 3\nTcpExt: TW\nTcpExt: 4\n\
                    Udp: InDatagrams\nUdp: 5\n";
        assert_eq!(
            inet6(snmp6, snmp, ALL),
            "Ip6:\n    1 total packets received\n    Ip6OutTransmits: 2\nIcmp6:\n    \
             3 ICMP messages received\n    ICMP input histogram:\n        Icmp6InType8: 4\n        \
             XIcmp6Y: 5\nUdp6:\n    6 packets received\nUdpLite6:\n    UdpLite6InDatagrams: 7\n\
             Tcp6:\n    Tcp6ActiveOpens: 8\nIp6:\n    Ip6Again: 9\nNoSix:\n    NoSix: 10\nTcp:\n    \
             3 active connection openings\nTcpExt:\n    \
             4 TCP sockets finished time wait in fast timer\n"
        );
        let udp_only = ShownProtocols {
            udp: true,
            ..ShownProtocols::default()
        };
        assert_eq!(
            inet6(snmp6, snmp, udp_only),
            "Udp6:\n    6 packets received\nUdpLite6:\n    UdpLite6InDatagrams: 7\nNoSix:\n    \
             NoSix: 10\n"
        );
    }

    #[test]
    fn lookup_probes_like_glibc_bsearch() {
        // Sorted neighbours are found; entries out of strcmp order may not be.
        assert!(lookup(IP, "DefaultTTL").is_some());
        assert!(lookup(IP, "ForwDatagrams").is_some());
        assert!(lookup(IP, "Forwarding").is_none());
        assert!(lookup(TCP_EXT, "TW").is_some());
        assert!(lookup(TCP_EXT, "TWKilled").is_none());
        assert!(lookup(TCP, "Nothing").is_none());
        assert!(lookup(&[], "Anything").is_none());
    }
}
