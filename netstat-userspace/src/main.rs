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
    let result = runtime.block_on(async {
        match config {
            Config::Watch(config) => commands::watch::run(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("enetstat: {err:#}");
            ExitCode::FAILURE
        }
    }
}
