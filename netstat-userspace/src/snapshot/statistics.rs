//! `netstat -s`: reads /proc/net/snmp, /proc/net/netstat and /proc/net/sctp/snmp, or with -6
//! /proc/net/snmp6 and /proc/net/snmp, as net-tools 2.10 does.

use std::{
    io::{self, Write},
    path::Path,
};

use anyhow::Context as _;

use crate::{
    model::statistics::{Counter, Section},
    sources::proc::{
        proc_net,
        snmp::{self, Parsed},
    },
    views::{
        netstat::{
            Families, NetstatFlags,
            statistics::{self, InetCounters, ShownProtocols},
        },
        printer::SnapshotPrinter,
    },
};

pub(crate) fn run(
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    run_in(proc_net(), flags, printer, out)
}

/// `run`, with the counter files read from `proc_net` rather than /proc/net.
pub(crate) fn run_in(
    proc_net: &Path,
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // netstat passes on -w, -t, -u and -S only; UDP-Lite (-U) has no table and always shows.
    let shown = ShownProtocols {
        raw: flags.raw,
        tcp: flags.tcp,
        udp: flags.udp,
        sctp: flags.sctp,
    };
    let files = CounterFiles { proc_net };
    match statistics_family(flags.named_families)? {
        Family::Inet => {
            let snmp = files
                .line_pairs("snmp")?
                .with_context(|| files.missing("snmp"))?;
            let netstat = files.line_pairs("netstat")?.unwrap_or_default();
            let sctp = files.name_value_lines("sctp/snmp")?;
            let counters = InetCounters {
                snmp: &snmp,
                netstat: &netstat,
                sctp: sctp.as_deref(),
            };
            printer.statistics(&statistics::inet_sections(&counters), shown, out)?;
        }
        Family::Inet6 => {
            let snmp6 = files
                .name_value_lines("snmp6")?
                .with_context(|| files.missing("snmp6"))?;
            // netstat prints the IPv6 counters before it finds /proc/net/snmp missing.
            let snmp = files.line_pairs("snmp")?;
            let sections = statistics::inet6_sections(&snmp6, snmp.as_deref().unwrap_or_default());
            printer.statistics(&sections, shown, out)?;
            if snmp.is_none() {
                anyhow::bail!(files.missing("snmp"));
            }
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Family {
    Inet,
    Inet6,
}

/// netstat shows the statistics of one family, the one named on the command line (IPv4 if none);
/// it refuses any other family, and more than one.
fn statistics_family(named: Families) -> anyhow::Result<Family> {
    match (named.inet, named.inet6, named.unix) {
        (_, false, false) => Ok(Family::Inet),
        (false, true, false) => Ok(Family::Inet6),
        _ => {
            let names: Vec<&str> = [
                (named.inet, "inet"),
                (named.inet6, "inet6"),
                (named.unix, "unix"),
            ]
            .into_iter()
            .filter_map(|(is_named, name)| is_named.then_some(name))
            .collect();
            anyhow::bail!(
                "No statistics support for specified address family: {}",
                names.join(",")
            )
        }
    }
}

/// The counter files under one /proc/net: each read whole, parsed, its problems reported.
struct CounterFiles<'a> {
    proc_net: &'a Path,
}

impl CounterFiles<'_> {
    /// A "Title: names" / "Title: values" file, None if it does not exist.
    fn line_pairs(&self, name: &str) -> anyhow::Result<Option<Vec<Section>>> {
        self.parsed(name, snmp::parse_line_pairs)
    }

    /// A "name value" file, None if it does not exist.
    fn name_value_lines(&self, name: &str) -> anyhow::Result<Option<Vec<Counter>>> {
        self.parsed(name, snmp::parse_name_value_lines)
    }

    fn parsed<T>(
        &self,
        name: &str,
        parse: fn(&str) -> Parsed<T>,
    ) -> anyhow::Result<Option<Vec<T>>> {
        let path = self.proc_net.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let parsed = parse(&text);
        // Like netstat: warn, and show what came before the bad line.
        if let Some(problem) = parsed.problem {
            eprintln!(
                "enetstat: problem while parsing {}: {problem}",
                path.display()
            );
        }
        Ok(Some(parsed.items))
    }

    /// netstat's message for a file it cannot do without.
    fn missing(&self, name: &str) -> String {
        format!(
            "cannot open {}: {}",
            self.proc_net.join(name).display(),
            io::Error::from_raw_os_error(libc::ENOENT)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{model::names::NoNames, views::printer::printer_for};

    const NONE: Families = Families {
        inet: false,
        inet6: false,
        unix: false,
    };

    /// What `-s` leaves for the statistics, with the families named and TCP alone (`-st`) or
    /// every protocol; the command lines' own checking is the CLI's (cli/netstat.rs).
    fn flags(named_families: Families, tcp_only: bool) -> NetstatFlags {
        NetstatFlags {
            tcp: true,
            udp: !tcp_only,
            udplite: !tcp_only,
            sctp: !tcp_only,
            raw: !tcp_only,
            named_families,
            ..NetstatFlags::default()
        }
    }

    #[test]
    fn family_follows_the_named_one() {
        let inet = Families { inet: true, ..NONE };
        let inet6 = Families {
            inet6: true,
            ..NONE
        };
        assert_eq!(statistics_family(NONE).ok(), Some(Family::Inet));
        assert_eq!(statistics_family(inet).ok(), Some(Family::Inet));
        assert_eq!(statistics_family(inet6).ok(), Some(Family::Inet6));
    }

    #[test]
    fn several_families_or_unix_are_refused_as_netstat_does() {
        let refusal = |named: Families| statistics_family(named).err().map(|err| err.to_string());
        assert_eq!(
            refusal(Families {
                inet: true,
                inet6: true,
                unix: false
            })
            .as_deref(),
            Some("No statistics support for specified address family: inet,inet6")
        );
        assert_eq!(
            refusal(Families { unix: true, ..NONE }).as_deref(),
            Some("No statistics support for specified address family: unix")
        );
    }

    #[test]
    fn missing_files() {
        let dir = std::env::temp_dir().join(format!("enetstat-statistics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let inet6 = Families {
            inet6: true,
            ..NONE
        };
        let run = |named: Families, tcp_only: bool| {
            let mut out = Vec::new();
            let flags = flags(named, tcp_only);
            let mut printer = printer_for(&flags, &NoNames);
            let result =
                run_in(&dir, &flags, printer.as_mut(), &mut out).map_err(|err| format!("{err:#}"));
            (String::from_utf8_lossy(&out).into_owned(), result)
        };

        let (out, result) = run(NONE, false);
        assert_eq!(out, "");
        let err = result.expect_err("no /proc/net/snmp");
        assert!(err.starts_with("cannot open "), "{err}");
        assert!(
            err.ends_with("/snmp: No such file or directory (os error 2)"),
            "{err}"
        );

        // Without /proc/net/netstat (and SCTP), only /proc/net/snmp's sections.
        std::fs::write(dir.join("snmp"), "Tcp: ActiveOpens\nTcp: 3\n").expect("write snmp");
        assert_eq!(
            run(NONE, true),
            ("Tcp:\n    3 active connection openings\n".into(), Ok(()))
        );

        let (out, result) = run(inet6, false);
        assert_eq!(out, "");
        assert!(result.expect_err("no snmp6").contains("/snmp6: "));

        // snmp6's sections come out before the missing /proc/net/snmp is reported.
        std::fs::write(dir.join("snmp6"), "Udp6InDatagrams 4\n").expect("write snmp6");
        std::fs::remove_file(dir.join("snmp")).expect("remove snmp");
        let (out, result) = run(inet6, false);
        assert_eq!(out, "Udp6:\n    4 packets received\n");
        assert!(result.is_err());

        let _ = std::fs::remove_dir_all(&dir);
    }
}
