//! enetstat: an eBPF-backed, live replacement for netstat.
//!
//! Layers, top to bottom (README, "Layout"; `tests/layers.rs` checks every import against them):
//! - [`cli`]: clap's raw arguments, then the checked configuration of each command;
//! - [`commands`]: wiring only;
//! - [`daemon`]: the live table served over a socket and as metrics;
//! - [`snapshot`]: one netstat view read from the sources and rendered, for the CLI and the daemon;
//! - [`views`]: renderers (tables, JSON, metrics) over model rows;
//! - [`aggregator`]: state derived from events (pure state machines);
//! - [`sources`]: /proc, netlink, the probes' ring buffer, the daemon's socket;
//! - [`events`] and [`probes`]: the probes' records decoded, and the kernel programs loaded;
//! - [`model`]: the types every layer shares.
//!
//! Everything is `pub(crate)`: the binary calls [`main`], and the root tests use the few items
//! re-exported here.

mod aggregator;
mod cli;
mod commands;
mod daemon;
mod events;
mod logging;
mod model;
mod output;
mod probes;
mod snapshot;
mod sources;
mod views;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Config, RawArgs, color::Terminal, docs};

pub use crate::{
    model::{TcpState, interfaces::DevStats},
    sources::{
        daemon::DEFAULT_SOCKET,
        proc::{dev::InterfaceList, inet_sockets},
    },
    views::{color::strip_sgr, escape::escape_controls},
};

/// Entry points for the cargo-fuzz targets in `netstat-userspace/fuzz/` (built with the
/// `fuzzing` feature): untrusted bytes in, nothing out. Each runs one decoder the way the
/// program does; a panic, an overflow or a hang is the finding. Not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api {
    use crate::{
        daemon::metrics_http,
        events::{TcpTransition, health::LiveEvent, interface::InterfaceEvent},
        probes::btf::Btf,
        sources::{
            daemon::protocol,
            netlink::{link, sock_diag},
            proc::{dev, igmp, inet_sockets, owners, route, snmp, unix_sockets},
        },
    };

    /// A control-socket request line, as the daemon decodes it, and a response header, as the
    /// client does.
    pub fn control_request(data: &[u8]) {
        let _ = protocol::decode_request(data);
        let _ = protocol::decode_header(data);
    }

    /// A metrics HTTP request head.
    pub fn metrics_head(data: &[u8]) {
        let _ = metrics_http::route(data);
    }

    /// /proc/net/tcp, tcp6, udp, udp6, raw, raw6 (read as text, as the snapshot does).
    pub fn proc_inet_sockets(data: &[u8]) {
        let _ = inet_sockets::parse(&String::from_utf8_lossy(data));
    }

    pub fn proc_unix_sockets(data: &[u8]) {
        let _ = unix_sockets::parse(data);
    }

    /// /proc/net/dev and /proc/net/if_inet6.
    pub fn proc_dev(data: &[u8]) {
        dev::InterfaceList::default().add_proc_dev(data);
        let _ = dev::parse_if_inet6(data);
    }

    /// /proc/net/route, rt_cache and ipv6_route.
    pub fn proc_route(data: &[u8]) {
        let _ = route::parse_ipv4_routes(data);
        let _ = route::ipv4_cache_header(data);
        let _ = route::parse_ipv4_cache(data);
        let _ = route::parse_ipv6_routes(data);
    }

    /// /proc/net/igmp, then igmp6: the bytes before the first NUL are one, the rest the other
    /// (netstat's line state carries over from one file to the next).
    pub fn proc_igmp(data: &[u8]) {
        let (igmp, igmp6) = match data.iter().position(|&b| b == 0) {
            Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
            None => (data, None),
        };
        let _ = igmp::parse_memberships(Some(igmp), igmp6);
        let _ = igmp::parse_memberships(None, Some(igmp));
    }

    /// /proc/net/snmp, netstat (line pairs), snmp6 and sctp/snmp (name value lines).
    pub fn proc_snmp(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let _ = snmp::parse_line_pairs(&text);
        let _ = snmp::parse_name_value_lines(&text);
    }

    /// /proc/PID/fd link targets and /proc/PID/cmdline.
    pub fn proc_owners(data: &[u8]) {
        let _ = owners::socket_inode(data);
        let pid = data
            .get(..4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let _ = owners::owner_from_cmdline(pid, data);
    }

    /// One received NETLINK_SOCK_DIAG buffer.
    pub fn netlink_sock_diag(data: &[u8]) {
        sock_diag::decode(data, &mut sock_diag::Decoded::default());
    }

    /// One received rtnetlink buffer of link messages.
    pub fn netlink_link(data: &[u8]) {
        let _ = link::decode(data, &mut Vec::new(), &mut false);
    }

    /// /sys/kernel/btf/vmlinux, and the look-ups the probes make in it.
    pub fn btf(data: &[u8]) {
        let Ok(btf) = Btf::parse(data) else {
            return;
        };
        for (name, member) in [
            ("sock", "__sk_common"),
            ("sock_common", "skc_net"),
            ("net", "ns"),
            ("ns_common", "inum"),
            ("tcp_sock", "inet_conn"),
            ("sk_buff", "dev"),
            ("net_device", "name"),
            ("outer", "y"),
        ] {
            let _ = btf.member_offset(name, member);
        }
        for name in ["sock_flags", "skb_drop_reason"] {
            let _ = btf.enum_values(name);
        }
    }

    /// One ring-buffer record, decoded as each ring's record type.
    pub fn ring_record(data: &[u8]) {
        let _ = TcpTransition::decode(data);
        let _ = LiveEvent::decode(data);
        let _ = InterfaceEvent::decode(data);
    }
}

