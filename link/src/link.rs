//! One direction of a simulated network path.
//!
//! A packet offered to a [`Link`] goes through, in order:
//! 1. the **bottleneck queue**: a FIFO drained at `rate_bps` (serialization delay
//!    `len · 8 / rate`). The queue holds every packet not yet fully serialized, the one on the
//!    wire included; a packet that would exceed the packet or byte limit is tail-dropped;
//! 2. **wire loss**: the bursty (Gilbert–Elliott) chain, then independent random loss;
//! 3. **propagation**: the fixed one-way `delay` plus a uniform jitter in `[0, jitter]` (jitter
//!    alone can reorder packets sent closer together than the jitter, as with netem);
//! 4. **reordering**: with probability `reorder` the packet is held `reorder_delay` longer, so
//!    packets sent after it overtake it;
//! 5. **duplication**: with probability `duplicate` a second copy arrives too, with its own
//!    jitter draw.
//!
//! Tests can also script losses: `drop_packets` lists packets, by their index among those
//! offered to the link (from 0), that are lost whatever the draws say.
//!
//! Every random draw comes from the link's own seeded `ChaCha8Rng`, so a link's behaviour is a
//! pure function of its seed and of the packets offered to it.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::loss::{chance, GilbertElliott, GilbertElliottState};
use crate::time::{Duration, Instant};

/// Configuration of one link direction. [`Default`] is a perfect link: no delay, infinite rate,
/// no loss, no reordering, no duplication.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]` for each packet.
    pub jitter: Duration,
    /// Bottleneck rate in bits per second; `None` is infinitely fast (no serialization delay).
    pub rate_bps: Option<u64>,
    /// Most packets the bottleneck buffer holds (the one being serialized included).
    pub queue_limit_packets: Option<usize>,
    /// Most bytes the bottleneck buffer holds (the one being serialized included).
    pub queue_limit_bytes: Option<usize>,
    /// Probability that a packet is lost independently of all others.
    pub loss: f64,
    /// Bursty loss model, evaluated before the independent loss.
    pub burst_loss: Option<GilbertElliott>,
    /// Probability that a packet is held back `reorder_delay` longer than the others.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Indices (from 0, in the order packets are offered to the link) of packets to lose.
    pub drop_packets: Vec<u64>,
}

impl LinkConfig {
    /// A loss-free link with a fixed one-way `delay` and infinite rate.
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }
}

/// Why a link dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkDropCause {
    /// The bottleneck buffer was full (tail drop).
    QueueFull,
    /// Independent random loss.
    RandomLoss,
    /// Loss in the bad state of the Gilbert–Elliott chain.
    BurstLoss,
    /// Lost because the configuration lists the packet in `drop_packets`.
    Scripted,
}

impl LinkDropCause {
    /// Short lower-case name, for traces.
    pub fn name(self) -> &'static str {
        match self {
            LinkDropCause::QueueFull => "queue-full",
            LinkDropCause::RandomLoss => "random-loss",
            LinkDropCause::BurstLoss => "burst-loss",
            LinkDropCause::Scripted => "scripted",
        }
    }
}

/// What happened to one packet offered to a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The packet is lost.
    Dropped(LinkDropCause),
    /// The packet arrives at `at`; if duplicated, a copy arrives at `duplicate_at` too.
    Delivered {
        /// Arrival time of the packet.
        at: Instant,
        /// Arrival time of a duplicate copy, if the link duplicated the packet.
        duplicate_at: Option<Instant>,
        /// Whether the packet was given the reordering delay.
        reordered: bool,
    },
}

/// Counters of one link direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets offered to the link.
    pub sent: u64,
    /// Bytes offered to the link.
    pub sent_bytes: u64,
    /// Packets that will arrive (duplicates not counted).
    pub delivered: u64,
    /// Packets tail-dropped at the bottleneck buffer.
    pub dropped_queue_full: u64,
    /// Packets lost to independent random loss.
    pub dropped_random: u64,
    /// Packets lost to bursty loss.
    pub dropped_burst: u64,
    /// Packets lost because the configuration scripted it.
    pub dropped_scripted: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Packets given the reordering delay.
    pub reordered: u64,
}

impl LinkStats {
    /// Packets dropped for any cause.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_random + self.dropped_burst + self.dropped_scripted
    }

    /// Add `other`'s counters to these.
    pub fn accumulate(&mut self, other: &LinkStats) {
        self.sent += other.sent;
        self.sent_bytes += other.sent_bytes;
        self.delivered += other.delivered;
        self.dropped_queue_full += other.dropped_queue_full;
        self.dropped_random += other.dropped_random;
        self.dropped_burst += other.dropped_burst;
        self.dropped_scripted += other.dropped_scripted;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }
}

/// One direction of a path: its configuration, queue, loss state, counters and random source.
#[derive(Clone, Debug)]
pub struct Link {
    config: LinkConfig,
    rng: ChaCha8Rng,
    burst_state: GilbertElliottState,
    /// When the last accepted packet finishes serialization.
    busy_until: Instant,
    /// Packets in the bottleneck buffer: (serialization end, length).
    buffer: VecDeque<(Instant, usize)>,
    buffered_bytes: usize,
    stats: LinkStats,
}

