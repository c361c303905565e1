//! The event loop's inner workings: what the network does with each event, how a node's
//! output is routed over links, and how node timers are armed. Split from `network.rs`,
//! which holds the setup and query API; this child module sees its private fields.

use std::net::SocketAddr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trickles_link::{Link, LinkOutcome};

use super::{Event, Network};
use crate::sim::node::AnyNode;
use crate::sim::trace::{Fnv64, NetworkDropCause, TraceEvent};
use crate::time::{Duration, Instant};
use crate::Transmit;

impl Network {
    /// Carry out one event at the current time.
    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Start { node } => {
                self.trace
                    .record(self.now, TraceEvent::Started { node }, None);
                self.call_node(node, |n, now, out| n.on_start(now, out));
            }
            Event::Arrive {
                from,
                to,
                payload,
                duplicate,
            } => self.arrive(from, to, &payload, duplicate),
            Event::Timer { node, incarnation } => self.fire_timer(node, incarnation),
            Event::Crash { node } => self.crash(node),
            Event::Restart { node } => self.restart(node),
        }
    }

    fn arrive(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8], duplicate: bool) {
        let target = if let Some(service) = self.services.get_mut(&to) {
            let nodes = &self.nodes;
            service.choose(|addr| nodes.get(&addr).is_some_and(|slot| slot.up))
        } else {
            Some(to)
        };
        let Some(target) = target else {
            self.stats.no_replica += 1;
            self.network_drop(from, to, payload, NetworkDropCause::NoReplica);
            return;
        };
        if !self.is_up(target) {
            self.stats.dropped_at_down_node += 1;
            self.network_drop(from, target, payload, NetworkDropCause::NodeDown);
            return;
        }
        self.stats.delivered += 1;
        let event = TraceEvent::Delivered {
            from,
            to,
            node: target,
            len: payload.len(),
            duplicate,
        };
        self.trace.record(self.now, event, Some(payload));
        self.call_node(target, |n, now, out| n.on_datagram(now, from, payload, out));
    }

    fn fire_timer(&mut self, addr: SocketAddr, incarnation: u32) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(&addr) else {
            return;
        };
        let live = slot.up && slot.incarnation == incarnation && slot.armed == Some(now);
        if !live {
            return;
        }
        slot.armed = None;
        if slot
            .node
            .poll_timeout()
            .is_none_or(|deadline| deadline > now)
        {
            // The node moved its deadline without being called (e.g. through `node_mut`).
            self.rearm(addr, false);
            return;
        }
        self.stats.timers_fired += 1;
        self.trace
            .record(now, TraceEvent::TimerFired { node: addr }, None);
        let mut out = std::mem::take(&mut self.outbox);
        slot.node.on_timeout(now, &mut out);
        self.rearm(addr, true);
        self.send_all(addr, &mut out);
        self.outbox = out;
    }

    fn crash(&mut self, addr: SocketAddr) {
        let Some(slot) = self.nodes.get_mut(&addr) else {
            return;
        };
        if !slot.up {
            return;
        }
        slot.up = false;
        slot.armed = None;
        self.stats.crashes += 1;
        self.trace
            .record(self.now, TraceEvent::Crashed { node: addr }, None);
    }

    fn restart(&mut self, addr: SocketAddr) {
        let seed = self.seed_source.gen();
        let Some(slot) = self.nodes.get_mut(&addr) else {
            return;
        };
        let Some(factory) = slot.factory.as_mut() else {
            return;
        };
        slot.node = factory(seed);
        slot.up = true;
        slot.incarnation = slot.incarnation.wrapping_add(1);
        slot.armed = None;
        self.stats.restarts += 1;
        self.events.push(self.now, Event::Start { node: addr });
    }

    /// Call into a running node, then re-arm its timer and send what it produced.
    fn call_node(
        &mut self,
        addr: SocketAddr,
        call: impl FnOnce(&mut dyn AnyNode, Instant, &mut Vec<Transmit>),
    ) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(&addr) else {
            return;
        };
        if !slot.up {
            return;
        }
        let mut out = std::mem::take(&mut self.outbox);
        call(slot.node.as_mut(), now, &mut out);
        self.rearm(addr, false);
        self.send_all(addr, &mut out);
        self.outbox = out;
    }

    /// Queue a timer event for the node's current deadline if it differs from the armed one.
    fn rearm(&mut self, addr: SocketAddr, after_timeout: bool) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(&addr) else {
            return;
        };
        let Some(deadline) = slot.node.poll_timeout() else {
            slot.armed = None;
            return;
        };
        let mut at = deadline.max(now);
        if after_timeout && at <= now {
            self.stats.stuck_timers += 1;
            at = now + Duration(1);
        }
        if slot.armed != Some(at) {
            slot.armed = Some(at);
            let incarnation = slot.incarnation;
            self.events.push(
                at,
                Event::Timer {
                    node: addr,
                    incarnation,
                },
            );
        }
    }

    fn send_all(&mut self, from: SocketAddr, out: &mut Vec<Transmit>) {
        for transmit in out.drain(..) {
            self.route(from, transmit);
        }
    }

    /// Send `transmit` from `from` over its link (or drop it if unroutable).
    pub(super) fn route(&mut self, from: SocketAddr, transmit: Transmit) {
        let to = transmit.destination;
        let payload = transmit.payload;
        let event = TraceEvent::Sent {
            from,
            to,
            len: payload.len(),
            payload_hash: Fnv64::hash_of(&payload),
        };
        self.trace.record(self.now, event, Some(&payload));
        if !self.nodes.contains_key(&to) && !self.services.contains_key(&to) {
            self.stats.unroutable += 1;
            self.network_drop(from, to, &payload, NetworkDropCause::Unroutable);
            return;
        }
        let now = self.now;
        let outcome = self.link(from, to).transmit(now, payload.len());
        match outcome {
            LinkOutcome::Dropped(cause) => {
                let event = TraceEvent::LinkDropped {
                    from,
                    to,
                    len: payload.len(),
                    cause,
                };
                self.trace.record(now, event, Some(&payload));
            }
            LinkOutcome::Delivered {
                at, duplicate_at, ..
            } => {
                if let Some(copy_at) = duplicate_at {
                    let copy = Event::Arrive {
                        from,
                        to,
                        payload: payload.clone(),
                        duplicate: true,
                    };
                    self.events.push(copy_at, copy);
                }
                let original = Event::Arrive {
                    from,
                    to,
                    payload,
                    duplicate: false,
                };
                self.events.push(at, original);
            }
        }
    }

    fn network_drop(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
        cause: NetworkDropCause,
    ) {
        let event = TraceEvent::NetworkDropped {
            from,
            to,
            len: payload.len(),
            cause,
        };
        self.trace.record(self.now, event, Some(payload));
    }

    /// The link `from → to`, created on first use.
    pub(super) fn link(&mut self, from: SocketAddr, to: SocketAddr) -> &mut Link {
        let (seed, overrides, default) = (self.seed, &self.link_overrides, &self.default_link);
        self.links.entry((from, to)).or_insert_with(|| {
            let config = overrides.get(&(from, to)).unwrap_or(default).clone();
            Link::new(config, link_rng(seed, from, to))
        })
    }
}

/// The random source of the link `from → to`: a function of the network seed and the pair only.
pub(super) fn link_rng(seed: u64, from: SocketAddr, to: SocketAddr) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ Fnv64::hash_of(&("link", from, to)))
}
