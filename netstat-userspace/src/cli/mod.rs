//! Command-line parsing in two stages: clap's raw arguments, then the checked configuration that
//! a command consumes. The configurations' types live with what consumes them (each command's in
//! its `commands` module, a netstat view's in `snapshot` and `views::netstat`); nothing below
//! this module knows of clap.

pub(crate) mod color;
pub(crate) mod docs;
#[cfg(test)]
mod golden_tests;
mod netstat;
mod watch;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::{
    commands::{
        interfaces::InterfaceWatchConfig,
        serve::ServeConfig,
        snapshot::{FamiliesWithoutTables, SnapshotSource},
        watch::WatchConfig,
    },
    daemon::web_config::WebConfig,
    model::{health::EventKinds, netns::NetnsSpec},
    probes::{DEFAULT_RING_SIZE, check_ring_size},
    snapshot::NetstatConfig,
    sources::{daemon::DEFAULT_SOCKET, netns},
    views::{self, OutputFormat},
};
use color::{ColorArg, Terminal};
use netstat::{NetstatArgs, NetstatParse};
use watch::{WatchArgs, parse_size};

#[derive(Debug, Parser)]
#[command(
    name = "enetstat",
    version,
    about = "Live, eBPF-backed netstat: netstat's views, and every TCP state transition as it happens",
    propagate_version = true,
    // netstat's options and a subcommand exclude each other (checked in `check_for`, so that the
    // global --socket and --color may still come before the subcommand).
    // Defined below, under enetstat's heading: what they print is enetstat's, not net-tools'.
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(crate) struct RawArgs {
    #[command(flatten)]
    pub(crate) netstat: NetstatArgs,
    /// Where netstat views come from: auto (the daemon when one runs, else the kernel), daemon, proc.
    #[arg(long, value_enum, default_value = "auto", hide_possible_values = true, hide_default_value = true, help_heading = ENETSTAT)]
    pub(crate) source: SourceArg,
    /// Write the view as JSON: one object per line (one object for -s); README, "JSON output".
    #[arg(long, help_heading = ENETSTAT)]
    pub(crate) json: bool,
    /// With -p: a CONTAINER column after netstat's, the runtime and id the owner's cgroup names
    /// (README, "Containers").
    #[arg(long, help_heading = ENETSTAT)]
    pub(crate) containers: bool,
    /// With a TCP listing (-t): struct tcp_info's columns after netstat's, from the same
    /// sock_diag dump: RTT_US RTTVAR_US CWND TOTAL_RETRANS LOST UNACKED BYTES_ACKED
    /// BYTES_RECEIVED DELIVERY_RATE (bytes/s) BUSY_US RWND_LIMITED_US SNDBUF_LIMITED_US, `-` where
    /// the kernel has none; JSON adds a `tcp_info` object to TCP rows. Read here, never asked of
    /// the daemon (README, "TCP info").
    #[arg(long, help_heading = ENETSTAT)]
    pub(crate) tcp_info: bool,
    /// The daemon's socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, global = true, help_heading = ENETSTAT)]
    pub(crate) socket: PathBuf,
    /// Network namespaces to show, each in a section of its own: all, an `ip netns` name, a
    /// path (/proc/PID/ns/net, /run/netns/NAME), a PID, or a namespace inode. Without it, the
    /// caller's own, as netstat shows it.
    #[arg(long, value_name = "SPEC", value_parser = NetnsSpec::parse, global = true, help_heading = ENETSTAT)]
    pub(crate) netns: Option<NetnsSpec>,
    /// Colour TCP states: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto", hide_possible_values = true, hide_default_value = true, global = true, help_heading = ENETSTAT)]
    pub(crate) color: ColorArg,
    /// Print help.
    #[arg(short = 'h', long, action = ArgAction::Help, global = true, help_heading = ENETSTAT)]
    help: Option<bool>,
    /// Print version.
    #[arg(short = 'V', long, action = ArgAction::Version, global = true, help_heading = ENETSTAT)]
    version: Option<bool>,
    /// ss's filter expression, e.g. `state established '( dport = :443 or sport = :ssh )'`
    /// (README, "Filters"): its words are joined with spaces.
    #[arg(
        value_name = "FILTER",
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    pub(crate) filter: Vec<String>,
    #[command(subcommand)]
    pub(crate) command: Option<RawCommand>,
}

