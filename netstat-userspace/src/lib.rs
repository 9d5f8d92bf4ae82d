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
        } => commands::status::run(&socket, json, table),
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
