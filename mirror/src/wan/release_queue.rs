//! The release queue: datagrams held until their emulated arrival time.
//!
//! A datagram enters with the time the emulated link says it arrives and leaves when the
//! caller's clock reaches that time, earliest first; datagrams due at the same instant leave in
//! the order they entered. The queue is bounded in packets and in bytes: memory must not grow
//! with the offered load or with the configured delay, so a datagram that would exceed either
//! limit is refused and the caller counts it as dropped.
//!
//! Most datagrams arrive in release order (a fixed delay preserves order; only jitter and
//! reordering break it), so the queue is two structures: a FIFO for datagrams due no earlier
//! than the last one in it (push and pop in O(1), nothing moved), and a binary heap for the
//! others. The next datagram is the earlier of the two heads, ordered by (time, entry number),
//! which is the same total order a single priority queue (the simulator's `EventQueue`) gives.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use trickles_link::time::Instant;

/// Most datagrams and bytes the release queue holds at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most datagrams held.
    pub packets: usize,
    /// Most payload bytes held.
    pub bytes: usize,
}

impl QueueLimits {
    /// Default packet limit: 40 ms of 1 Gbit/s in 1200-byte datagrams, rounded up.
    pub const DEFAULT_PACKETS: usize = 8_192;
    /// Default byte limit (64 MiB).
    pub const DEFAULT_BYTES: usize = 64 << 20;
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            packets: Self::DEFAULT_PACKETS,
            bytes: Self::DEFAULT_BYTES,
        }
    }
}

/// A datagram was refused because the queue is at one of its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseQueueFull;

/// A held datagram and its ordering key.
#[derive(Debug)]
struct Entry<P> {
    at: Instant,
    number: u64,
    len: usize,
    packet: P,
}

impl<P> Entry<P> {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.number)
    }
}

impl<P> PartialEq for Entry<P> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<P> Eq for Entry<P> {}

impl<P> PartialOrd for Entry<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<P> Ord for Entry<P> {
    /// Reversed, so that the max-heap pops the earliest entry first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// Datagrams ordered by release time, within [`QueueLimits`].
#[derive(Debug)]
pub struct ReleaseQueue<P> {
    /// Entries in release order (each due no earlier than the one before).
    in_order: VecDeque<Entry<P>>,
    /// Entries that arrived out of release order.
    out_of_order: BinaryHeap<Entry<P>>,
    next_number: u64,
    bytes: usize,
    limits: QueueLimits,
}

impl<P> ReleaseQueue<P> {
    /// An empty queue with `limits`.
    pub fn new(limits: QueueLimits) -> Self {
        ReleaseQueue {
            in_order: VecDeque::new(),
            out_of_order: BinaryHeap::new(),
            next_number: 0,
            bytes: 0,
            limits,
        }
    }

    /// Hold `packet` (of `len` bytes) until `at`, unless that would exceed a limit.
    pub fn push(&mut self, at: Instant, packet: P, len: usize) -> Result<(), ReleaseQueueFull> {
        if self.len() >= self.limits.packets || self.bytes + len > self.limits.bytes {
            return Err(ReleaseQueueFull);
        }
        self.bytes += len;
        let entry = Entry {
            at,
            number: self.next_number,
            len,
            packet,
        };
        self.next_number += 1;
        if self.in_order.back().is_none_or(|last| last.at <= at) {
            self.in_order.push_back(entry);
        } else {
            self.out_of_order.push(entry);
        }
        Ok(())
    }

    /// Whether the next entry is the FIFO's head (rather than the heap's).
    fn next_is_in_order(&self) -> Option<bool> {
        match (self.in_order.front(), self.out_of_order.peek()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(fifo), Some(heap)) => Some(fifo.key() < heap.key()),
        }
    }

