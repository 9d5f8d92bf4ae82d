//! `-s --json`: one object, section title -> counter name -> value, in the kernel's order.

use std::io::{self, Write};

use serde::{Serialize, Serializer};

use super::write_line;
use crate::views::netstat::statistics::{CounterSection, ShownProtocols};

/// The sections netstat prints for the protocols asked for, with every counter of each as a
/// number (zeros and settings included, which the text leaves out). A title that comes twice
/// has its counters merged into one object.
pub(crate) fn write_statistics(
    sections: &[CounterSection],
    shown: ShownProtocols,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut merged: Vec<(&str, Ordered<&str, Value>)> = Vec::new();
    for section in sections.iter().filter(|section| section.shown(shown)) {
        let index = match merged.iter().position(|(title, _)| *title == section.title) {
            Some(index) => index,
            None => {
                merged.push((section.title, Ordered(Vec::new())));
                merged.len() - 1
            }
        };
        let counters = section
            .counters
            .iter()
            .map(|counter| (counter.name.as_str(), Value(counter.value)));
        merged[index].1.0.extend(counters);
    }
    write_line(out, &Ordered(merged))
}

/// A map serialized in the order given (serde_json's own map would sort its keys).
struct Ordered<K, V>(Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Ordered<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, value)| (key, value)))
    }
}

/// A counter's value. The files are read as netstat reads them (strtoull), which wraps the one
/// signed value, Tcp's MaxConn of -1, to 2^64-1; no counter comes near 2^63, so a value above
/// it is written as the negative number it was.
struct Value(u64);

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(self.0) {
            Ok(_) => serializer.serialize_u64(self.0),
            Err(_) => serializer.serialize_i64(self.0 as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};

    use super::*;
    use crate::{
        model::statistics::test_sections::{line_pairs, name_value_lines},
        views::netstat::statistics::{InetCounters, inet_sections, inet6_sections},
    };

    const ALL: ShownProtocols = ShownProtocols {
        raw: true,
        tcp: true,
        udp: true,
        sctp: true,
    };

    fn render(sections: &[CounterSection], shown: ShownProtocols) -> Json {
        let mut out = Vec::new();
        write_statistics(sections, shown, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "one object on one line");
        serde_json::from_str(&text).unwrap()
    }

    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 10\n\
                        Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 3\n\
                        Udp: InDatagrams NoPorts\nUdp: 4 0\n\
                        UdpLite: InDatagrams\nUdpLite: 0\n";
    const NETSTAT: &str = "TcpExt: SyncookiesSent TW\nTcpExt: 0 9\n";

    #[test]
    fn sections_in_order_with_typed_counters() {
        let snmp = line_pairs(SNMP);
        let netstat = line_pairs(NETSTAT);
        let sctp = name_value_lines("SctpCurrEstab 1\n");
        let counters = InetCounters {
            snmp: &snmp,
            netstat: &netstat,
            sctp: Some(&sctp),
        };
        let value = render(&inet_sections(&counters), ALL);
        assert_eq!(
            value,
            json!({
                "Ip": {"Forwarding": 2, "DefaultTTL": 64, "InReceives": 10},
                "Tcp": {"RtoAlgorithm": 1, "MaxConn": -1, "ActiveOpens": 3},
                "Udp": {"InDatagrams": 4, "NoPorts": 0},
                "UdpLite": {"InDatagrams": 0},
                "TcpExt": {"SyncookiesSent": 0, "TW": 9},
                "Sctp": {"SctpCurrEstab": 1}
            })
        );
        let mut out = Vec::new();
        write_statistics(&inet_sections(&counters), ALL, &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("{\"Ip\":{\"Forwarding\":2,"),
            "the kernel's order, not sorted"
        );
    }

    #[test]
    fn protocols_select_sections_as_in_the_text() {
        let snmp = line_pairs(SNMP);
        let netstat = line_pairs(NETSTAT);
        let counters = InetCounters {
            snmp: &snmp,
            netstat: &netstat,
            sctp: None,
        };
        let tcp_only = ShownProtocols {
            tcp: true,
            ..ShownProtocols::default()
        };
        let value = render(&inet_sections(&counters), tcp_only);
        let titles: Vec<&String> = value.as_object().unwrap().keys().collect();
        // UdpLite has no table in netstat, which shows it whatever was asked.
        assert_eq!(titles, ["Tcp", "TcpExt", "UdpLite"]);
    }

    #[test]
    fn ipv6_sections_are_grouped_by_name() {
        let snmp6 = name_value_lines(
            "Ip6InReceives 5\nIp6OutRequests 6\nIcmp6InMsgs 1\nUdp6InDatagrams 2\n",
        );
        let snmp = line_pairs(SNMP);
        let value = render(&inet6_sections(&snmp6, &snmp), ALL);
        assert_eq!(
            value,
            json!({
                "Ip6": {"Ip6InReceives": 5, "Ip6OutRequests": 6},
                "Icmp6": {"Icmp6InMsgs": 1},
                "Udp6": {"Udp6InDatagrams": 2},
                "Tcp": {"RtoAlgorithm": 1, "MaxConn": -1, "ActiveOpens": 3}
            })
        );
    }

    #[test]
    fn a_repeated_title_is_one_object() {
        let snmp = line_pairs("Ip: A\nIp: 1\nIp: B\nIp: 2\n");
        let counters = InetCounters {
            snmp: &snmp,
            netstat: &[],
            sctp: None,
        };
        assert_eq!(
            render(&inet_sections(&counters), ALL),
            json!({"Ip": {"A": 1, "B": 2}})
        );
    }
}
