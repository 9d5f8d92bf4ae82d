//! The systemd unit shipped in dist/, read as systemd reads the subset it uses: `[Section]`
//! headers, `Key=value` lines, `#` and `;` comments (no line continuations or quoting).

use std::path::PathBuf;

use anyhow::Context as _;

/// dist/enetstat.service in the source tree.
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/enetstat.service")
}

pub struct UnitFile {
    /// (section, key, value), in file order.
    entries: Vec<(String, String, String)>,
}

impl UnitFile {
    pub fn read() -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path())
            .with_context(|| format!("reading {}", path().display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut section = String::new();
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .with_context(|| format!("line {}: neither a section nor Key=value", number + 1))?;
            anyhow::ensure!(
                !section.is_empty(),
                "line {}: outside a section",
                number + 1
            );
            entries.push((section.clone(), key.trim().into(), value.trim().into()));
        }
        Ok(UnitFile { entries })
    }

    /// The value in force (the last assignment), as systemd takes it for single-valued keys.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// The words of every assignment of a list-valued key (CapabilityBoundingSet=, ...).
    pub fn words(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .flat_map(|(_, _, v)| v.split_whitespace())
            .collect()
    }

    /// The capability bounding set as setpriv spells it: `-all,+bpf,+perfmon,...`.
    pub fn setpriv_bounding_set(&self) -> String {
        let mut spec = String::from("-all");
        for cap in self.words("Service", "CapabilityBoundingSet") {
            spec.push_str(",+");
            spec.push_str(&cap.trim_start_matches("CAP_").to_ascii_lowercase());
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> UnitFile {
        UnitFile::read().unwrap()
    }

    #[test]
    fn parses_sections_keys_and_comments() {
        let u = UnitFile::parse(
            "# c\n[Unit]\nDescription=a = b\n\n[Service]\n; c\nX=1\nCapabilityBoundingSet=CAP_BPF\nCapabilityBoundingSet=CAP_SYSLOG CAP_PERFMON\nX=2\n",
        )
        .unwrap();
        assert_eq!(u.get("Unit", "Description"), Some("a = b"));
        assert_eq!(u.get("Service", "X"), Some("2"));
        assert_eq!(u.get("Unit", "X"), None);
        assert_eq!(u.setpriv_bounding_set(), "-all,+bpf,+syslog,+perfmon");
        assert!(UnitFile::parse("[S]\nnot a line\n").is_err());
        assert!(UnitFile::parse("X=1\n").is_err());
    }

    #[test]
    fn the_unit_runs_the_daemon_hardened() {
        let u = unit();
        let exec = u.get("Service", "ExecStart").unwrap();
        assert!(exec.ends_with("/enetstat serve"), "{exec}");
        for (key, value) in [
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("NoNewPrivileges", "yes"),
            ("RuntimeDirectory", "enetstat"),
            ("RuntimeDirectoryMode", "0700"),
            ("SystemCallArchitectures", "native"),
            ("LockPersonality", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            // Network namespaces are entered (setns) to read their sockets; no other kind.
            ("RestrictNamespaces", "net"),
            ("RestrictSUIDSGID", "yes"),
            ("ProtectKernelModules", "yes"),
            ("ProtectControlGroups", "yes"),
            ("SystemCallErrorNumber", "EPERM"),
            ("LimitMEMLOCK", "infinity"),
        ] {
            assert_eq!(u.get("Service", key), Some(value), "{key}");
        }
        assert_eq!(u.get("Install", "WantedBy"), Some("multi-user.target"));
    }

    #[test]
    fn the_sandbox_leaves_what_the_daemon_needs() {
        let u = unit();
        let mut caps = u.words("Service", "CapabilityBoundingSet");
        caps.sort();
        assert_eq!(
            caps,
            [
                "CAP_BPF",
                "CAP_DAC_READ_SEARCH",
                "CAP_PERFMON",
                "CAP_SYS_ADMIN",
                "CAP_SYS_PTRACE"
            ]
        );
        let mut families = u.words("Service", "RestrictAddressFamilies");
        families.sort();
        assert_eq!(families, ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]);
        let calls = u.words("Service", "SystemCallFilter");
        for needed in ["@system-service", "bpf"] {
            assert!(calls.contains(&needed), "SystemCallFilter lacks {needed}");
        }
        // The daemon writes no sysctl and reads no kernel log.
        for key in ["ProtectKernelTunables", "ProtectKernelLogs"] {
            assert_eq!(u.get("Service", key), Some("yes"), "{key}");
        }
        // These would break the daemon (see the unit's comments): it must see the host's network
        // and user namespaces.
        for key in ["PrivateNetwork", "PrivateUsers"] {
            assert!(
                matches!(u.get("Service", key), None | Some("no")),
                "{key} must not be on"
            );
        }
        assert!(matches!(
            u.get("Service", "ProtectProc"),
            None | Some("default")
        ));
        // The daemon's default socket is in the unit's runtime directory.
        let runtime = format!("/run/{}/", u.get("Service", "RuntimeDirectory").unwrap());
        assert!(
            ::enetstat::DEFAULT_SOCKET.starts_with(&runtime),
            "{} is not in {runtime}",
            ::enetstat::DEFAULT_SOCKET
        );
    }
}
