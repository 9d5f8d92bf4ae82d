use std::process::ExitCode;

use clap::Parser as _;
use enetstat::{
    cli::{Config, RawArgs},
    commands, output,
};

fn main() -> ExitCode {
    let config = match RawArgs::parse().check() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("enetstat: {message}");
            return ExitCode::from(2);
        }
    };
    let config = match config {
        Config::Netstat(config) => return exit_with(commands::snapshot::run(config)),
        Config::Watch(config) => config,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("enetstat: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    exit_with(runtime.block_on(commands::watch::run(config)))
}

fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("enetstat: {err:#}");
            ExitCode::FAILURE
        }
    }
}
