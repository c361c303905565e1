//! The `trickles-server` executable: parses the command line, sets up logging and runs either
//! `keygen` or the server (see the library documentation for usage).

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use trickles_server::cli::{Cli, Command};
use trickles_server::{keygen, service, ServerError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Some(Command::Keygen(args)) => keygen::keygen(&args).map(|keys| {
            println!(
                "{}: current epoch {}{}",
                args.output.display(),
                keys.current.epoch,
                keys.previous
                    .map(|k| format!(", also accepts epoch {}", k.epoch))
                    .unwrap_or_default()
            );
        }),
        None => run(cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: trickles_server::cli::RunArgs) -> Result<(), ServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trickles-server")
        .build()
        .map_err(|source| ServerError::Runtime {
            what: "the tokio runtime",
            source,
        })?;
    runtime.block_on(service::run_until_signalled(args))
}