const ENETSTAT: &str = "enetstat options";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SourceArg {
    Auto,
    Daemon,
    Proc,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RawCommand {
    /// Stream every TCP state transition on this host, live (like tcpstates).
    ///
    /// With --lifetimes, one line per closed connection instead (like tcplife); with
    /// --interfaces, per-interface rates and error/drop events.
    Watch(WatchArgs),
    /// Run the daemon: a live socket table from the probes, answering netstat views.
    Serve(ServeArgs),
    /// Show the daemon's uptime, sockets tracked, events, losses, resyncs and memory.
    Status {
        /// Print the daemon's JSON as it is.
        #[arg(long)]
        json: bool,
        /// Print the daemon's live table instead, one JSON object per socket.
        #[arg(long)]
        table: bool,
    },
    /// Print a completion script for SHELL on standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (enetstat.8 and one per subcommand) into DIR.
    #[command(hide = true)]
    Man { dir: PathBuf },
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Size of the kernel ring buffer: a power of two, with an optional K, M or G suffix.
    #[arg(long, value_name = "BYTES", default_value = DEFAULT_RING_SIZE)]
    pub(crate) ring_size: String,
    /// Serve Prometheus metrics at http://ADDR/metrics: HOST:PORT, [IPV6]:PORT, or PORT alone
    /// for 127.0.0.1:PORT. OpenMetrics when the scraper's Accept asks for it, else the text
    /// format 0.0.4. Off unless given.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    /// TLS and basic authentication for --metrics (https://ADDR/metrics), in the format of
    /// Prometheus's web config file: tls_server_config (cert_file, key_file, optional
    /// client_ca_file and client_auth_type) and basic_auth_users (bcrypt hashes). A bad file is
    /// refused at start-up.
    #[arg(long, value_name = "FILE", requires = "metrics")]
    pub(crate) web_config: Option<PathBuf>,
    /// Label enetstat_connections by the container its sockets' owners run in (RUNTIME:ID, as
    /// --containers shows it; "" outside containers). Off unless given: each container adds a
    /// series per state it has sockets in (README, "Metrics").
    #[arg(long, requires = "metrics")]
    pub(crate) metrics_container_label: bool,
    /// With --metrics-container-label: the most containers labelled by name, those with the most
    /// sockets; the rest are counted as container="other".
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        requires = "metrics_container_label"
    )]
    pub(crate) metrics_max_containers: usize,
    /// Which events to follow, comma-separated: state (transitions, always followed),
    /// retransmit, reset, drop, or all. `status --table` rows gain each socket's counts of the
    /// kinds followed, and --metrics their live totals by namespace (drops also by reason).
    #[arg(long, value_name = "LIST", default_value = "state")]
    pub(crate) events: String,
}

impl RawCommand {
    fn name(&self) -> &'static str {
        match self {
            RawCommand::Watch(_) => "watch",
            RawCommand::Serve(_) => "serve",
            RawCommand::Status { .. } => "status",
            RawCommand::Completions { .. } => "completions",
            RawCommand::Man { .. } => "man",
        }
    }
}

/// A checked request.
#[derive(Debug)]
pub(crate) enum Config {
    /// netstat's views.
    Netstat(NetstatConfig, SnapshotSource),
    /// A netstat view naming families this kernel has no tables for: read here, not asked of
    /// the daemon, and ended as netstat ends it.
    NetstatWithoutTables(NetstatConfig, FamiliesWithoutTables),
    /// netstat's own refusal of an option it takes (`-Z`, an unknown `-A` family): the line it
    /// prints, as it prints it, and exit status 1.
    Refused(String),
    Watch(WatchConfig),
    WatchInterfaces(InterfaceWatchConfig),
    Serve(ServeConfig),
    Status {
        socket: PathBuf,
        json: bool,
        table: bool,
        /// `--netns` with `--table`: only these namespaces' sockets.
        namespaces: Option<NetnsSpec>,
    },
    Completions(clap_complete::Shell),
    Man(PathBuf),
}

