//! [`WanEmulator`]: one emulated link per direction and the release queue behind them.
//!
//! The caller asks [`WanEmulator::decide`] what the path does to a datagram of some length
//! offered at `now` (lost, or arriving at some time, perhaps twice), then hands the datagrams
//! it decides to send to [`WanEmulator::hold`] with their arrival times and takes them back
//! with [`WanEmulator::release_due`]. Deciding and holding are separate steps because the
//! mirror's anti-amplification budget, not the link, has the last word on a duplicate copy.
//!
//! The two links draw from one seed on two ChaCha streams, so a run is reproducible from the
//! seed and the sequence of offers. A reload ([`WanEmulator::reconfigure`]) builds new links
//! on fresh streams but keeps the datagrams already in flight and the counters so far.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trickles_link::time::Instant;
use trickles_link::{Link, LinkConfig, LinkOutcome, LinkStats};

use super::direction::Direction;
use super::release_queue::{QueueLimits, ReleaseQueue, ReleaseQueueFull};

/// The emulated path: one link configuration per direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WanProfile {
    /// What datagrams from client-side peers go through.
    pub to_server: LinkConfig,
    /// What datagrams from server-side peers go through.
    pub to_client: LinkConfig,
}

impl WanProfile {
    /// The same link in both directions.
    pub fn symmetric(link: LinkConfig) -> Self {
        WanProfile {
            to_server: link.clone(),
            to_client: link,
        }
    }

    /// The link configuration of `direction`.
    pub fn link(&self, direction: Direction) -> &LinkConfig {
        match direction {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }
}

/// Both emulated links and the queue of datagrams in flight.
#[derive(Debug)]
pub struct WanEmulator<P> {
    links: [Link; 2],
    /// Counters of links replaced by earlier reconfigurations.
    earlier_stats: [LinkStats; 2],
    queue: ReleaseQueue<P>,
    seed: u64,
    /// Configurations applied so far, to give each its own random streams.
    generation: u64,
}

impl<P> WanEmulator<P> {
    /// An emulator for `profile`, holding at most `limits`, drawing randomness from `seed`.
    pub fn new(profile: &WanProfile, limits: QueueLimits, seed: u64) -> Self {
        WanEmulator {
            links: Self::build_links(profile, seed, 0),
            earlier_stats: [LinkStats::default(); 2],
            queue: ReleaseQueue::new(limits),
            seed,
            generation: 0,
        }
    }

    fn build_links(profile: &WanProfile, seed: u64, generation: u64) -> [Link; 2] {
        Direction::ALL.map(|direction| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(generation * 2 + direction.index() as u64);
            Link::new(profile.link(direction).clone(), rng)
        })
    }

    /// Apply a new profile and limits. Datagrams in flight keep their release times.
    pub fn reconfigure(&mut self, profile: &WanProfile, limits: QueueLimits) {
        for direction in Direction::ALL {
            let i = direction.index();
            self.earlier_stats[i].accumulate(&self.links[i].stats());
        }
        self.generation += 1;
        self.links = Self::build_links(profile, self.seed, self.generation);
        self.queue.set_limits(limits);
    }

    /// What the `direction` link does to a datagram of `len` bytes offered at `now`.
    pub fn decide(&mut self, now: Instant, direction: Direction, len: usize) -> LinkOutcome {
        self.links[direction.index()].transmit(now, len)
    }

    /// Hold `packet` (of `len` bytes) until `at`.
    pub fn hold(&mut self, at: Instant, packet: P, len: usize) -> Result<(), ReleaseQueueFull> {
        self.queue.push(at, packet, len)
    }

    /// When the next held datagram is due.
    pub fn next_release(&self) -> Option<Instant> {
        self.queue.next_release()
    }

    /// The next datagram due at `now`, earliest first.
    pub fn release_due(&mut self, now: Instant) -> Option<P> {
        self.queue.pop_due(now)
    }

    /// The datagrams in flight.
    pub fn queue(&self) -> &ReleaseQueue<P> {
        &self.queue
    }

