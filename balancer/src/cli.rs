//! The command line of `trickles-balancer` (clap): a configuration file, and `--check` to
//! validate one and exit.

use std::path::PathBuf;

use clap::Parser;

/// Stateless load balancer for a Trickles replica pool.
#[derive(Debug, Parser)]
#[command(name = "trickles-balancer", version)]
pub struct Cli {
    /// YAML configuration file (see the crate documentation for its keys).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Validate the configuration, print the pool and exit (0 when valid).
    #[arg(long)]
    pub check: bool,
}