/// The `enetstat` program: arguments in, an exit status out.
pub fn main() -> ExitCode {
    logging::init();
    // Arguments as the OS gave them: any bytes (paths need not be UTF-8); clap checks the rest.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let raw = match RawArgs::try_parse_from(&args) {
        Ok(raw) => raw,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            logging::fatal(&cli::usage_error_line(&err, &args));
            return ExitCode::from(2);
        }
    };
    let config = match raw.check_for(&Terminal::detect()) {
        Ok(config) => config,
        Err(message) => {
            logging::fatal(&message);
            return ExitCode::from(2);
        }
    };
    exit_with(match config {
        // No async runtime here: its drivers open sockets of their own, which a UNIX socket
        // listing of this very process would show.
        Config::Netstat(config, _)
            if config.flags.continuous && commands::continuous::follows_events(&config) =>
        {
            in_runtime(commands::continuous::run(config))
        }
        Config::Netstat(config, _) if config.flags.continuous => {
            commands::continuous::refresh(config)
        }
        Config::Netstat(config, source) => commands::snapshot::run(config, &source),
        Config::NetstatWithoutTables(config, families) => {
            commands::snapshot::run_without_tables(config, &families)
        }
        Config::Refused(line) => {
            // netstat's line as netstat prints it (no program name), so scripts see its bytes.
            eprintln!("{line}");
            return ExitCode::FAILURE;
        }
        Config::Status {
            socket,
            json,
            table,
            namespaces,
        } => commands::status::run(&socket, json, table, namespaces),
        Config::Watch(config) => in_runtime(commands::watch::run(config)),
        Config::WatchInterfaces(config) => in_runtime(commands::interfaces::watch(config)),
        Config::Serve(config) => in_runtime(commands::serve::run(config)),
        Config::Completions(shell) => {
            docs::write_completions(shell, &mut output::stdout()).map_err(Into::into)
        }
        Config::Man(dir) => docs::write_man_pages(&dir)
            .map(|_| ())
            .map_err(|err| anyhow::anyhow!("writing man pages into {}: {err}", dir.display())),
    })
}

fn in_runtime(task: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| anyhow::anyhow!("starting the runtime: {err}"))?
        .block_on(task)
}

fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            logging::fatal(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}
