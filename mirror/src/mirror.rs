//! [`Mirror`]: the whole packet mirror as a sans-IO state machine.
//!
//! A datagram for the mirror is an encapsulated datagram ([`trickles_netfn::encap`]) whose
//! header names where it should go. For each one, in order:
//!
//! 1. parse the header and its options (malformed: refused);
//! 2. authenticate the sender ([`crate::auth::PeerTable::authenticate`]) and check that it
//!    may reach the named destination, which must not be the mirror itself;
//! 3. charge the sender's rate limits and credit its bytes ([`crate::guard::SourceGuard`]);
//! 4. rewrite: the header now names the *sender* (so the receiver knows whom to answer, and
//!    answers through the mirror), options are dropped, the carried datagram is unchanged;
//! 5. refuse if emitting it would exceed the sender's credit (never more out than in);
//! 6. let the emulated path of the sender's direction decide its fate, and hold it (and a
//!    duplicate, if the path made one and the credit allows) until its arrival time.
//!
//! The caller then takes due datagrams with [`Mirror::release_due`] and sends them. Nothing is
//! remembered per flow: steps 1–2 read only the datagram and the rules, step 3's table is
//! bounded soft state, and the held datagrams are the emulated path's contents. A refused
//! datagram produces nothing; every outcome is counted ([`MirrorCounters`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trickles_link::time::Instant;
use trickles_link::LinkOutcome;
use trickles_netfn::canonical;
use trickles_netfn::encap::{EncapPacket, EncapRepr, FLAG_DIRECT_RETURN};
use trickles_netfn::mirror_auth::AuthOption;

use crate::auth::{Request, Side};
use crate::counters::MirrorCounters;
use crate::guard::SourceGuard;
use crate::reject::{EmulatedDrop, Reject};
use crate::rules::MirrorRules;
use crate::wan::WanEmulator;

/// Spare datagram buffers kept for reuse.
const SPARE_BUFFERS: usize = 1_024;

/// A datagram held for its emulated arrival time.
#[derive(Clone, Debug)]
struct Held {
    destination: SocketAddr,
    datagram: Vec<u8>,
    peer: Arc<str>,
}

/// A datagram due to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The bytes: an encapsulation header naming the original sender, then the carried datagram.
    pub datagram: Vec<u8>,
}

/// What became of an accepted datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Held until `at` (and a copy until `duplicate_at`).
    Scheduled {
        /// When it will be released.
        at: Instant,
        /// When a duplicate copy will be released, if the path made one and the budget allowed.
        duplicate_at: Option<Instant>,
    },
    /// Lost on the emulated path.
    Lost(EmulatedDrop),
}

/// The sans-IO mirror: rules, source guard, emulated path and counters.
#[derive(Debug)]
pub struct Mirror {
    rules: Arc<MirrorRules>,
    peer_names: Vec<Arc<str>>,
    local_addrs: Vec<SocketAddr>,
    guard: SourceGuard,
    wan: WanEmulator<Held>,
    counters: MirrorCounters,
    spare: Vec<Vec<u8>>,
}

impl Mirror {
    /// A mirror applying `rules`, listening on `local_addrs` (datagrams addressed there are
    /// loops), drawing all randomness from `seed`.
    pub fn new(rules: Arc<MirrorRules>, local_addrs: Vec<SocketAddr>, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let guard = SourceGuard::new(rules.guard, rng.gen());
        let wan = WanEmulator::new(&rules.wan, rules.delay_queue, rng.gen());
        Mirror {
            peer_names: Self::names(&rules),
            rules,
            local_addrs: local_addrs.into_iter().map(canonical).collect(),
            guard,
            wan,
            counters: MirrorCounters::default(),
            spare: Vec::new(),
        }
    }

    fn names(rules: &MirrorRules) -> Vec<Arc<str>> {
        rules
            .peers
            .peers()
            .iter()
            .map(|p| Arc::from(p.name.as_str()))
            .collect()
    }

