use std::process::ExitCode;

use clap::Parser as _;
use enetstat::{
    cli::{Config, RawArgs},
    commands, output,
};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let config = match RawArgs::parse().check(&argv) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("enetstat: {message}");
            return ExitCode::from(2);
        }
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
    exit_with(match config {
        Config::Netstat(config, source) => commands::snapshot::run(config, &source),
        Config::Status { socket, json } => commands::status::run(&socket, json),
        Config::Watch(config) => runtime.block_on(commands::watch::run(config)),
        Config::Serve(config) => runtime.block_on(commands::serve::run(config)),
    })
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
