//! [`ExperimentCommand`]: the `trickles-lab exp ...` subcommands and their dispatch. Each
//! experiment owns its flags (a clap `Args` struct in its module) and its report.

use clap::Subcommand;

use crate::error::Result;

/// `trickles-lab exp NAME`.
#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Server memory (RSS + socket memory) against 1 … 10,000 concurrent clients.
    Memory(super::memory::MemoryArgs),
    /// Aggregate throughput against concurrent clients over a 100 Mbit/s bottleneck.
    Throughput(super::throughput::ThroughputArgs),
    /// The server SIGKILLed at t = 10 s and restarted: Trickles (unmodified client) against TCP
    /// (client resuming with HTTP range requests), recovery times.
    Failover(super::failover::FailoverArgs),
    /// A replica of a balanced pool (Maglev, 3 replicas) killed mid-transfer: stall and bytes
    /// lost.
    Pool(super::pool::PoolArgs),
    /// One foreground flow (Trickles or TCP) against 0 … 16 background TCP flows through the
    /// mirror: its throughput against the fair share, and Jain's fairness index.
    Friendliness(super::friendliness::FriendlinessArgs),
    /// Transfer throughput by round-trip time, 25 … 225 ms emulated by the packet mirror (the
    /// paper's PlanetLab figure).
    Wan(super::wan::WanArgs),
    /// One anycast address served by two or three sites (BIRD, trickles-anycast, balancer,
    /// replicas); the serving site fails, is drained, or a second site joins (ECMP)
    /// mid-transfer: Trickles against TCP.
    Anycast(super::anycast::AnycastArgs),
}

/// Runs one experiment; its table goes to stdout, progress to stderr.
pub fn run(command: &ExperimentCommand) -> Result<()> {
    match command {
        ExperimentCommand::Memory(args) => super::memory::run(args).map(drop),
        ExperimentCommand::Throughput(args) => super::throughput::run(args).map(drop),
        ExperimentCommand::Failover(args) => super::failover::run(args).map(drop),
        ExperimentCommand::Pool(args) => super::pool::run(args).map(drop),
        ExperimentCommand::Friendliness(args) => super::friendliness::run(args).map(drop),
        ExperimentCommand::Wan(args) => super::wan::run(args).map(drop),
        ExperimentCommand::Anycast(args) => super::anycast::run(args).map(drop),
    }
}
