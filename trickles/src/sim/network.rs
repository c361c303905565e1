//! The simulated network: nodes, service addresses with replica pools, links, and the event
//! loop that moves datagrams between them on a virtual clock.
//!
//! A [`Network`] is fully determined by its seed and by the calls made on it. Each link
//! direction and each service draws from its own `ChaCha8Rng`, seeded from the network seed and
//! the addresses involved, so adding traffic elsewhere does not change what a link does to its
//! own packets. Events at the same instant run in the order they were scheduled. Nothing reads
//! a wall clock, iterates a hash map or spawns a thread.
//!
//! Routing: a datagram a node sends to `destination` crosses the link `(node, destination)`
//! (the per-pair override if one is set, else the default config). When it arrives, a node
//! address receives it directly; a service address hands it to the replica its policy picks.
//! Replies leave from the replica's own address.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trickles_link::{Link, LinkConfig, LinkStats};

mod dispatch;

use dispatch::link_rng;

use super::event_queue::EventQueue;
use super::node::{AnyNode, Node, NodeFactory};
use super::service::{Service, ServiceConfig};
use super::trace::{Fnv64, PacketDescriber, Trace, TraceRecord};
use crate::time::{Duration, Instant};
use crate::Transmit;

/// Why a network operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The address already names a node or a service.
    #[error("address {0} is already in use")]
    AddressInUse(SocketAddr),
    /// No node has this address.
    #[error("no node at {0}")]
    UnknownNode(SocketAddr),
    /// No service has this address.
    #[error("no service at {0}")]
    UnknownService(SocketAddr),
    /// The node was added without a factory, so it cannot be rebuilt after a crash.
    #[error("node {0} has no factory to restart it")]
    NotRestartable(SocketAddr),
}

/// Counters of the network itself (the links count their own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagrams to an address no node or service has.
    pub unroutable: u64,
    /// Datagrams to a service that had no replica to choose.
    pub no_replica: u64,
    /// Datagrams that reached a crashed node.
    pub dropped_at_down_node: u64,
    /// Timer expiries delivered to nodes.
    pub timers_fired: u64,
    /// Timers a node re-armed for an instant not later than the one that just fired; the
    /// network moved them 1 µs later to guarantee progress (a sign of a node bug).
    pub stuck_timers: u64,
    /// Crashes performed.
    pub crashes: u64,
    /// Restarts performed.
    pub restarts: u64,
}

/// Something scheduled on the virtual clock.
#[derive(Debug)]
enum Event {
    Start {
        node: SocketAddr,
    },
    Arrive {
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
        duplicate: bool,
    },
    Timer {
        node: SocketAddr,
        incarnation: u32,
    },
    Crash {
        node: SocketAddr,
    },
    Restart {
        node: SocketAddr,
    },
}

/// A node, its factory and the network's bookkeeping about it.
struct NodeSlot {
    node: Box<dyn AnyNode>,
    factory: Option<NodeFactory>,
    up: bool,
    /// Bumped on every restart so timers of a previous incarnation are ignored.
    incarnation: u32,
    /// The instant for which a live timer event is queued.
    armed: Option<Instant>,
}

/// The simulated network.
pub struct Network {
    seed: u64,
    now: Instant,
    seed_source: ChaCha8Rng,
    events: EventQueue<Event>,
    nodes: BTreeMap<SocketAddr, NodeSlot>,
    services: BTreeMap<SocketAddr, Service>,
    default_link: LinkConfig,
    link_overrides: BTreeMap<(SocketAddr, SocketAddr), LinkConfig>,
    links: BTreeMap<(SocketAddr, SocketAddr), Link>,
    stats: NetworkStats,
    trace: Trace,
    outbox: Vec<Transmit>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("pending_events", &self.events.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Network {
    /// An empty network at time zero whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            now: Instant(0),
            seed_source: ChaCha8Rng::seed_from_u64(seed),
            events: EventQueue::new(),
            nodes: BTreeMap::new(),
            services: BTreeMap::new(),
            default_link: LinkConfig::default(),
            link_overrides: BTreeMap::new(),
            links: BTreeMap::new(),
            stats: NetworkStats::default(),
            trace: Trace::default(),
            outbox: Vec::new(),
        }
    }

