//! The `trickles-lab` executable: installs the Ctrl-C handler, parses the command line, runs
//! the scenario and prints errors for humans (see the library documentation for usage).

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let result = trickles_lab::interrupt::install_handlers()
        .map_err(trickles_lab::LabError::from)
        .and_then(|()| cli::run(cli));
    if let Err(error) = result {
        eprintln!("trickles-lab: {error}");
        std::process::exit(error.exit_code());
    }
}