impl Link {
    /// A link with `config` drawing its randomness from `rng`.
    pub fn new(config: LinkConfig, rng: ChaCha8Rng) -> Self {
        Self {
            config,
            rng,
            burst_state: GilbertElliottState::default(),
            busy_until: Instant(0),
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            stats: LinkStats::default(),
        }
    }

    /// The link's configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The link's counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Time to serialize `len` bytes at the configured rate (rounded up to a microsecond).
    pub fn serialization_delay(&self, len: usize) -> Duration {
        match self.config.rate_bps {
            None | Some(0) => Duration::ZERO,
            Some(rate) => {
                let bits = len as u128 * 8 * 1_000_000;
                let micros = bits.div_ceil(u128::from(rate));
                Duration(u64::try_from(micros).unwrap_or(u64::MAX))
            }
        }
    }

    /// Offer a packet of `len` bytes at `now` and decide its fate.
    pub fn transmit(&mut self, now: Instant, len: usize) -> LinkOutcome {
        let index = self.stats.sent;
        self.stats.sent += 1;
        self.stats.sent_bytes += len as u64;

        let Some(serialized_at) = self.enqueue(now, len) else {
            self.stats.dropped_queue_full += 1;
            return LinkOutcome::Dropped(LinkDropCause::QueueFull);
        };
        if let Some(model) = self.config.burst_loss {
            if self.burst_state.packet_lost(&model, now, &mut self.rng) {
                self.stats.dropped_burst += 1;
                return LinkOutcome::Dropped(LinkDropCause::BurstLoss);
            }
        }
        if chance(&mut self.rng, self.config.loss) {
            self.stats.dropped_random += 1;
            return LinkOutcome::Dropped(LinkDropCause::RandomLoss);
        }
        if self.config.drop_packets.contains(&index) {
            self.stats.dropped_scripted += 1;
            return LinkOutcome::Dropped(LinkDropCause::Scripted);
        }

        let mut at = serialized_at + self.config.delay + self.draw_jitter();
        let reordered = chance(&mut self.rng, self.config.reorder);
        if reordered {
            self.stats.reordered += 1;
            at = at + self.config.reorder_delay;
        }
        let duplicate_at = if chance(&mut self.rng, self.config.duplicate) {
            self.stats.duplicated += 1;
            Some(serialized_at + self.config.delay + self.draw_jitter())
        } else {
            None
        };
        self.stats.delivered += 1;
        LinkOutcome::Delivered {
            at,
            duplicate_at,
            reordered,
        }
    }

    /// Put a packet in the bottleneck buffer; return when its serialization ends, or `None`
    /// if the buffer is full.
    fn enqueue(&mut self, now: Instant, len: usize) -> Option<Instant> {
        while let Some(&(done, bytes)) = self.buffer.front() {
            if done > now {
                break;
            }
            self.buffer.pop_front();
            self.buffered_bytes -= bytes;
        }
        let over_packets = self
            .config
            .queue_limit_packets
            .is_some_and(|limit| self.buffer.len() >= limit);
        let over_bytes = self
            .config
            .queue_limit_bytes
            .is_some_and(|limit| self.buffered_bytes + len > limit);
        if over_packets || over_bytes {
            return None;
        }
        let start = self.busy_until.max(now);
        let done = start + self.serialization_delay(len);
        self.busy_until = done;
        if done > now {
            self.buffer.push_back((done, len));
            self.buffered_bytes += len;
        }
        Some(done)
    }

