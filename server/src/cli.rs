//! The command line of `trickles-server` (clap). Running the server takes the flags below, which
//! override the YAML file given with `--config`; `keygen` writes or rotates a key file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Stateless Trickles server over UDP, with a static web application and an HTTP/TCP baseline.
#[derive(Debug, Parser)]
#[command(
    name = "trickles-server",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A subcommand; without one the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of the running server.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new key file, or rotate the key of an existing one.
    Keygen(KeygenArgs),
}

/// Flags of the running server; each overrides the same setting of the `--config` file.
#[derive(Clone, Debug, Default, Args)]
pub struct RunArgs {
    /// YAML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// UDP address to serve Trickles on (IPv4 or IPv6; repeat for several).
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Directory whose files are served.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Key file shared by the replicas (see `keygen`).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Address of the Prometheus `/metrics` and `/healthz` endpoint.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// TCP address of the HTTP/1.1 baseline serving the same files.
    #[arg(long, value_name = "ADDR")]
    pub tcp_listen: Option<SocketAddr>,
    /// A trickles-balancer relaying to this server: its encapsulation header (the client's
    /// address) is trusted from this address only (repeat for several).
    #[arg(long = "balancer", value_name = "ADDR")]
    pub balancers: Vec<SocketAddr>,
    /// The pool key file shared with the balancer (`id:` and `secret:`): encapsulated
    /// datagrams must carry its hop tag, relayed replies get it. Without it the header is
    /// trusted by source address alone (--balancer).
    #[arg(long, value_name = "FILE")]
    pub pool_key: Option<PathBuf>,
    /// Direct server return: answer requests a trickles-balancer forwards with the
    /// DIRECT_RETURN flag from this VIP:PORT, the address clients sent them to (one IPv4 and/or
    /// one IPv6). The VIP must be on a local interface, as in LVS-DR: `ip addr add VIP/32 dev
    /// lo`. Without it such requests are answered from the listen address.
    #[arg(long = "dsr-vip", value_name = "VIP:PORT")]
    pub dsr_vips: Vec<SocketAddr>,
    /// Bind the --dsr-vip addresses even before they are on a local interface (IP_FREEBIND):
    /// the server may start first; IPv4 direct replies fail until the VIP is added.
    #[arg(long)]
    pub dsr_vip_freebind: bool,
    /// UDP worker threads per listen address (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Payload bytes per Trickles data packet.
    #[arg(long, value_name = "N")]
    pub mss: Option<usize>,
    /// Requests per 32 s (freshness + clock skew) the replay filter is sized for (default
    /// 1048576); beyond it valid requests start to be dropped as replays.
    #[arg(long, value_name = "N")]
    pub replay_capacity: Option<usize>,
    /// Serve the UDP listen addresses together with another process already serving them
    /// (SO_REUSEPORT: the kernel splits the clients between the processes). Without it an
    /// address already in use is refused.
    #[arg(long)]
    pub share_port: bool,
    /// Directory of source images for the watermarking application (`/wm/<image>?text=...`).
    #[arg(long, value_name = "DIR")]
    pub watermark_root: Option<PathBuf>,
    /// Font the watermark text is drawn in (default: DejaVu Sans Bold).
    #[arg(long, value_name = "FILE")]
    pub watermark_font: Option<PathBuf>,
    /// Render cache budget of the watermarking application, in MiB.
    #[arg(long, value_name = "MB")]
    pub watermark_cache_mb: Option<u64>,
}

/// Flags of `keygen`.
#[derive(Clone, Debug, Args)]
pub struct KeygenArgs {
    /// The key file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Epoch of the new key (default: 1 for a new file, current + 1 when rotating).
    #[arg(long, value_name = "N")]
    pub epoch: Option<u8>,
    /// Add a new current key to the existing file, keeping its current key as the previous one.
    #[arg(long, conflicts_with_all = ["stage", "promote"])]
    pub rotate: bool,
    /// Add a new key that is accepted but does not seal yet (stage one of a drop-free rotation).
    #[arg(long, conflicts_with = "promote")]
    pub stage: bool,
    /// Make the accepted-only key current, keeping the current one accepted (stage two).
    #[arg(long, conflicts_with = "epoch")]
    pub promote: bool,
    /// Remove the previous key: it opens no continuation from the next reload on.
    #[arg(long, conflicts_with_all = ["rotate", "stage", "promote", "epoch"])]
    pub retire: bool,
    /// Seconds the old key stays accepted after `--rotate` or `--promote` (default 32: the
    /// freshness limit plus the clock skew).
    #[arg(long, value_name = "SECONDS")]
    pub accept_previous_for: Option<u64>,
    /// Overwrite an existing file instead of refusing (when creating a new file).
    #[arg(long)]
    pub force: bool,
}
