//! The `trickles-anycast` executable: parses the command line, sets up logging and runs the
//! controller until a signal stops it, checks a configuration, or drains a running controller.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use trickles_anycast::cli::{Action, Cli};
use trickles_anycast::{drain, service, AnycastError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match (&cli.command, cli.check) {
        (Some(Action::Drain { timeout_s }), _) => run_drain(&cli, Duration::from_secs(*timeout_s)),
        (None, true) => check(&cli),
        (None, false) => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles-anycast: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(cli: &Cli) -> Result<(), AnycastError> {
    let config = cli.overrides().load(&cli.config)?;
    println!("{}: valid", cli.config.display());
    for a in &config.announcements {
        let prefixes: Vec<String> = a.prefixes.iter().map(ToString::to_string).collect();
        println!(
            "  protocol {} ({}): {} via BFD {}, {} checks, {} needed",
            a.protocol,
            a.family.name(),
            prefixes.join(" "),
            a.bfd_address
                .map_or_else(|| "-".to_owned(), |b| b.to_string()),
            a.checks.len(),
            a.min_healthy
        );
    }
    Ok(())
}

fn run_drain(cli: &Cli, timeout: Duration) -> Result<(), AnycastError> {
    let config = cli.overrides().load(&cli.config)?;
    let path = config.state_file.ok_or_else(|| AnycastError::StateFile {
        path: cli.config.clone(),
        reason: "no state_file in the configuration (or --state-file): cannot find the controller"
            .into(),
    })?;
    let state = drain::drain(&path, timeout)?;
    println!("drained: safe to stop (pid {})", state.pid);
    Ok(())
}

fn run(cli: Cli) -> Result<(), AnycastError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("anycast-control")
        .build()
        .map_err(|source| AnycastError::Runtime {
            what: "the tokio runtime".into(),
            source,
        })?;
    let overrides = cli.overrides();
    runtime.block_on(service::run_until_signalled(cli.config, overrides))
}