    fn draw_jitter(&mut self) -> Duration {
        match self.config.jitter.micros() {
            0 => Duration::ZERO,
            max => Duration(self.rng.gen_range(0..=max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn link(config: LinkConfig) -> Link {
        Link::new(config, ChaCha8Rng::seed_from_u64(42))
    }

    fn arrival(outcome: LinkOutcome) -> Instant {
        match outcome {
            LinkOutcome::Delivered { at, .. } => at,
            LinkOutcome::Dropped(cause) => panic!("unexpected drop: {cause:?}"),
        }
    }

    #[test]
    fn perfect_link_delivers_instantly() {
        let mut perfect = link(LinkConfig::default());
        for t in [0, 5, 5, 1_000] {
            assert_eq!(arrival(perfect.transmit(Instant(t), 1500)), Instant(t));
        }
        assert_eq!(perfect.stats().delivered, 4);
        assert_eq!(perfect.stats().dropped(), 0);
    }

    #[test]
    fn fixed_delay_is_exact() {
        let mut delayed = link(LinkConfig::with_delay(Duration::from_millis(25)));
        assert_eq!(arrival(delayed.transmit(Instant(100), 60)), Instant(25_100));
    }

    #[test]
    fn rate_spaces_back_to_back_packets_by_their_serialization_time() {
        // 1250 bytes at 10 Mbit/s = 1 ms each.
        let mut slow = link(LinkConfig {
            rate_bps: Some(10_000_000),
            delay: Duration::from_millis(10),
            ..LinkConfig::default()
        });
        let arrivals: Vec<_> = (0..4)
            .map(|_| arrival(slow.transmit(Instant(0), 1250)).micros())
            .collect();
        assert_eq!(arrivals, vec![11_000, 12_000, 13_000, 14_000]);
        // After the queue drains, a packet goes straight onto the wire.
        assert_eq!(
            arrival(slow.transmit(Instant(50_000), 1250)),
            Instant(61_000)
        );
    }

    #[test]
    fn full_buffer_tail_drops() {
        let mut buffered = link(LinkConfig {
            rate_bps: Some(8_000_000), // 1000 bytes per ms
            queue_limit_packets: Some(3),
            ..LinkConfig::default()
        });
        let outcomes: Vec<_> = (0..5)
            .map(|_| buffered.transmit(Instant(0), 1000))
            .collect();
        assert!(matches!(outcomes[2], LinkOutcome::Delivered { .. }));
        assert_eq!(outcomes[3], LinkOutcome::Dropped(LinkDropCause::QueueFull));
        assert_eq!(buffered.stats().dropped_queue_full, 2);
        // One packet has left the buffer after 1 ms: room for exactly one more.
        assert!(matches!(
            buffered.transmit(Instant(1_000), 1000),
            LinkOutcome::Delivered { .. }
        ));
        assert_eq!(
            buffered.transmit(Instant(1_000), 1000),
            LinkOutcome::Dropped(LinkDropCause::QueueFull)
        );
    }

    #[test]
    fn byte_limit_tail_drops() {
        let mut buffered = link(LinkConfig {
            rate_bps: Some(8_000_000),
            queue_limit_bytes: Some(2500),
            ..LinkConfig::default()
        });
        assert!(matches!(
            buffered.transmit(Instant(0), 1000),
            LinkOutcome::Delivered { .. }
        ));
        assert!(matches!(
            buffered.transmit(Instant(0), 1000),
            LinkOutcome::Delivered { .. }
        ));
        assert_eq!(
            buffered.transmit(Instant(0), 1000),
            LinkOutcome::Dropped(LinkDropCause::QueueFull)
        );
        assert!(matches!(
            buffered.transmit(Instant(0), 500),
            LinkOutcome::Delivered { .. }
        ));
    }

    #[test]
    fn random_loss_rate_converges_to_configuration() {
        let mut lossy = link(LinkConfig {
            loss: 0.15,
            ..LinkConfig::default()
        });
        for t in 0..50_000 {
            lossy.transmit(Instant(t), 100);
        }
        let rate = lossy.stats().dropped_random as f64 / 50_000.0;
        assert!((rate - 0.15).abs() < 0.01, "observed {rate}");
    }

    #[test]
    fn bursty_loss_is_counted_under_its_own_cause() {
        let mut bursty = link(LinkConfig {
            burst_loss: Some(GilbertElliott::with_mean_loss(0.2, 5.0)),
            ..LinkConfig::default()
        });
        for t in 0..50_000 {
            bursty.transmit(Instant(t), 100);
        }
        let stats = bursty.stats();
        assert_eq!(stats.dropped_random, 0);
        let rate = stats.dropped_burst as f64 / 50_000.0;
        assert!((rate - 0.2).abs() < 0.02, "observed {rate}");
    }

    #[test]
    fn scripted_drops_lose_exactly_the_listed_packets() {
        let mut scripted = link(LinkConfig {
            drop_packets: vec![0, 3],
            ..LinkConfig::default()
        });
        let delivered: Vec<bool> = (0..5)
            .map(|_| {
                matches!(
                    scripted.transmit(Instant(0), 10),
                    LinkOutcome::Delivered { .. }
                )
            })
            .collect();
        assert_eq!(delivered, vec![false, true, true, false, true]);
        assert_eq!(scripted.stats().dropped_scripted, 2);
    }

    #[test]
    fn reordered_packets_are_overtaken() {
        let mut reordering = link(LinkConfig {
            delay: Duration::from_millis(5),
            reorder: 1.0,
            reorder_delay: Duration::from_millis(3),
            ..LinkConfig::default()
        });
        assert_eq!(
            arrival(reordering.transmit(Instant(0), 100)),
            Instant(8_000)
        );
        assert_eq!(reordering.stats().reordered, 1);
    }

    #[test]
    fn duplication_delivers_a_second_copy() {
        let mut duplicating = link(LinkConfig {
            delay: Duration::from_millis(1),
            duplicate: 1.0,
            ..LinkConfig::default()
        });
        assert_eq!(
            duplicating.transmit(Instant(0), 100),
            LinkOutcome::Delivered {
                at: Instant(1_000),
                duplicate_at: Some(Instant(1_000)),
                reordered: false
            }
        );
        assert_eq!(duplicating.stats().duplicated, 1);
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let mut jittery = link(LinkConfig {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(2),
            ..LinkConfig::default()
        });
        let arrivals: Vec<_> = (0..1000)
            .map(|_| arrival(jittery.transmit(Instant(0), 100)).micros())
            .collect();
        assert!(arrivals.iter().all(|&t| (10_000..=12_000).contains(&t)));
        assert!(
            arrivals.iter().any(|&t| t != arrivals[0]),
            "no jitter drawn"
        );
    }
}