impl RawArgs {
    #[cfg(test)]
    /// As [`RawArgs::check_for`] with output that is not a terminal, so `--color auto` is off.
    pub(crate) fn check(self) -> Result<Config, String> {
        self.check_for(&Terminal::default())
    }

    /// `terminal` decides `--color auto`.
    pub(crate) fn check_for(self, terminal: &Terminal) -> Result<Config, String> {
        let color = self.color.enabled(terminal);
        if let Some(command) = &self.command
            && (self.netstat != NetstatArgs::default()
                || self.json
                || self.containers
                || self.tcp_info
                || self.source != SourceArg::Auto)
        {
            return Err(format!(
                "netstat's options, --json, --containers, --tcp-info and --source cannot be used with the subcommand '{}'",
                command.name()
            ));
        }
        if let Some(command) = &self.command
            && !self.filter.is_empty()
        {
            return Err(format!(
                "a filter expression cannot be used with the subcommand '{}'",
                command.name()
            ));
        }
        if let Some(spec) = &self.netns {
            check_netns(spec, self.command.as_ref())?;
        }
        match self.command {
            None => {
                let (mut config, without_tables) = match self.netstat.check_all()? {
                    NetstatParse::View(config, without_tables) => (config, without_tables),
                    NetstatParse::Refused(line) => return Ok(Config::Refused(line)),
                };
                config.flags.color = color;
                if self.netns.is_some()
                    && config.flags.continuous
                    && config.view == crate::snapshot::NetstatView::Interfaces
                {
                    return Err("--netns cannot be used with -ic yet".into());
                }
                config.namespaces = self.netns;
                if !self.filter.is_empty() {
                    let services = crate::sources::names::services::read_port_names();
                    let resolve = |name: &str| services.get(name).copied();
                    config.filter = Some(crate::model::filter::parse(
                        &self.filter.join(" "),
                        &resolve,
                    )?);
                }
                if self.json {
                    config.flags.format = OutputFormat::Json;
                }
                if self.containers {
                    if !config.flags.programs {
                        return Err("--containers needs -p (--programs)".to_string());
                    }
                    config.flags.containers = true;
                }
                if self.tcp_info {
                    check_tcp_info(&config)?;
                    config.flags.tcp_info = true;
                }
                if without_tables != FamiliesWithoutTables::default() {
                    return Ok(Config::NetstatWithoutTables(config, without_tables));
                }
                // The daemon is not sent the filter yet: a filtered view reads the kernel itself.
                // Nor --tcp-info: the daemon keeps no tcp_info, and one that predates the option
                // would refuse the request, so the client reads sock_diag as the daemon would.
                let source = match self.source {
                    SourceArg::Daemon if config.filter.is_some() => {
                        return Err(
                            "a filter expression cannot be used with --source daemon yet".into(),
                        );
                    }
                    SourceArg::Daemon if config.flags.tcp_info => {
                        return Err("--tcp-info cannot be used with --source daemon: it reads sock_diag here".into());
                    }
                    _ if config.filter.is_some() || config.flags.tcp_info => SnapshotSource::Proc,
                    SourceArg::Proc => SnapshotSource::Proc,
                    SourceArg::Daemon => SnapshotSource::Daemon {
                        socket: self.socket,
                    },
                    SourceArg::Auto => SnapshotSource::Auto {
                        socket: self.socket,
                    },
                };
                Ok(Config::Netstat(config, source))
            }
            Some(RawCommand::Watch(args)) if args.interfaces => {
                args.check_interfaces().map(Config::WatchInterfaces)
            }
            Some(RawCommand::Watch(args)) => {
                let mut config = args.check()?;
                config.color = color;
                config.namespaces = self.netns;
                Ok(Config::Watch(config))
            }
            Some(RawCommand::Serve(args)) => Ok(Config::Serve(ServeConfig {
                socket: self.socket,
                ring_bytes: check_ring_size(parse_size(&args.ring_size)?)?,
                metrics: args
                    .metrics
                    .as_deref()
                    .map(parse_metrics_addr)
                    .transpose()?,
                web: args
                    .web_config
                    .as_deref()
                    .map(WebConfig::load)
                    .transpose()?
                    .unwrap_or_default(),
                metrics_containers: args
                    .metrics_container_label
                    .then_some(args.metrics_max_containers),
                check_legacy_args: parse_netstat_args,
                events: EventKinds::parse(&args.events)?,
            })),
            Some(RawCommand::Status { json, table }) => Ok(Config::Status {
                socket: self.socket,
                json,
                table,
                namespaces: self.netns,
            }),
            Some(RawCommand::Completions { shell }) => Ok(Config::Completions(shell)),
            Some(RawCommand::Man { dir }) => Ok(Config::Man(dir)),
        }
    }
}