    /// Counters of the `direction` link since the emulator was created.
    pub fn link_stats(&self, direction: Direction) -> LinkStats {
        let i = direction.index();
        let mut stats = self.earlier_stats[i];
        stats.accumulate(&self.links[i].stats());
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trickles_link::time::Duration;
    use trickles_link::{GilbertElliott, LinkDropCause};

    const PACKETS: u64 = 100_000;

    fn emulator(to_server: LinkConfig) -> WanEmulator<u64> {
        let profile = WanProfile {
            to_server,
            to_client: LinkConfig::default(),
        };
        WanEmulator::new(&profile, QueueLimits::default(), 2005)
    }

    /// Offer `PACKETS` datagrams one microsecond apart and return which were lost.
    fn losses(emulator: &mut WanEmulator<u64>) -> Vec<bool> {
        (0..PACKETS)
            .map(|t| {
                matches!(
                    emulator.decide(Instant(t), Direction::ToServer, 1200),
                    LinkOutcome::Dropped(_)
                )
            })
            .collect()
    }

    fn mean_burst(lost: &[bool]) -> f64 {
        let total = lost.iter().filter(|&&l| l).count();
        let bursts = lost
            .iter()
            .enumerate()
            .filter(|&(i, &l)| l && (i == 0 || !lost[i - 1]))
            .count();
        total as f64 / bursts as f64
    }

    /// Offer one datagram and push it through the release queue; return when it leaves.
    fn released_at(emulator: &mut WanEmulator<u64>, now: Instant, id: u64) -> Vec<Instant> {
        match emulator.decide(now, Direction::ToServer, 100) {
            LinkOutcome::Delivered { at, .. } => emulator.hold(at, id, 100).expect("room"),
            LinkOutcome::Dropped(cause) => panic!("dropped: {cause:?}"),
        }
        let mut left = Vec::new();
        let mut clock = now;
        while let Some(next) = emulator.next_release() {
            clock = clock.max(next);
            while let Some(released) = emulator.release_due(clock) {
                assert_eq!(released, id);
                left.push(clock);
            }
        }
        left
    }

    #[test]
    fn one_way_delay_is_exact_in_virtual_time() {
        let mut wan = emulator(LinkConfig::with_delay(Duration::from_millis(40)));
        for start in [0, 1, 12_345, 1_000_000_007] {
            let left = released_at(&mut wan, Instant(start), start);
            assert_eq!(left, vec![Instant(start + 40_000)]);
        }
        // Not a microsecond early.
        wan.hold(Instant(50_000), 9, 1).expect("room");
        assert_eq!(wan.release_due(Instant(49_999)), None);
        assert_eq!(wan.release_due(Instant(50_000)), Some(9));
    }

    #[test]
    fn each_direction_has_its_own_delay() {
        let profile = WanProfile {
            to_server: LinkConfig::with_delay(Duration::from_millis(10)),
            to_client: LinkConfig::with_delay(Duration::from_millis(30)),
        };
        let mut wan: WanEmulator<u8> = WanEmulator::new(&profile, QueueLimits::default(), 1);
        let arrival = |outcome| match outcome {
            LinkOutcome::Delivered { at, .. } => at,
            LinkOutcome::Dropped(cause) => panic!("dropped: {cause:?}"),
        };
        assert_eq!(
            arrival(wan.decide(Instant(0), Direction::ToServer, 10)),
            Instant(10_000)
        );
        assert_eq!(
            arrival(wan.decide(Instant(0), Direction::ToClient, 10)),
            Instant(30_000)
        );
    }

    #[test]
    fn random_loss_is_within_a_fifth_of_the_configured_rate() {
        for configured in [0.01, 0.05, 0.2] {
            let mut wan = emulator(LinkConfig {
                loss: configured,
                ..LinkConfig::default()
            });
            let lost = losses(&mut wan).iter().filter(|&&l| l).count();
            let observed = lost as f64 / PACKETS as f64;
            println!("random loss {configured}: observed {observed:.5} over {PACKETS} packets");
            assert!(
                (observed - configured).abs() <= 0.2 * configured,
                "configured {configured}, observed {observed}"
            );
            let stats = wan.link_stats(Direction::ToServer);
            assert_eq!(stats.dropped_random, lost as u64);
        }
    }

    #[test]
    fn bursty_loss_has_the_configured_mean_burst_length() {
        for (rate, burst) in [(0.01, 3.0), (0.05, 8.0)] {
            let mut wan = emulator(LinkConfig {
                burst_loss: Some(GilbertElliott::with_mean_loss(rate, burst)),
                ..LinkConfig::default()
            });
            let lost = losses(&mut wan);
            let observed_rate = lost.iter().filter(|&&l| l).count() as f64 / PACKETS as f64;
            let observed_burst = mean_burst(&lost);
            println!(
                "bursty loss {rate}, mean burst {burst}: observed loss {observed_rate:.5}, \
                 mean burst {observed_burst:.2} over {PACKETS} packets"
            );
            assert!(
                (observed_burst - burst).abs() <= 0.2 * burst,
                "burst {burst}: observed {observed_burst}"
            );
            assert!(
                (observed_rate - rate).abs() <= 0.2 * rate,
                "rate {rate}: observed {observed_rate}"
            );
        }
    }

    #[test]
    fn independent_loss_comes_in_bursts_of_about_one() {
        let mut wan = emulator(LinkConfig {
            loss: 0.05,
            ..LinkConfig::default()
        });
        let burst = mean_burst(&losses(&mut wan));
        assert!(burst < 1.2, "independent losses bunched: {burst}");
    }

    #[test]
    fn jitter_reorders_but_never_releases_outside_its_bounds() {
        let mut wan = emulator(LinkConfig {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            ..LinkConfig::default()
        });
        for id in 0..1_000u64 {
            let now = Instant(id * 100);
            match wan.decide(now, Direction::ToServer, 100) {
                LinkOutcome::Delivered { at, .. } => {
                    let delay = at.saturating_since(now).micros();
                    assert!((20_000..=25_000).contains(&delay), "delay {delay}");
                    wan.hold(at, id, 100).expect("room");
                }
                LinkOutcome::Dropped(cause) => panic!("dropped: {cause:?}"),
            }
        }
        let order: Vec<u64> = std::iter::from_fn(|| wan.release_due(Instant(u64::MAX))).collect();
        assert_eq!(order.len(), 1_000);
        assert!(
            order.windows(2).any(|w| w[0] > w[1]),
            "jitter reordered nothing"
        );
    }

    #[test]
    fn rate_limit_spaces_datagrams_and_tail_drops_past_the_queue() {
        // 1250 bytes at 10 Mbit/s: 1 ms each; the bottleneck holds 3.
        let mut wan = emulator(LinkConfig {
            rate_bps: Some(10_000_000),
            queue_limit_packets: Some(3),
            ..LinkConfig::default()
        });
        let outcomes: Vec<LinkOutcome> = (0..5)
            .map(|_| wan.decide(Instant(0), Direction::ToServer, 1250))
            .collect();
        let arrivals: Vec<Option<u64>> = outcomes
            .iter()
            .map(|o| match o {
                LinkOutcome::Delivered { at, .. } => Some(at.micros()),
                LinkOutcome::Dropped(_) => None,
            })
            .collect();
        assert_eq!(
            arrivals,
            vec![Some(1_000), Some(2_000), Some(3_000), None, None]
        );
        assert_eq!(outcomes[4], LinkOutcome::Dropped(LinkDropCause::QueueFull));
    }

    #[test]
    fn duplication_and_reordering_are_reported_for_the_caller_to_apply() {
        let mut wan = emulator(LinkConfig {
            delay: Duration::from_millis(5),
            duplicate: 1.0,
            reorder: 1.0,
            reorder_delay: Duration::from_millis(2),
            ..LinkConfig::default()
        });
        assert_eq!(
            wan.decide(Instant(0), Direction::ToServer, 100),
            LinkOutcome::Delivered {
                at: Instant(7_000),
                duplicate_at: Some(Instant(5_000)),
                reordered: true,
            }
        );
    }

    #[test]
    fn same_seed_same_fate() {
        let config = LinkConfig {
            loss: 0.1,
            jitter: Duration::from_millis(3),
            duplicate: 0.05,
            ..LinkConfig::default()
        };
        let run = || {
            let mut wan = emulator(config.clone());
            (0..1_000)
                .map(|t| wan.decide(Instant(t), Direction::ToServer, 500))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn reconfiguring_keeps_datagrams_in_flight_and_counters() {
        let mut wan = emulator(LinkConfig::with_delay(Duration::from_millis(40)));
        for t in 0..3 {
            wan.decide(Instant(t), Direction::ToServer, 10);
        }
        wan.hold(Instant(40_000), 1, 10).expect("room");
        wan.reconfigure(
            &WanProfile::symmetric(LinkConfig::with_delay(Duration::from_millis(5))),
            QueueLimits::default(),
        );
        assert_eq!(
            wan.decide(Instant(0), Direction::ToServer, 10),
            LinkOutcome::Delivered {
                at: Instant(5_000),
                duplicate_at: None,
                reordered: false,
            }
        );
        assert_eq!(wan.link_stats(Direction::ToServer).sent, 4);
        assert_eq!(wan.release_due(Instant(40_000)), Some(1));
    }
}
