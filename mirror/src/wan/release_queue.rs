//! The release queue: datagrams held until their emulated arrival time.
//!
//! A datagram enters with the time the emulated link says it arrives and leaves when the
//! caller's clock reaches that time, earliest first; datagrams due at the same instant leave in
//! the order they entered (the simulator's [`EventQueue`] gives that total order). The queue is
//! bounded in packets and in bytes: memory must not grow with the offered load or with the
//! configured delay, so a datagram that would exceed either limit is refused and the caller
//! counts it as dropped.

use trickles::sim::EventQueue;
use trickles::time::Instant;

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

/// Datagrams ordered by release time, within [`QueueLimits`].
#[derive(Debug)]
pub struct ReleaseQueue<P> {
    queue: EventQueue<(P, usize)>,
    bytes: usize,
    limits: QueueLimits,
}

impl<P> ReleaseQueue<P> {
    /// An empty queue with `limits`.
    pub fn new(limits: QueueLimits) -> Self {
        ReleaseQueue {
            queue: EventQueue::new(),
            bytes: 0,
            limits,
        }
    }

    /// Hold `packet` (of `len` bytes) until `at`, unless that would exceed a limit.
    pub fn push(&mut self, at: Instant, packet: P, len: usize) -> Result<(), ReleaseQueueFull> {
        if self.queue.len() >= self.limits.packets || self.bytes + len > self.limits.bytes {
            return Err(ReleaseQueueFull);
        }
        self.bytes += len;
        self.queue.push(at, (packet, len));
        Ok(())
    }

    /// When the earliest held datagram is due, if any.
    pub fn next_release(&self) -> Option<Instant> {
        self.queue.peek_time()
    }

    /// Remove and return the earliest datagram if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<P> {
        if self.queue.peek_time()? > now {
            return None;
        }
        let (_, (packet, len)) = self.queue.pop()?;
        self.bytes -= len;
        Some(packet)
    }

    /// Datagrams held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
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
}