/// `--tcp-info` describes TCP sockets: refused with a view that lists none (-r, -i, -s, -g, -u,
/// -x, ...) rather than ignored there.
fn check_tcp_info(config: &crate::snapshot::NetstatConfig) -> Result<(), String> {
    let flags = &config.flags;
    let lists_tcp = !flags.named_protocols || flags.tcp;
    if config.view != crate::snapshot::NetstatView::Sockets || !lists_tcp {
        return Err(
            "--tcp-info describes TCP sockets: use it with a listing that shows them (-t)".into(),
        );
    }
    Ok(())
}

/// `--netns SPEC` where a command takes it, naming a namespace that exists (`all` is found when
/// read). Which one a view shows is decided there; this refuses what could never work.
fn check_netns(spec: &NetnsSpec, command: Option<&RawCommand>) -> Result<(), String> {
    match command {
        None | Some(RawCommand::Status { table: true, .. }) => {}
        Some(RawCommand::Watch(args)) if !args.interfaces => {}
        Some(RawCommand::Status { .. }) => {
            return Err("--netns selects sockets: use it with status --table".into());
        }
        Some(command) => {
            return Err(format!(
                "--netns cannot be used with {}{}",
                command.name(),
                if command.name() == "serve" {
                    ": the daemon follows every namespace"
                } else {
                    ""
                }
            ));
        }
    }
    if *spec != NetnsSpec::All {
        netns::resolve(spec).map_err(|err| format!("--netns {}: {err:#}", spec))?;
    }
    Ok(())
}

/// A usage error as one line (clap's first, without its usage and tips). An argument that is not
/// UTF-8 is named, escaped, with the option it was given to.
pub(crate) fn usage_error_line(err: &clap::Error, args: &[std::ffi::OsString]) -> String {
    let rendered = err.render().to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("bad arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" lists them on the lines below.
    let listed: Vec<&str> = lines
        .take_while(|line| line.starts_with("  "))
        .map(str::trim)
        .collect();
    let joined;
    let first = if first.ends_with(':') && !listed.is_empty() {
        joined = format!("{first} {}", listed.join(", "));
        joined.as_str()
    } else {
        first
    };
    let not_utf8 = args.iter().skip(1).position(|arg| arg.to_str().is_none());
    match not_utf8 {
        Some(index)
            if err.kind() == clap::error::ErrorKind::InvalidUtf8 || first.contains('\u{fffd}') =>
        {
            let arg = args[index + 1].as_encoded_bytes();
            let escape = views::escape::escape_bytes;
            let (option, escaped) = match arg.iter().position(|&b| b == b'=') {
                // --option=VALUE
                Some(eq) if arg.starts_with(b"--") => {
                    (Some(escape(&arg[..eq])), escape(&arg[eq + 1..]))
                }
                // --option VALUE, -o VALUE
                _ => (
                    args[index]
                        .to_str()
                        .filter(|prev| index > 0 && takes_a_value(prev))
                        .map(str::to_string),
                    escape(arg),
                ),
            };
            match option {
                Some(option) => format!("{option}: the value '{escaped}' is not UTF-8"),
                None => format!("the argument '{escaped}' is not UTF-8"),
            }
        }
        _ => first.to_string(),
    }
}

/// Whether `option` (`--long`, `-s`, or short flags ending in one) is an option that takes a
/// value, at the top level or in a subcommand.
fn takes_a_value(option: &str) -> bool {
    use clap::CommandFactory as _;
    let command = RawArgs::command();
    let commands = std::iter::once(&command).chain(command.get_subcommands());
    let mut with_values = commands
        .flat_map(|c| c.get_arguments())
        .filter(|arg| arg.get_action().takes_values());
    if let Some(long) = option.strip_prefix("--") {
        with_values.any(|arg| arg.get_long() == Some(long))
    } else if let Some(shorts) = option.strip_prefix('-') {
        let last = shorts.chars().last();
        with_values.any(|arg| arg.get_short().is_some() && arg.get_short() == last)
    } else {
        false
    }
}

/// `--metrics ADDR`: an IP address and port, or a port alone, which means loopback (metrics are
/// not offered to the network unless asked). Host names are refused: resolving one could leave
/// the machine, and the address bound should be the one written.
pub(crate) fn parse_metrics_addr(addr: &str) -> Result<SocketAddr, String> {
    if !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_digit()) {
        return match addr.parse::<u16>() {
            Ok(port) => Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
            Err(_) => Err(format!("--metrics: port {addr} is out of range")),
        };
    }
    addr.parse()
        .map_err(|_| format!("--metrics: expected PORT, IPV4:PORT or [IPV6]:PORT, got {addr:?}"))
}

