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

/// Service names and aliases to ports, as ss's getservbyname finds them for a filter (tcp or udp;
/// the first line naming a service wins).
pub(crate) fn port_names(services: &str) -> HashMap<String, u16> {
    let mut ports = HashMap::new();
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_ascii_whitespace();
        let (Some(name), Some(rest)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((port, "tcp" | "udp")) = rest.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for alias in std::iter::once(name).chain(fields) {
            ports.entry(alias.to_string()).or_insert(port);
        }
    }
    ports
}

/// [`port_names`] of /etc/services (none when it cannot be read).
pub(crate) fn read_port_names() -> HashMap<String, u16> {
    port_names(&std::fs::read_to_string("/etc/services").unwrap_or_default())
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
    fn port_names_include_aliases() {
        let ports = port_names(
            "ssh 22/tcp\nhttp 80/tcp www # web\nhttp 8080/tcp\nsyslog 514/udp\nx 1/ddp\n",
        );
        assert_eq!(ports.get("ssh"), Some(&22));
        assert_eq!(ports.get("www"), Some(&80));
        assert_eq!(ports.get("http"), Some(&80));
        assert_eq!(ports.get("syslog"), Some(&514));
        assert_eq!(ports.get("x"), None);
    }

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
