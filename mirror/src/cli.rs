//! The command line of `trickles-mirror`.
//!
//! ```text
//! trickles-mirror --config mirror.yaml                  # run
//! trickles-mirror --config mirror.yaml --check          # validate the file and exit
//! trickles-mirror --config mirror.yaml --listen 127.0.0.1:0 --metrics 127.0.0.1:0
//! ```
//!
//! Flags override the file's `listen`, `metrics` and `workers`. The peers, the emulated path
//! and the limits come from the file only, and are reloaded on `SIGHUP` or when the file
//! changes (the listen addresses, workers and metrics address need a restart).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Stateless packet mirror with WAN emulation (delay, jitter, loss, duplication, reordering,
/// rate) for Trickles and tunnelled IP traffic.
#[derive(Clone, Debug, Parser)]
#[command(name = "trickles-mirror", version)]
pub struct Cli {
    /// The YAML configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// UDP listen address (repeatable); replaces the file's `listen`.
    #[arg(long)]
    pub listen: Vec<SocketAddr>,
    /// Metrics endpoint address; replaces the file's `metrics`.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Datapath threads per listen address; replaces the file's `workers`.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Poll the configuration file for changes this often (milliseconds; 0: SIGHUP only).
    #[arg(long, default_value_t = 1000)]
    pub watch_ms: u64,
    /// Validate the configuration, print a summary and exit.
    #[arg(long)]
    pub check: bool,
}
