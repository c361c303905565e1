//! [`ScenarioOutcome`]: what a scenario run produced, gathered from the network when the run
//! stops: the client's status and bytes (compared with the object), its counters and progress,
//! and the counters of the links, the network and every replica.

use std::fmt;
use std::net::SocketAddr;

use trickles_link::LinkStats;

use super::client_node::{ClientNode, Progress};
use super::network::{Network, NetworkStats, SimError};
use super::scenario::Scenario;
use super::server_node::{ServerNode, ServerNodeStats};
use crate::app::MemoryApplication;
use crate::client::{ClientStats, ClientStatus};
use crate::time::{Duration, Instant};

/// What happened in a scenario.
#[derive(Clone, Debug)]
pub struct ScenarioOutcome {
    /// The scenario's seed.
    pub seed: u64,
    /// Final client status (`None` if the network could not be built).
    pub status: Option<ClientStatus>,
    /// Setup error, if the network could not be built.
    pub setup_error: Option<SimError>,
    /// Object length.
    pub expected_len: usize,
    /// Bytes the client read.
    pub received_len: usize,
    /// Whether the bytes read equal the object exactly.
    pub byte_exact: bool,
    /// First offset where the bytes read differ from the object (or where they stop short).
    pub first_mismatch: Option<usize>,
    /// When the client finished (done or failed).
    pub finished_at: Option<Instant>,
    /// Virtual time when the run stopped.
    pub stopped_at: Instant,
    /// Client counters.
    pub client: ClientStats,
    /// When the stream grew.
    pub progress: Vec<Progress>,
    /// Addresses that answered the client.
    pub answered_by: Vec<SocketAddr>,
    /// Sum of all link counters.
    pub links: LinkStats,
    /// Network counters.
    pub network: NetworkStats,
    /// Counters of each replica's current incarnation.
    pub servers: Vec<ServerNodeStats>,
    /// Digest of the whole run.
    pub trace_digest: u64,
    /// Number of events processed.
    pub events: u64,
}

impl ScenarioOutcome {
    /// Whether the client completed and read exactly the object.
    pub fn succeeded(&self) -> bool {
        self.status == Some(ClientStatus::Done) && self.byte_exact
    }

    /// Completion time, if the transfer succeeded.
    pub fn completion_time(&self) -> Option<Duration> {
        self.finished_at
            .filter(|_| self.succeeded())
            .map(|at| at.saturating_since(Instant(0)))
    }

    pub(super) fn setup_failed(scenario: &Scenario, error: SimError) -> Self {
        Self {
            seed: scenario.seed,
            status: None,
            setup_error: Some(error),
            expected_len: scenario.object_len,
            received_len: 0,
            byte_exact: false,
            first_mismatch: Some(0),
            finished_at: None,
            stopped_at: Instant(0),
            client: ClientStats::default(),
            progress: Vec::new(),
            answered_by: Vec::new(),
            links: LinkStats::default(),
            network: NetworkStats::default(),
            servers: Vec::new(),
            trace_digest: 0,
            events: 0,
        }
    }

    pub(super) fn collect(scenario: &Scenario, net: &Network) -> Self {
        let object = scenario.object();
        let client = net.node::<ClientNode>(scenario.client_addr());
        let data = client.map_or(&[][..], ClientNode::data);
        let first_mismatch = data
            .iter()
            .zip(&object)
            .position(|(got, want)| got != want)
            .or_else(|| (data.len() != object.len()).then(|| data.len().min(object.len())));
        let servers = (0..scenario.replicas.max(1))
            .filter_map(|i| net.node::<ServerNode<MemoryApplication>>(scenario.replica_addr(i)))
            .map(|server| server.stats().clone())
            .collect();
        Self {
            seed: scenario.seed,
            status: client.map(|c| c.connection().status()),
            setup_error: None,
            expected_len: object.len(),
            received_len: data.len(),
            byte_exact: first_mismatch.is_none(),
            first_mismatch,
            finished_at: client.and_then(ClientNode::finished_at),
            stopped_at: net.now(),
            client: client.map(|c| c.connection().stats()).unwrap_or_default(),
            progress: client.map(|c| c.progress().to_vec()).unwrap_or_default(),
            answered_by: client
                .map(|c| c.answered_by().iter().copied().collect())
                .unwrap_or_default(),
            links: net.total_link_stats(),
            network: net.stats(),
            servers,
            trace_digest: net.trace_digest(),
            events: net.trace_event_count(),
        }
    }
}

impl fmt::Display for ScenarioOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(error) = &self.setup_error {
            return write!(f, "seed {}: setup failed: {error}", self.seed);
        }
        write!(
            f,
            "seed {}: {:?}, {}/{} B{}",
            self.seed,
            self.status,
            self.received_len,
            self.expected_len,
            if self.byte_exact { " byte-exact" } else { "" }
        )?;
        if let Some(offset) = self.first_mismatch {
            write!(f, " (first difference at byte {offset})")?;
        }
        match self.finished_at {
            Some(at) => write!(f, ", finished at {} ms", at.micros() / 1000)?,
            None => write!(f, ", unfinished at {} ms", self.stopped_at.micros() / 1000)?,
        }
        let c = &self.client;
        write!(
            f,
            "; client: {} pkts ({} dup, {} retx), {} requests, {} losses, {} timeouts, {} hellos, \
             {} resumes, srtt {} ms",
            c.packets_received,
            c.duplicate_packets,
            c.retransmissions,
            c.requests_sent,
            c.loss_events,
            c.timeouts,
            c.hellos_sent,
            c.resumes,
            c.srtt_micros / 1000
        )?;
        let l = &self.links;
        write!(
            f,
            "; links: {} sent, {} queue drops, {} random, {} burst, {} scripted, {} dup, {} reordered",
            l.sent,
            l.dropped_queue_full,
            l.dropped_random,
            l.dropped_burst,
            l.dropped_scripted,
            l.duplicated,
            l.reordered
        )?;
        let n = &self.network;
        write!(
            f,
            "; network: {} at down node, {} crashes, {} restarts",
            n.dropped_at_down_node, n.crashes, n.restarts
        )?;
        for (index, server) in self.servers.iter().enumerate() {
            write!(
                f,
                "; replica {index}: {} in, {} out, drops {:?}",
                server.received, server.sent, server.dropped
            )?;
        }
        Ok(())
    }
}