    /// When the earliest held datagram is due, if any.
    pub fn next_release(&self) -> Option<Instant> {
        let fifo = self.in_order.front().map(|e| e.at);
        let heap = self.out_of_order.peek().map(|e| e.at);
        match (fifo, heap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Remove and return the earliest datagram if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<P> {
        if self.next_release()? > now {
            return None;
        }
        let entry = if self.next_is_in_order()? {
            self.in_order.pop_front()?
        } else {
            self.out_of_order.pop()?
        };
        self.bytes -= entry.len;
        Some(entry.packet)
    }

    /// Datagrams held.
    pub fn len(&self) -> usize {
        self.in_order.len() + self.out_of_order.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Replace the limits; datagrams already held stay (the queue drains below the new limits).
    pub fn set_limits(&mut self, limits: QueueLimits) {
        self.limits = limits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(packets: usize, bytes: usize) -> ReleaseQueue<&'static str> {
        ReleaseQueue::new(QueueLimits { packets, bytes })
    }

    #[test]
    fn datagrams_leave_in_release_time_order_and_only_when_due() {
        let mut queue = small(10, 1000);
        queue.push(Instant(300), "late", 1).expect("room");
        queue.push(Instant(100), "early", 1).expect("room");
        queue.push(Instant(100), "early-second", 1).expect("room");
        assert_eq!(queue.next_release(), Some(Instant(100)));
        assert_eq!(queue.pop_due(Instant(99)), None);
        assert_eq!(queue.pop_due(Instant(100)), Some("early"));
        assert_eq!(queue.pop_due(Instant(100)), Some("early-second"));
        assert_eq!(queue.pop_due(Instant(299)), None);
        assert_eq!(queue.pop_due(Instant(1_000)), Some("late"));
        assert!(queue.is_empty());
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn packet_limit_refuses_the_datagram_beyond_it() {
        let mut queue = small(2, 1000);
        assert!(queue.push(Instant(1), "a", 10).is_ok());
        assert!(queue.push(Instant(1), "b", 10).is_ok());
        assert_eq!(queue.push(Instant(1), "c", 10), Err(ReleaseQueueFull));
        assert_eq!(queue.pop_due(Instant(1)), Some("a"));
        assert!(queue.push(Instant(1), "c", 10).is_ok());
    }

    #[test]
    fn byte_limit_refuses_the_datagram_that_would_exceed_it() {
        let mut queue = small(100, 1000);
        assert!(queue.push(Instant(1), "a", 600).is_ok());
        assert_eq!(queue.push(Instant(1), "b", 401), Err(ReleaseQueueFull));
        assert!(queue.push(Instant(1), "c", 400).is_ok());
        assert_eq!(queue.bytes(), 1000);
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn order_matches_a_single_priority_queue_for_any_arrival_times() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut queue = ReleaseQueue::new(QueueLimits {
            packets: 100_000,
            bytes: usize::MAX,
        });
        // The reference: every datagram ordered by (release time, arrival order); ids count up
        // in arrival order.
        let mut reference = std::collections::BTreeSet::new();
        let mut clock = 0u64;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for id in 0..20_000u32 {
            // A fixed delay with occasional jitter, reordering and ties.
            let at = Instant(
                clock
                    + 1_000
                    + if rng.gen_bool(0.2) {
                        rng.gen_range(0..500)
                    } else {
                        0
                    },
            );
            queue.push(at, id, 1).expect("room");
            reference.insert((at, id));
            clock += rng.gen_range(0..3);
            if rng.gen_bool(0.3) {
                let now = Instant(clock);
                while let Some(id) = queue.pop_due(now) {
                    ours.push(id);
                }
                while reference.first().is_some_and(|&(t, _)| t <= now) {
                    theirs.extend(reference.pop_first().map(|(_, id)| id));
                }
            }
        }
        ours.extend(std::iter::from_fn(|| queue.pop_due(Instant(u64::MAX))));
        theirs.extend(reference.into_iter().map(|(_, id)| id));
        assert_eq!(ours, theirs);
        assert_eq!(queue.bytes(), 0);
    }
}
