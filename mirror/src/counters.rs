//! [`MirrorCounters`]: what the sans-IO mirror counts, as plain integers.
//!
//! The mirror counts into these arrays on the packet path (no atomics, no label lookups); the
//! datapath takes them once per batch ([`MirrorCounters::take`]) and adds them to the
//! Prometheus metrics ([`crate::metrics::MirrorMetrics`]). Arrays are indexed by
//! [`Reject::index`], [`EmulatedDrop::index`] and [`Direction::index`].

use std::sync::Arc;

use crate::reject::{EmulatedDrop, Reject};
use crate::wan::Direction;

/// Datagrams and bytes forwarded on behalf of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCounters {
    /// The peer's configured name.
    pub name: Arc<str>,
    /// Datagrams emitted for it (duplicates included).
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Everything the mirror counted since the last [`MirrorCounters::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorCounters {
    /// Datagrams received.
    pub received_packets: u64,
    /// Bytes received.
    pub received_bytes: u64,
    /// Datagrams refused, by reason.
    pub rejects: [u64; Reject::COUNT],
    /// Datagrams (or copies) the emulated path lost, by direction and cause.
    pub emulated_drops: [[u64; EmulatedDrop::COUNT]; 2],
    /// Extra copies emitted by emulated duplication, by direction.
    pub duplicates: [u64; 2],
    /// Datagrams emitted, by the peer that sent them.
    pub forwarded: Vec<PeerCounters>,
}

impl MirrorCounters {
    /// Count a refusal.
    pub fn reject(&mut self, reason: Reject) {
        self.rejects[reason.index()] += 1;
    }

    /// Count a datagram the emulated path lost.
    pub fn emulated_drop(&mut self, direction: Direction, cause: EmulatedDrop) {
        self.emulated_drops[direction.index()][cause.index()] += 1;
    }

    /// Count a datagram emitted for `peer`.
    pub fn forwarded(&mut self, peer: &Arc<str>, bytes: usize) {
        let entry = match self
            .forwarded
            .iter_mut()
            .position(|c| Arc::ptr_eq(&c.name, peer) || c.name == *peer)
        {
            Some(i) => &mut self.forwarded[i],
            None => {
                self.forwarded.push(PeerCounters {
                    name: peer.clone(),
                    packets: 0,
                    bytes: 0,
                });
                let last = self.forwarded.len() - 1;
                &mut self.forwarded[last]
            }
        };
        entry.packets += 1;
        entry.bytes += bytes as u64;
    }

    /// The counts so far, leaving zeros behind.
    pub fn take(&mut self) -> MirrorCounters {
        std::mem::take(self)
    }

    /// Refusals of `reason` counted.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejects[reason.index()]
    }

    /// Add `other` to these counts (tests and reports summing over takes).
    pub fn accumulate(&mut self, other: &MirrorCounters) {
        self.received_packets += other.received_packets;
        self.received_bytes += other.received_bytes;
        for (mine, theirs) in self.rejects.iter_mut().zip(other.rejects) {
            *mine += theirs;
        }
        for (mine, theirs) in self.emulated_drops.iter_mut().zip(other.emulated_drops) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
        for (mine, theirs) in self.duplicates.iter_mut().zip(other.duplicates) {
            *mine += theirs;
        }
        for peer in &other.forwarded {
            match self.forwarded.iter_mut().find(|c| c.name == peer.name) {
                Some(c) => {
                    c.packets += peer.packets;
                    c.bytes += peer.bytes;
                }
                None => self.forwarded.push(peer.clone()),
            }
        }
    }

    /// Datagrams emitted for all peers.
    pub fn forwarded_packets(&self) -> u64 {
        self.forwarded.iter().map(|c| c.packets).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_counts_are_kept_per_peer_and_taken_once() {
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let mut counters = MirrorCounters::default();
        counters.forwarded(&a, 100);
        counters.forwarded(&b, 10);
        counters.forwarded(&Arc::from("a"), 50);
        counters.reject(Reject::Loop);
        let taken = counters.take();
        assert_eq!(taken.forwarded.len(), 2);
        assert_eq!(
            (taken.forwarded[0].packets, taken.forwarded[0].bytes),
            (2, 150)
        );
        assert_eq!(taken.rejected(Reject::Loop), 1);
        assert_eq!(counters, MirrorCounters::default());
        let mut total = MirrorCounters::default();
        total.accumulate(&taken);
        total.accumulate(&taken);
        assert_eq!(total.forwarded_packets(), 6);
    }
}
