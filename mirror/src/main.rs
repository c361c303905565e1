//! The `trickles-mirror` executable: parse the command line, set up logging, validate the
//! configuration and run the mirror until signalled (see [`trickles_mirror::cli`]).

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use trickles_mirror::cli::Cli;
use trickles_mirror::service;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = match service::settings(&cli) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("trickles-mirror: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.check {
        println!(
            "{}: ok: {}",
            cli.config.display(),
            service::summary(&settings)
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("trickles-mirror")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("trickles-mirror: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service::run_until_signalled(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles-mirror: {e}");
            ExitCode::FAILURE
        }
    }
}
