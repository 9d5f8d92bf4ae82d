//! /etc/services and /etc/protocols, looked up as net-tools' get_sname does.

use std::collections::HashMap;

/// Port names per table ("tcp", "udp", "raw").
#[derive(Debug, Default)]
pub(crate) struct ServiceTable {
    names: HashMap<(String, u16), String>,
}

impl ServiceTable {
    /// Builds the table from the text of /etc/services and /etc/protocols. net-tools prepends
    /// each entry to a list and takes the first match, so the LAST line for a port wins; the
    /// "raw" table holds raw services and then every protocol by number (protocols win).
    pub(crate) fn parse(services: &str, protocols: &str) -> Self {
        let mut names = HashMap::new();
        for (name, rest) in entries(services) {
            let Some((port, proto)) = rest.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            if matches!(proto, "tcp" | "udp" | "raw") {
                names.insert((proto.to_string(), port), name.to_string());
            }
        }
        for (name, number) in entries(protocols) {
            if let Ok(number) = number.parse::<u16>() {
                names.insert(("raw".to_string(), number), name.to_string());
            }
        }
        ServiceTable { names }
    }

    pub(crate) fn get(&self, port: u16, proto: &str) -> Option<&str> {
        self.names
            .get(&(proto.to_string(), port))
            .map(String::as_str)
    }
}

/// `(name, second field)` of each non-comment line.
fn entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.split('#').next()?;
        let mut fields = line.split_ascii_whitespace();
        Some((fields.next()?, fields.next()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_entry_wins_and_protocols_fill_raw() {
        let services = "# comment\nssh\t\t22/tcp\nhttp 80/tcp www # web\nold-http 80/tcp\nsyslog 514/udp\nbad 99999/tcp\nx11 6000/tcp\n";
        let protocols = "ip 0 IP\nicmp 1 ICMP\nipv6-icmp 58 IPv6-ICMP\n";
        let table = ServiceTable::parse(services, protocols);
        assert_eq!(table.get(22, "tcp"), Some("ssh"));
        assert_eq!(table.get(80, "tcp"), Some("old-http"));
        assert_eq!(table.get(514, "udp"), Some("syslog"));
        assert_eq!(table.get(514, "tcp"), None);
        assert_eq!(table.get(1, "raw"), Some("icmp"));
        assert_eq!(table.get(58, "raw"), Some("ipv6-icmp"));
    }
}
