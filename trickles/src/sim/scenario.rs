//! End-to-end scenarios: one Trickles client fetching one object from a replica pool through a
//! simulated network, checked byte for byte.
//!
//! A [`Scenario`] is plain data (network conditions, pool, crash schedule, object size), so a
//! test can write one by hand, and [`Scenario::from_seed`] draws one from a seed (see
//! `scenario_seeded.rs`). [`Scenario::run`] builds the network, runs it on the virtual clock
//! until the client is done, has failed, or the virtual deadline passes, and reports a
//! [`ScenarioOutcome`] (see `scenario_outcome.rs`). Everything, the object's bytes and the keys included, derives from
//! `seed`: the same scenario always runs the same way (compare
//! [`ScenarioOutcome::trace_digest`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trickles_link::LinkConfig;

use super::client_node::ClientNode;
use super::describe::describe_datagram;
use super::network::{Network, SimError};
use super::scenario_outcome::ScenarioOutcome;
use super::server_node::ServerNode;
use super::service::{ReplicaPolicy, ServiceConfig};
use super::trace::TraceRecord;
use crate::app::MemoryApplication;
use crate::client::{ClientConfig, ClientConnection};
use crate::crypto::{Key, KeyRing};
use crate::server::{ServerConfig, ServerEndpoint};
use crate::time::{Duration, Instant};

/// The request the client sends (the object's name in the server's application).
pub const OBJECT_NAME: &[u8] = b"/object";

/// Replica `replica` (index in the pool) crashes at `at` and, unless `down_for` is `None`,
/// is rebuilt from scratch (no soft state) `down_for` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaCrash {
    /// Index of the replica in the pool.
    pub replica: usize,
    /// When it crashes.
    pub at: Instant,
    /// How long it stays down; `None` for ever.
    pub down_for: Option<Duration>,
}

/// One client, one object, one replica pool, one set of network conditions.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Seed of every random choice of the run (links, replica choice, object bytes, keys).
    pub seed: u64,
    /// Size of the object the client fetches.
    pub object_len: usize,
    /// Whether the addresses are IPv6 (else IPv4).
    pub ipv6: bool,
    /// Link from the client to the service address.
    pub client_to_service: LinkConfig,
    /// Link from each replica to the client.
    pub replica_to_client: LinkConfig,
    /// Number of replicas in the pool (at least 1).
    pub replicas: usize,
    /// How the service picks a replica for each packet.
    pub policy: ReplicaPolicy,
    /// Whether the service skips crashed replicas.
    pub health_checked: bool,
    /// Crash and restart schedule.
    pub crashes: Vec<ReplicaCrash>,
    /// Virtual time after which the run is abandoned.
    pub deadline: Duration,
    /// Events after which the run is abandoned (guards against a livelocked endpoint).
    pub max_events: u64,
    /// Configuration of every replica.
    pub server: ServerConfig,
    /// Configuration of the client.
    pub client: ClientConfig,
}

