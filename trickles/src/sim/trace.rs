//! The record of what happened in a simulation run.
//!
//! Every event the network processes is folded into a 64-bit FNV-1a digest, always: two runs
//! with the same digest took the same path through the same packets at the same instants. When
//! recording is on, the events are also kept (with an optional human description of each
//! packet) so a failing seed can be replayed and read.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use trickles_link::LinkDropCause;

use crate::time::Instant;

/// The 64-bit FNV-1a hash: simple, stable across platforms and Rust versions.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Fnv64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A hasher in its initial state.
    pub fn new() -> Self {
        Fnv64(Self::OFFSET_BASIS)
    }

    /// Hash of `value` alone.
    pub fn hash_of(value: &impl Hash) -> u64 {
        let mut hasher = Self::new();
        value.hash(&mut hasher);
        hasher.finish()
    }
}

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
}

/// Why the network (rather than a link) discarded a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkDropCause {
    /// No node or service has the destination address.
    Unroutable,
    /// The service has no replica it may choose.
    NoReplica,
    /// The receiving node is crashed.
    NodeDown,
}

impl NetworkDropCause {
    /// Short lower-case name, for traces.
    pub fn name(self) -> &'static str {
        match self {
            NetworkDropCause::Unroutable => "unroutable",
            NetworkDropCause::NoReplica => "no-replica",
            NetworkDropCause::NodeDown => "node-down",
        }
    }
}

/// One thing that happened during a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TraceEvent {
    /// A node started (first time or after a restart).
    Started {
        /// The node.
        node: SocketAddr,
    },
    /// A node sent a datagram onto the link `from → to`.
    Sent {
        /// Sender.
        from: SocketAddr,
        /// Destination (a node or a service address).
        to: SocketAddr,
        /// Payload length.
        len: usize,
        /// FNV-1a of the payload.
        payload_hash: u64,
    },
    /// The link `from → to` lost a datagram.
    LinkDropped {
        /// Sender.
        from: SocketAddr,
        /// Destination.
        to: SocketAddr,
        /// Payload length.
        len: usize,
        /// Why.
        cause: LinkDropCause,
    },
    /// The network discarded a datagram addressed to `to`.
    NetworkDropped {
        /// Sender.
        from: SocketAddr,
        /// Destination (service or node).
        to: SocketAddr,
        /// Payload length.
        len: usize,
        /// Why.
        cause: NetworkDropCause,
    },
    /// A datagram sent to `to` was handed to `node` (equal to `to` unless `to` is a service).
    Delivered {
        /// Sender.
        from: SocketAddr,
        /// Destination address used by the sender.
        to: SocketAddr,
        /// The node that received it.
        node: SocketAddr,
        /// Payload length.
        len: usize,
        /// Whether this copy is a duplicate made by the link.
        duplicate: bool,
    },
    /// A node's timer fired.
    TimerFired {
        /// The node.
        node: SocketAddr,
    },
    /// A node crashed.
    Crashed {
        /// The node.
        node: SocketAddr,
    },
}

/// A [`TraceEvent`] with its time and, when recording with a describer, a packet description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// Virtual time of the event.
    pub at: Instant,
    /// What happened.
    pub event: TraceEvent,
    /// Human description of the packet involved (empty without a describer).
    pub note: String,
}

impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.at.micros() as f64 / 1000.0;
        write!(f, "{ms:>12.3} ms  ")?;
        match &self.event {
            TraceEvent::Started { node } => write!(f, "start    {node}")?,
            TraceEvent::Sent { from, to, len, .. } => write!(f, "send     {from} -> {to} {len} B")?,
            TraceEvent::LinkDropped {
                from,
                to,
                len,
                cause,
            } => write!(f, "LOST     {from} -> {to} {len} B ({})", cause.name())?,
            TraceEvent::NetworkDropped {
                from,
                to,
                len,
                cause,
            } => write!(f, "DISCARD  {from} -> {to} {len} B ({})", cause.name())?,
            TraceEvent::Delivered {
                from,
                to,
                node,
                len,
                duplicate,
            } => {
                write!(f, "deliver  {from} -> {to}")?;
                if node != to {
                    write!(f, " @{node}")?;
                }
                write!(f, " {len} B")?;
                if *duplicate {
                    write!(f, " (dup)")?;
                }
            }
            TraceEvent::TimerFired { node } => write!(f, "timer    {node}")?,
            TraceEvent::Crashed { node } => write!(f, "CRASH    {node}")?,
        }
        if !self.note.is_empty() {
            write!(f, "  {}", self.note)?;
        }
        Ok(())
    }
}

/// Turns a payload into a short human description for recorded traces.
pub type PacketDescriber = Box<dyn Fn(&[u8]) -> String>;

/// The digest of a run and, optionally, its recorded events.
#[derive(Default)]
pub struct Trace {
    digest: Fnv64,
    events: u64,
    records: Option<Vec<TraceRecord>>,
    describer: Option<PacketDescriber>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("digest", &self.digest.finish())
            .field("events", &self.events)
            .field("recording", &self.records.is_some())
            .finish()
    }
}

impl Trace {
    /// Start keeping every event (in addition to the digest).
    pub fn start_recording(&mut self) {
        self.records.get_or_insert_with(Vec::new);
    }

    /// Describe packets in recorded events with `describer`.
    pub fn set_describer(&mut self, describer: PacketDescriber) {
        self.describer = Some(describer);
    }

    /// Fold an event into the digest and record it if recording.
    pub fn record(&mut self, at: Instant, event: TraceEvent, payload: Option<&[u8]>) {
        at.hash(&mut self.digest);
        event.hash(&mut self.digest);
        self.events += 1;
        if let Some(records) = &mut self.records {
            let note = match (&self.describer, payload) {
                (Some(describe), Some(bytes)) => describe(bytes),
                _ => String::new(),
            };
            records.push(TraceRecord { at, event, note });
        }
    }

    /// Digest of every event so far.
    pub fn digest(&self) -> u64 {
        self.digest.finish()
    }

    /// Number of events so far.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// The recorded events (empty unless recording).
    pub fn records(&self) -> &[TraceRecord] {
        self.records.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vector() {
        let mut hasher = Fnv64::new();
        hasher.write(b"a");
        assert_eq!(hasher.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn digest_depends_on_event_time() {
        let node = SocketAddr::from(([127, 0, 0, 1], 1));
        let mut early = Trace::default();
        let mut late = Trace::default();
        early.record(Instant(1), TraceEvent::TimerFired { node }, None);
        late.record(Instant(2), TraceEvent::TimerFired { node }, None);
        assert_ne!(early.digest(), late.digest());
        assert!(early.records().is_empty());
    }

    #[test]
    fn recording_keeps_described_events() {
        let node = SocketAddr::from(([127, 0, 0, 1], 1));
        let mut trace = Trace::default();
        trace.start_recording();
        trace.set_describer(Box::new(|bytes| format!("first byte {}", bytes[0])));
        let event = TraceEvent::Sent {
            from: node,
            to: node,
            len: 1,
            payload_hash: 0,
        };
        trace.record(Instant(1500), event, Some(&[7]));
        let line = trace.records()[0].to_string();
        assert!(line.contains("1.500 ms"), "{line}");
        assert!(line.contains("first byte 7"), "{line}");
    }
}
