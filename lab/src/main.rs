//! The `trickles-lab` executable: installs the Ctrl-C handler, parses the command line, runs
//! the scenario and prints errors for humans (see the library documentation for usage).

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    // The QUIC baseline's programs keep the default SIGTERM (they are stopped with it);
    // everything else waits on children and turns SIGINT/SIGTERM into a clean stop.
    let handlers = if cli.is_quic_program() {
        Ok(())
    } else {
        trickles_lab::interrupt::install_handlers().map_err(trickles_lab::LabError::from)
    };
    let result = handlers.and_then(|()| cli::run(cli));
    if let Err(error) = result {
        eprintln!("trickles-lab: {error}");
        std::process::exit(error.exit_code());
    }
}