/// Parses netstat options alone, as protocol version 1 and 2 clients send them to the daemon.
pub(crate) fn parse_netstat_args(args: &[String]) -> Result<NetstatConfig, String> {
    #[derive(Parser)]
    #[command(name = "netstat", no_binary_name = true, disable_version_flag = true)]
    struct NetstatOnly {
        #[command(flatten)]
        netstat: NetstatArgs,
    }
    NetstatOnly::try_parse_from(args)
        .map_err(|err| {
            err.to_string()
                .lines()
                .next()
                .unwrap_or("bad options")
                .to_string()
        })?
        .netstat
        .check()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn metrics_addresses_are_ip_and_port_or_a_port_on_loopback() {
        let ok = |addr: &str| parse_metrics_addr(addr).unwrap().to_string();
        assert_eq!(ok("9464"), "127.0.0.1:9464");
        assert_eq!(ok("0"), "127.0.0.1:0");
        assert_eq!(ok("0.0.0.0:9464"), "0.0.0.0:9464");
        assert_eq!(ok("10.1.2.3:80"), "10.1.2.3:80");
        assert_eq!(ok("[::1]:9464"), "[::1]:9464");
        assert_eq!(ok("[::]:9464"), "[::]:9464");
        for bad in [
            "",
            "65536",
            "localhost:9464",
            "::1:9464",
            "::1",
            "127.0.0.1",
            "127.0.0.1:",
            ":9464",
            "[::1]",
            "127.0.0.1:99999",
            "-1",
            "9464 ",
        ] {
            let err = parse_metrics_addr(bad).unwrap_err();
            assert!(err.starts_with("--metrics: "), "{bad:?}: {err}");
        }
    }

    fn check(args: &[&str]) -> Result<Config, String> {
        let argv = std::iter::once("enetstat").chain(args.iter().copied());
        RawArgs::try_parse_from(argv)
            .map_err(|err| err.to_string())?
            .check()
    }

    #[test]
    fn global_options_come_before_or_after_the_subcommand() {
        for args in [
            &["--socket", "/tmp/x.sock", "status"][..],
            &["status", "--socket", "/tmp/x.sock"],
            &[
                "--color",
                "never",
                "--socket",
                "/tmp/x.sock",
                "status",
                "--json",
            ],
        ] {
            let Ok(Config::Status { socket, .. }) = check(args) else {
                panic!("{args:?}: {:?}", check(args));
            };
            assert_eq!(socket, PathBuf::from("/tmp/x.sock"), "{args:?}");
        }
        assert!(matches!(
            check(&["--color", "always", "watch"]),
            Ok(Config::Watch(config)) if config.color
        ));
        // netstat's options and enetstat's view options still exclude a subcommand.
        for args in [
            &["-t", "status"][..],
            &["-tan", "watch"],
            &["--json", "status"],
            &["--source", "proc", "status"],
            &["-A", "inet", "serve"],
        ] {
            let err = check(args).unwrap_err();
            assert!(
                err.contains("cannot be used with the subcommand"),
                "{args:?}: {err}"
            );
        }
    }

    #[test]
    fn tcp_info_takes_a_tcp_listing_read_here() {
        for args in [
            &["-tanp", "--tcp-info"][..],
            &["--tcp-info"],
            &["-tano", "--tcp-info", "--json"],
            &["-tan", "--tcp-info", "--source", "proc"],
            &["-tc", "--tcp-info"],
        ] {
            let Ok(Config::Netstat(config, source)) = check(args) else {
                panic!("{args:?}: {:?}", check(args));
            };
            assert!(config.flags.tcp_info, "{args:?}");
            // Never asked of the daemon, even where one may run.
            assert!(matches!(source, SnapshotSource::Proc), "{args:?}");
        }
        let Ok(Config::Netstat(config, SnapshotSource::Auto { .. })) = check(&["-tan"]) else {
            panic!("-tan reads the daemon when one runs");
        };
        assert!(!config.flags.tcp_info);
        for args in [
            &["-r", "--tcp-info"][..],
            &["-i", "--tcp-info"],
            &["-s", "--tcp-info"],
            &["-g", "--tcp-info"],
            &["-uan", "--tcp-info"],
            &["-x", "--tcp-info"],
        ] {
            let err = check(args).unwrap_err();
            assert!(
                err.starts_with("--tcp-info describes TCP sockets"),
                "{args:?}: {err}"
            );
        }
        let err = check(&["-tan", "--tcp-info", "--source", "daemon"]).unwrap_err();
        assert!(err.contains("--source daemon"), "{err}");
        let err = check(&["--tcp-info", "status"]).unwrap_err();
        assert!(err.contains("cannot be used with the subcommand"), "{err}");
    }

    #[test]
    fn the_daemon_parses_netstat_options_alone() {
        assert!(
            parse_netstat_args(&strings(&["-tanp"]))
                .unwrap()
                .flags
                .programs
        );
        assert!(parse_netstat_args(&strings(&["--bogus"])).is_err());
        assert!(parse_netstat_args(&strings(&["watch"])).is_err());
    }

    /// A version 1 or 2 client's request, checked where the daemon reads it, is the request this
    /// version's client sends for the same command line.
    #[test]
    fn an_old_clients_command_line_becomes_the_request_a_new_client_sends() {
        use crate::sources::daemon::protocol::{Decoded, Request, SnapshotRequest, decode_request};
        for (command_line, old_line) in [
            (
                &["-tanp", "-W"][..],
                &br#"{"version":1,"request":"snapshot","args":["-tanp","-W"]}"#[..],
            ),
            (
                &["-s", "-6", "--json"],
                br#"{"version":2,"request":"snapshot","args":["-s","-6"],"format":"json"}"#,
            ),
            (
                &["-rn", "--color", "always"],
                br#"{"version":1,"request":"snapshot","args":["-rn"],"color":true}"#,
            ),
            (
                &["-ie"],
                br#"{"version":1,"request":"snapshot","args":["-ie"]}"#,
            ),
            (
                &["-g", "--json"],
                br#"{"version":2,"request":"snapshot","args":["-g"],"format":"json"}"#,
            ),
        ] {
            let argv = std::iter::once("enetstat").chain(command_line.iter().copied());
            let Ok(Config::Netstat(config, _)) = RawArgs::try_parse_from(argv).unwrap().check()
            else {
                panic!("{command_line:?} is not a netstat view");
            };
            let new = Request::Snapshot(SnapshotRequest {
                view: config.view,
                flags: config.flags,
                hide_inodes: Vec::new(),
                netns: None,
                namespaces: None,
            });
            let Ok(Decoded::Legacy(old)) = decode_request(&[old_line, b"\n"].concat()) else {
                panic!(
                    "{} is not a legacy request",
                    String::from_utf8_lossy(old_line)
                );
            };
            assert_eq!(old.upgrade(parse_netstat_args), Ok(new), "{command_line:?}");
        }
        let bad = decode_request(b"{\"version\":1,\"request\":\"snapshot\",\"args\":[\"-M\"]}\n");
        let Ok(Decoded::Legacy(bad)) = bad else {
            panic!("{bad:?}");
        };
        assert_eq!(
            bad.upgrade(parse_netstat_args).unwrap_err().to_string(),
            "-M: masquerading is not supported by this kernel"
        );
    }
}