    /// The seed the network was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Use `config` for every link direction without an override (links already created keep
    /// their configuration).
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.default_link = config;
    }

    /// Use `config` for the direction `from → to` (`to` may be a service address). A link that
    /// already exists starts afresh: its queue, loss state and counters are reset.
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, config: LinkConfig) {
        if let Some(link) = self.links.get_mut(&(from, to)) {
            *link = Link::new(config.clone(), link_rng(self.seed, from, to));
        }
        self.link_overrides.insert((from, to), config);
    }

    /// Add a node that cannot be restarted after a crash. It starts at the current time.
    pub fn add_node(&mut self, addr: SocketAddr, node: impl Node) -> Result<(), SimError> {
        self.insert_node(addr, Box::new(node), None)
    }

    /// Add a node built by `factory` (called again, with a fresh seed, on every restart).
    pub fn add_restartable_node<N: Node>(
        &mut self,
        addr: SocketAddr,
        mut factory: impl FnMut(u64) -> N + 'static,
    ) -> Result<(), SimError> {
        let first = factory(self.seed_source.gen());
        let boxed: NodeFactory = Box::new(move |seed| Box::new(factory(seed)));
        self.insert_node(addr, Box::new(first), Some(boxed))
    }

    /// Create a service address whose packets go to replicas chosen by `config`.
    pub fn add_service(&mut self, addr: SocketAddr, config: ServiceConfig) -> Result<(), SimError> {
        if self.nodes.contains_key(&addr) || self.services.contains_key(&addr) {
            return Err(SimError::AddressInUse(addr));
        }
        let rng = ChaCha8Rng::seed_from_u64(self.seed ^ Fnv64::hash_of(&("service", addr)));
        self.services.insert(addr, Service::new(config, rng));
        Ok(())
    }

    /// Change how `service` picks replicas from now on.
    pub fn set_service_config(
        &mut self,
        service: SocketAddr,
        config: ServiceConfig,
    ) -> Result<(), SimError> {
        let pool = self
            .services
            .get_mut(&service)
            .ok_or(SimError::UnknownService(service))?;
        pool.set_config(config);
        Ok(())
    }

    /// Add a restartable replica at its own address `addr` to the pool of `service`.
    pub fn add_replica<N: Node>(
        &mut self,
        service: SocketAddr,
        addr: SocketAddr,
        factory: impl FnMut(u64) -> N + 'static,
    ) -> Result<(), SimError> {
        if !self.services.contains_key(&service) {
            return Err(SimError::UnknownService(service));
        }
        self.add_restartable_node(addr, factory)?;
        if let Some(pool) = self.services.get_mut(&service) {
            pool.add_replica(addr);
        }
        Ok(())
    }

    /// The replicas of `service`, in the order they were added.
    pub fn replicas(&self, service: SocketAddr) -> Option<&[SocketAddr]> {
        self.services.get(&service).map(Service::replicas)
    }

    /// Crash `node` at `at`: from then on it drops everything and its timers stop.
    pub fn schedule_crash(&mut self, node: SocketAddr, at: Instant) -> Result<(), SimError> {
        if !self.nodes.contains_key(&node) {
            return Err(SimError::UnknownNode(node));
        }
        self.events.push(at.max(self.now), Event::Crash { node });
        Ok(())
    }

    /// Rebuild `node` from its factory at `at` (all its state is lost) and start it.
    pub fn schedule_restart(&mut self, node: SocketAddr, at: Instant) -> Result<(), SimError> {
        let slot = self.nodes.get(&node).ok_or(SimError::UnknownNode(node))?;
        if slot.factory.is_none() {
            return Err(SimError::NotRestartable(node));
        }
        self.events.push(at.max(self.now), Event::Restart { node });
        Ok(())
    }

    /// Send `payload` from `from` to `to` now, as if a node at `from` had sent it (`from` need
    /// not be a node: this is how tests inject packets).
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, payload: Vec<u8>) {
        self.route(
            from,
            Transmit {
                destination: to,
                payload,
            },
        );
    }

    /// The node at `addr` as its concrete type.
    pub fn node<T: Node>(&self, addr: SocketAddr) -> Option<&T> {
        self.nodes.get(&addr)?.node.as_any().downcast_ref()
    }

    /// The node at `addr` as its concrete type, mutably. Changes that affect its timer take
    /// effect the next time the network calls into it.
    pub fn node_mut<T: Node>(&mut self, addr: SocketAddr) -> Option<&mut T> {
        self.nodes.get_mut(&addr)?.node.as_any_mut().downcast_mut()
    }

    /// Whether `addr` is a node that is currently running.
    pub fn is_up(&self, addr: SocketAddr) -> bool {
        self.nodes.get(&addr).is_some_and(|slot| slot.up)
    }

    /// Counters of the direction `from → to`, if it carried anything.
    pub fn link_stats(&self, from: SocketAddr, to: SocketAddr) -> Option<LinkStats> {
        self.links.get(&(from, to)).map(Link::stats)
    }

    /// Sum of the counters of every link.
    pub fn total_link_stats(&self) -> LinkStats {
        let mut total = LinkStats::default();
        for link in self.links.values() {
            total.accumulate(&link.stats());
        }
        total
    }

    /// The network's own counters.
    pub fn stats(&self) -> NetworkStats {
        self.stats
    }

    /// Keep every event from now on (see [`Network::trace_records`]).
    pub fn record_trace(&mut self) {
        self.trace.start_recording();
    }

    /// Describe packets in recorded trace events with `describer`.
    pub fn set_packet_describer(&mut self, describer: PacketDescriber) {
        self.trace.set_describer(describer);
    }

    /// Digest of every event processed so far: equal digests mean identical runs.
    pub fn trace_digest(&self) -> u64 {
        self.trace.digest()
    }

    /// Number of trace events so far.
    pub fn trace_event_count(&self) -> u64 {
        self.trace.event_count()
    }

    /// The recorded events (empty unless [`Network::record_trace`] was called).
    pub fn trace_records(&self) -> &[TraceRecord] {
        self.trace.records()
    }

    /// Time of the next pending event.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.events.peek_time()
    }

    /// Process the earliest pending event; `false` if there was none.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.events.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        self.handle(event);
        true
    }

    /// Process every event up to and including `deadline`, then set the clock to `deadline`.
    pub fn run_until(&mut self, deadline: Instant) {
        self.run_until_or(deadline, |_| false);
    }

    /// Process events up to `deadline`, stopping early (right after an event) once `stop`
    /// holds. Returns whether `stop` held. The clock ends at `deadline` if it did not.
    pub fn run_until_or(
        &mut self,
        deadline: Instant,
        mut stop: impl FnMut(&Network) -> bool,
    ) -> bool {
        if stop(self) {
            return true;
        }
        while self.events.peek_time().is_some_and(|at| at <= deadline) {
            self.step();
            if stop(self) {
                return true;
            }
        }
        self.now = self.now.max(deadline);
        false
    }

    /// Run for `span` of virtual time from now.
    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now + span);
    }

    fn insert_node(
        &mut self,
        addr: SocketAddr,
        node: Box<dyn AnyNode>,
        factory: Option<NodeFactory>,
    ) -> Result<(), SimError> {
        if self.nodes.contains_key(&addr) || self.services.contains_key(&addr) {
            return Err(SimError::AddressInUse(addr));
        }
        self.nodes.insert(
            addr,
            NodeSlot {
                node,
                factory,
                up: true,
                incarnation: 0,
                armed: None,
            },
        );
        self.events.push(self.now, Event::Start { node: addr });
        Ok(())
    }
}
