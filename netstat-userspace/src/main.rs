use std::process::ExitCode;

use clap::Parser as _;
use enetstat::{
    cli::{Config, RawArgs, color::Terminal, docs},
    commands, logging, output,
};

fn main() -> ExitCode {
    logging::init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let config = match RawArgs::parse().check_for(&argv, &Terminal::detect()) {
        Ok(config) => config,
        Err(message) => {
            logging::fatal(&message);
            return ExitCode::from(2);
        }
    };
    exit_with(match config {
        // No async runtime here: its drivers open sockets of their own, which a UNIX socket
        // listing of this very process would show.
        Config::Netstat(config, _) if config.flags.continuous => {
            in_runtime(commands::continuous::run(config))
        }
        Config::Netstat(config, source) => commands::snapshot::run(config, &source),
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
