//! [`ServerNode`]: a Trickles [`ServerEndpoint`] as a simulated node.
//!
//! The endpoint is already a function of (datagram, source, time), so the adapter only passes
//! datagrams through and counts what the server did with them. A server has no timers.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::node::Node;
use crate::app::Application;
use crate::server::ServerEndpoint;
use crate::time::Instant;
use crate::Transmit;

/// What a simulated server did with the datagrams it received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerNodeStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams the server answered (possibly with zero packets).
    pub accepted: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Dropped datagrams by [`DropReason`](crate::server::DropReason) name.
    pub dropped: BTreeMap<&'static str, u64>,
}

impl ServerNodeStats {
    /// Datagrams dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// A server endpoint driven by the simulator.
pub struct ServerNode<A: Application> {
    endpoint: ServerEndpoint<A>,
    stats: ServerNodeStats,
}

impl<A: Application> ServerNode<A> {
    /// Wrap `endpoint`.
    pub fn new(endpoint: ServerEndpoint<A>) -> Self {
        Self {
            endpoint,
            stats: ServerNodeStats::default(),
        }
    }

    /// The wrapped endpoint.
    pub fn endpoint(&self) -> &ServerEndpoint<A> {
        &self.endpoint
    }

    /// What this server did so far.
    pub fn stats(&self) -> &ServerNodeStats {
        &self.stats
    }
}

impl<A: Application + 'static> Node for ServerNode<A> {
    fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
        out: &mut Vec<Transmit>,
    ) {
        self.stats.received += 1;
        let before = out.len();
        match self.endpoint.handle_datagram(now, from, payload, out) {
            Ok(_) => self.stats.accepted += 1,
            Err(reason) => *self.stats.dropped.entry(reason.name()).or_default() += 1,
        }
        self.stats.sent += (out.len() - before) as u64;
    }
}
