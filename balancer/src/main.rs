//! The `trickles-balancer` executable: parses the command line, sets up logging and runs the
//! balancer until a signal stops it (see the library documentation for usage).

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use trickles_balancer::cli::Cli;
use trickles_balancer::config::BalancerConfig;
use trickles_balancer::{service, BalancerError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = if cli.check {
        BalancerConfig::load(&cli.config)
            .map(|config| {
                println!(
                    "{}: valid; {:?} policy, {:?} mode, {} backends, table size {}",
                    cli.config.display(),
                    config.policy,
                    config.mode,
                    config.backends.len(),
                    config.table_size
                );
            })
            .map_err(BalancerError::from)
    } else {
        run(cli)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles-balancer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), BalancerError> {
    // The control plane (probes, reloads, metrics) is light: two threads are plenty. The
    // datapath runs on its own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("balancer-control")
        .build()
        .map_err(|source| BalancerError::Runtime {
            what: "the tokio runtime",
            source,
        })?;
    runtime.block_on(service::run_until_signalled(cli.config))
}
