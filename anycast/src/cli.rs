//! The command line of `trickles-anycast` (clap): a configuration file, overrides the lab and
//! operators use without editing it, `--check`, and the `drain` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::service::Overrides;

/// Anycast controller of a Trickles site: announces the service prefixes through BIRD while
/// the site is healthy.
#[derive(Debug, Parser)]
#[command(name = "trickles-anycast", version)]
pub struct Cli {
    /// YAML configuration file (see docs/ANYCAST.md and anycast/examples/anycast.yaml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Validate the configuration, print what it announces and exit (0 when valid).
    #[arg(long)]
    pub check: bool,
    /// Serve /metrics and /healthz here (overrides `metrics`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// BIRD's control socket (overrides `bird.socket`).
    #[arg(long, value_name = "PATH")]
    pub bird_socket: Option<PathBuf>,
    /// State file (overrides `state_file`).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Action>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Drain the running controller (found through the state file): withdraw every prefix,
    /// wait `drain_wait_ms`, and return once it reports the site safe to stop.
    Drain {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_s: u64,
    },
}

impl Cli {
    /// The overrides given.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            metrics: self.metrics,
            bird_socket: self.bird_socket.clone(),
            state_file: self.state_file.clone(),
        }
    }
}