    /// Apply new rules. Datagrams in flight keep their release times; the emulated links are
    /// rebuilt only if the path or the queue limits changed.
    pub fn set_rules(&mut self, rules: Arc<MirrorRules>) {
        if rules.wan != self.rules.wan || rules.delay_queue != self.rules.delay_queue {
            self.wan.reconfigure(&rules.wan, rules.delay_queue);
        }
        self.guard.set_limits(rules.guard);
        self.peer_names = Self::names(&rules);
        self.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> &Arc<MirrorRules> {
        &self.rules
    }

    /// Handle one received datagram at `now` (monotonic) and `now_secs` (wall clock, seconds
    /// since the UNIX epoch, for tag timestamps).
    pub fn on_datagram(
        &mut self,
        now: Instant,
        now_secs: u64,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<Fate, Reject> {
        self.counters.received_packets += 1;
        self.counters.received_bytes += datagram.len() as u64;
        let result = self.decide(now, now_secs, canonical(from), datagram);
        if let Err(reason) = result {
            self.counters.reject(reason);
        }
        result
    }

    /// Count a datagram the datapath refused before it reached [`Mirror::on_datagram`]
    /// (truncated, unknown address family).
    pub fn count_datapath_reject(&mut self, reason: Reject, len: usize) {
        self.counters.received_packets += 1;
        self.counters.received_bytes += len as u64;
        self.counters.reject(reason);
    }

    fn decide(
        &mut self,
        now: Instant,
        now_secs: u64,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<Fate, Reject> {
        if self.is_local(from) {
            // Our own datagram come back (two listen addresses naming each other).
            return Err(Reject::Loop);
        }
        let packet = EncapPacket::new_checked(datagram).map_err(|_| Reject::Malformed)?;
        let destination = canonical(packet.peer());
        let auth = AuthOption::find(packet.options()).map_err(|_| Reject::Malformed)?;
        let inner = packet.inner();
        let request = Request {
            from,
            destination,
            flags: packet.flags(),
            auth,
            inner,
        };
        let rules = &self.rules;
        let peer = rules
            .peers
            .authenticate(&request, now_secs, rules.max_clock_skew_secs)?;
        if !forwardable(destination) || !rules.peers.may_reach(peer, destination) {
            return Err(Reject::DestinationNotAllowed);
        }
        if self.is_local(destination) {
            return Err(Reject::Loop);
        }
        let side = rules.peers.get(peer).map_or(Side::Client, |p| p.side);
        let direction = side.sends();
        let admitted = self
            .guard
            .admit(now, from.ip(), datagram.len())
            .map_err(|_| Reject::RateLimited)?;

        // DIRECT_RETURN asks a replica to answer the peer directly: from a client, that would
        // take the answers off the mirror's path (and its emulation). Only servers may set it.
        let flags = match side {
            Side::Client => packet.flags() & !FLAG_DIRECT_RETURN,
            Side::Server => packet.flags(),
        };
        let header = EncapRepr { peer: from, flags };
        let out_len = header.header_len() + inner.len();
        if !self.guard.has_credit(admitted, out_len) {
            return Err(Reject::Amplification);
        }
        let (at, duplicate_at) = match self.wan.decide(now, direction, out_len) {
            LinkOutcome::Dropped(cause) => {
                let cause = EmulatedDrop::from_link(cause);
                self.counters.emulated_drop(direction, cause);
                return Ok(Fate::Lost(cause));
            }
            LinkOutcome::Delivered {
                at, duplicate_at, ..
            } => (at, duplicate_at),
        };
        if !self.guard.spend(admitted, out_len) {
            return Err(Reject::Amplification);
        }
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.clear();
        let (head, head_len) = header.to_bytes();
        bytes.extend_from_slice(&head[..head_len]);
        bytes.extend_from_slice(inner);
        let held = Held {
            destination,
            datagram: bytes,
            peer: self.peer_names[usize::from(peer.0)].clone(),
        };
        let copy = match duplicate_at {
            Some(copy_at) if self.guard.spend(admitted, out_len) => Some((copy_at, held.clone())),
            Some(_) => {
                self.counters
                    .emulated_drop(direction, EmulatedDrop::DuplicateOverBudget);
                None
            }
            None => None,
        };
        if self.wan.hold(at, held, out_len).is_err() {
            self.counters
                .emulated_drop(direction, EmulatedDrop::DelayQueueFull);
            return Ok(Fate::Lost(EmulatedDrop::DelayQueueFull));
        }
        let duplicate_at = match copy {
            Some((copy_at, held)) => match self.wan.hold(copy_at, held, out_len) {
                Ok(()) => {
                    self.counters.duplicates[direction.index()] += 1;
                    Some(copy_at)
                }
                Err(_) => {
                    self.counters
                        .emulated_drop(direction, EmulatedDrop::DelayQueueFull);
                    None
                }
            },
            None => None,
        };
        Ok(Fate::Scheduled { at, duplicate_at })
    }

    /// Replace the mirror's own addresses (known once every socket is bound).
    pub fn set_local_addrs(&mut self, local_addrs: Vec<SocketAddr>) {
        self.local_addrs = local_addrs.into_iter().map(canonical).collect();
    }

    /// Whether `destination` is one of the mirror's own addresses.
    fn is_local(&self, destination: SocketAddr) -> bool {
        self.local_addrs.iter().any(|local| {
            local.port() == destination.port()
                && (local.ip() == destination.ip()
                    || (local.ip().is_unspecified() && destination.ip().is_loopback()))
        })
    }

    /// When the next held datagram is due.
    pub fn next_release(&self) -> Option<Instant> {
        self.wan.next_release()
    }

    /// Move every datagram due at `now` to `out`, earliest first.
    pub fn release_due(&mut self, now: Instant, out: &mut Vec<Released>) {
        while let Some(held) = self.wan.release_due(now) {
            self.counters.forwarded(&held.peer, held.datagram.len());
            out.push(Released {
                destination: held.destination,
                datagram: held.datagram,
            });
        }
    }

    /// Give a sent datagram's buffer back for reuse.
    pub fn recycle(&mut self, datagram: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(datagram);
        }
    }

    /// The counts since the last take, leaving zeros.
    pub fn take_counters(&mut self) -> MirrorCounters {
        self.counters.take()
    }

    /// The counts since the last take.
    pub fn counters(&self) -> &MirrorCounters {
        &self.counters
    }

    /// Datagrams and bytes held for their delay.
    pub fn queue_depth(&self) -> (usize, usize) {
        (self.wan.queue().len(), self.wan.queue().bytes())
    }

    /// The per-source guard (evictions, memory).
    pub fn guard(&self) -> &SourceGuard {
        &self.guard
    }
}

/// Whether an address can be a destination at all: a unicast host and a real port.
fn forwardable(destination: SocketAddr) -> bool {
    let ip = destination.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    destination.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}