impl Scenario {
    /// A perfect network, one replica, a 10 KB object: the baseline named tests modify.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            object_len: 10_000,
            ipv6: false,
            client_to_service: LinkConfig::default(),
            replica_to_client: LinkConfig::default(),
            replicas: 1,
            policy: ReplicaPolicy::Fixed(0),
            health_checked: false,
            crashes: Vec::new(),
            deadline: Duration::from_secs(600),
            max_events: 5_000_000,
            server: simulation_server_config(),
            client: ClientConfig::default(),
        }
    }

    /// Set the same link configuration in both directions.
    pub fn with_links(mut self, config: LinkConfig) -> Self {
        self.client_to_service = config.clone();
        self.replica_to_client = config;
        self
    }

    /// The address of the client.
    pub fn client_addr(&self) -> SocketAddr {
        self.addr(1, 40_000)
    }

    /// The service (virtual) address the client connects to.
    pub fn service_addr(&self) -> SocketAddr {
        self.addr(100, 4433)
    }

    /// The own address of replica `index`.
    pub fn replica_addr(&self, index: usize) -> SocketAddr {
        self.addr(10 + index as u16, 4433)
    }

    /// The object the pool serves: `object_len` bytes drawn from the seed.
    pub fn object(&self) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6f62_6a65_6374);
        let mut body = vec![0u8; self.object_len];
        rng.fill_bytes(&mut body);
        body
    }

    /// Build the network, ready to run.
    pub fn build(&self) -> Result<Network, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut secret = [0u8; crate::crypto::SECRET_LEN];
        rng.fill_bytes(&mut secret);
        let keys = KeyRing::new(Key::from_secret(1, &secret));
        let mut app = MemoryApplication::new();
        app.insert(OBJECT_NAME, self.object());

        let mut net = Network::new(self.seed);
        net.set_default_link(self.replica_to_client.clone());
        let (client, service) = (self.client_addr(), self.service_addr());
        net.set_link(client, service, self.client_to_service.clone());
        net.add_service(
            service,
            ServiceConfig {
                policy: self.policy,
                skip_down_replicas: self.health_checked,
            },
        )?;
        for index in 0..self.replicas.max(1) {
            let (config, keys, app) = (self.server.clone(), keys.clone(), app.clone());
            net.add_replica(service, self.replica_addr(index), move |seed| {
                ServerNode::new(ServerEndpoint::new(
                    config.clone(),
                    keys.clone(),
                    app.clone(),
                    seed,
                ))
            })?;
        }
        for crash in &self.crashes {
            let replica = self.replica_addr(crash.replica);
            net.schedule_crash(replica, crash.at)?;
            if let Some(down_for) = crash.down_for {
                net.schedule_restart(replica, crash.at + down_for)?;
            }
        }
        let connection = ClientConnection::new(
            net.now(),
            service,
            OBJECT_NAME.to_vec(),
            self.client.clone(),
            rng.gen(),
        );
        net.add_node(client, ClientNode::new(connection))?;
        Ok(net)
    }

    /// Run the scenario to completion, failure or deadline.
    pub fn run(&self) -> ScenarioOutcome {
        self.execute(false).0
    }

    /// Run the scenario recording (and describing) every event.
    pub fn run_traced(&self) -> (ScenarioOutcome, Vec<TraceRecord>) {
        self.execute(true)
    }

    fn execute(&self, traced: bool) -> (ScenarioOutcome, Vec<TraceRecord>) {
        let mut net = match self.build() {
            Ok(net) => net,
            Err(error) => return (ScenarioOutcome::setup_failed(self, error), Vec::new()),
        };
        if traced {
            net.record_trace();
            net.set_packet_describer(Box::new(describe_datagram));
        }
        let client = self.client_addr();
        let deadline = Instant(0) + self.deadline;
        let max_events = self.max_events;
        net.run_until_or(deadline, |net| {
            net.trace_event_count() >= max_events
                || net
                    .node::<ClientNode>(client)
                    .is_none_or(ClientNode::is_finished)
        });
        let outcome = ScenarioOutcome::collect(self, &net);
        (outcome, net.trace_records().to_vec())
    }

    fn addr(&self, host: u16, port: u16) -> SocketAddr {
        let ip = if self.ipv6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, host))
        } else {
            let [hi, lo] = host.to_be_bytes();
            IpAddr::V4(Ipv4Addr::new(198, 18, hi, lo))
        };
        SocketAddr::new(ip, port)
    }
}

/// Server configuration for simulations: the defaults with a replay filter sized for one
/// connection, so building (and rebuilding) replicas is cheap.
pub fn simulation_server_config() -> ServerConfig {
    ServerConfig {
        replay_capacity: 1 << 14,
        ..ServerConfig::default()
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} B, {} replica(s) {:?}{}, {}",
            self.seed,
            self.object_len,
            self.replicas,
            self.policy,
            if self.health_checked {
                " health-checked"
            } else {
                ""
            },
            if self.ipv6 { "IPv6" } else { "IPv4" }
        )?;
        write!(f, "; up: {}", LinkSummary(&self.client_to_service))?;
        write!(f, "; down: {}", LinkSummary(&self.replica_to_client))?;
        for crash in &self.crashes {
            write!(
                f,
                "; replica {} crashes at {} ms",
                crash.replica,
                crash.at.micros() / 1000
            )?;
            match crash.down_for {
                Some(down) => write!(f, " for {} ms", down.millis())?,
                None => write!(f, " for good")?,
            }
        }
        Ok(())
    }
}

/// Compact one-line rendering of a link configuration.
struct LinkSummary<'a>(&'a LinkConfig);

impl fmt::Display for LinkSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = self.0;
        write!(f, "delay {} ms", link.delay.micros() as f64 / 1000.0)?;
        if link.jitter > Duration::ZERO {
            write!(f, " ±{} ms", link.jitter.micros() as f64 / 1000.0)?;
        }
        if let Some(rate) = link.rate_bps {
            write!(f, ", {} kbit/s", rate / 1000)?;
            if let Some(limit) = link.queue_limit_packets {
                write!(f, " queue {limit} pkts")?;
            }
        }
        if link.loss > 0.0 {
            write!(f, ", loss {:.1}%", link.loss * 100.0)?;
        }
        if let Some(burst) = link.burst_loss {
            write!(
                f,
                ", bursty loss {:.1}% (bursts of {:.1})",
                burst.mean_loss() * 100.0,
                1.0 / burst.bad_to_good.max(f64::MIN_POSITIVE)
            )?;
        }
        if link.reorder > 0.0 {
            write!(
                f,
                ", reorder {:.1}% +{} ms",
                link.reorder * 100.0,
                link.reorder_delay.millis()
            )?;
        }
        if link.duplicate > 0.0 {
            write!(f, ", dup {:.1}%", link.duplicate * 100.0)?;
        }
        if !link.drop_packets.is_empty() {
            write!(f, ", drops packets {:?}", link.drop_packets)?;
        }
        Ok(())
    }
}
