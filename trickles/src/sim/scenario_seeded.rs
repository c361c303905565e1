//! Drawing a [`Scenario`] from a seed: the network conditions of the 1,000-scenario test.
//!
//! Every draw comes from a `ChaCha8Rng` seeded with the scenario seed (a different stream than
//! the one the run itself uses), so seed `n` always means the same conditions. The ranges:
//! - loss: none (1/3), independent 0–20 % (1/3), or Gilbert–Elliott bursty with a mean of
//!   0–20 % and bursts of 1–5 back-to-back packets (1/3), drawn separately for each direction;
//!   the bursty chain also steps every [`BURST_IDLE_STEP`] of silence, so a sender in timeout
//!   backoff is not stuck in one bad period for minutes (see `loss.rs`);
//! - one-way delay 0–100 ms per direction (RTT 0–200 ms), jitter up to a quarter of it (≤ 10 ms)
//!   half of the time;
//! - rate: unlimited (1/4) or 0.8–125 Mbit/s (a 1-2-5 step, scaled) with a 20–200 packet
//!   tail-drop queue, the same rate both ways;
//! - reordering (1/2 of the time) 0–5 % with 1–30 ms extra delay; duplication (1/3) 0–3 %;
//! - 1–3 replicas picked per packet (round-robin or random) or fixed, IPv4 or IPv6;
//! - crashes (1/4 of the time): one or two replica crashes in the first two seconds, each
//!   followed by a restart 0–1.5 s later;
//! - object size: empty (5 %), up to 4 packets (25 %), up to 64 KB (40 %), up to 200 KB (25 %),
//!   up to 400 KB (5 %).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trickles_link::{GilbertElliott, LinkConfig};

use super::scenario::{ReplicaCrash, Scenario};
use super::service::ReplicaPolicy;
use crate::time::{Duration, Instant};

/// Idle time that counts as one step of the bursty loss chain.
pub const BURST_IDLE_STEP: Duration = Duration::from_millis(10);

/// Salt separating the condition draws from the run's own random streams.
const CONDITIONS_SALT: u64 = 0x636f_6e64_6974_696f;

impl Scenario {
    /// The scenario of seed `seed` (see the module documentation for the distributions).
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ CONDITIONS_SALT);
        let mut scenario = Scenario::new(seed);
        scenario.object_len = draw_object_len(&mut rng);
        scenario.ipv6 = rng.gen_bool(0.5);
        let rate_bps = draw_rate(&mut rng);
        scenario.client_to_service = draw_link(&mut rng, rate_bps);
        scenario.replica_to_client = draw_link(&mut rng, rate_bps);
        scenario.replicas = rng.gen_range(1..=3);
        scenario.policy = match rng.gen_range(0..4) {
            0 => ReplicaPolicy::Fixed(0),
            1 => ReplicaPolicy::Random,
            _ => ReplicaPolicy::RoundRobin,
        };
        if rng.gen_bool(0.25) {
            for _ in 0..rng.gen_range(1..=2) {
                scenario.crashes.push(ReplicaCrash {
                    replica: rng.gen_range(0..scenario.replicas),
                    at: Instant(rng.gen_range(0..=2_000_000)),
                    down_for: Some(Duration(rng.gen_range(0..=1_500_000))),
                });
            }
        }
        scenario
    }
}

fn draw_object_len(rng: &mut ChaCha8Rng) -> usize {
    match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=29 => rng.gen_range(1..=4 * 1200),
        30..=69 => rng.gen_range(1..=64 * 1024),
        70..=94 => rng.gen_range(1..=200 * 1024),
        _ => rng.gen_range(1..=400 * 1024),
    }
}

/// `None` for an unlimited rate, else about 1–100 Mbit/s: a step of the 1-2-5 series scaled by
/// 0.8–1.25 (integer arithmetic only, so every platform draws the same rates).
fn draw_rate(rng: &mut ChaCha8Rng) -> Option<u64> {
    const STEPS_MBPS: [u64; 7] = [1, 2, 5, 10, 20, 50, 100];
    if rng.gen_bool(0.25) {
        return None;
    }
    let step = STEPS_MBPS[rng.gen_range(0..STEPS_MBPS.len())];
    Some(step * 1_000_000 * rng.gen_range(80..=125) / 100)
}

fn draw_link(rng: &mut ChaCha8Rng, rate_bps: Option<u64>) -> LinkConfig {
    let delay = Duration(rng.gen_range(0..=100_000));
    let jitter = if rng.gen_bool(0.5) {
        Duration(rng.gen_range(0..=(delay.micros() / 4).min(10_000)))
    } else {
        Duration::ZERO
    };
    let (loss, burst_loss) = match rng.gen_range(0..3) {
        0 => (0.0, None),
        1 => (rng.gen_range(0.0..=0.2), None),
        _ => {
            let mean = rng.gen_range(0.0..=0.2);
            let burst = rng.gen_range(1.0..=5.0);
            let model = GilbertElliott::with_mean_loss(mean, burst);
            (0.0, Some(model.stepping_when_idle(BURST_IDLE_STEP)))
        }
    };
    let (reorder, reorder_delay) = if rng.gen_bool(0.5) {
        (
            rng.gen_range(0.0..=0.05),
            Duration(rng.gen_range(1_000..=30_000)),
        )
    } else {
        (0.0, Duration::ZERO)
    };
    let duplicate = if rng.gen_bool(1.0 / 3.0) {
        rng.gen_range(0.0..=0.03)
    } else {
        0.0
    };
    LinkConfig {
        delay,
        jitter,
        rate_bps,
        queue_limit_packets: rate_bps.map(|_| rng.gen_range(20..=200)),
        queue_limit_bytes: None,
        loss,
        burst_loss,
        reorder,
        reorder_delay,
        duplicate,
        drop_packets: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_determines_the_scenario() {
        assert_eq!(Scenario::from_seed(17), Scenario::from_seed(17));
        assert_ne!(Scenario::from_seed(17), Scenario::from_seed(18));
    }

    #[test]
    fn drawn_conditions_stay_in_their_ranges() {
        for seed in 0..500 {
            let s = Scenario::from_seed(seed);
            assert!(s.object_len <= 400 * 1024);
            assert!((1..=3).contains(&s.replicas));
            for link in [&s.client_to_service, &s.replica_to_client] {
                assert!(link.delay <= Duration::from_millis(100));
                assert!(link.loss <= 0.2);
                assert!(link.burst_loss.is_none_or(|b| b.mean_loss() <= 0.2 + 1e-9));
            }
            assert!(s
                .crashes
                .iter()
                .all(|c| c.replica < s.replicas && c.down_for.is_some()));
        }
    }

    #[test]
    fn drawn_scenarios_cover_every_kind_of_condition() {
        let scenarios: Vec<Scenario> = (0..200).map(Scenario::from_seed).collect();
        let any = |f: &dyn Fn(&Scenario) -> bool| scenarios.iter().any(f);
        assert!(any(&|s| s.object_len == 0));
        assert!(any(&|s| s.object_len > 200 * 1024));
        assert!(any(&|s| s.client_to_service.burst_loss.is_some()));
        assert!(any(&|s| s.client_to_service.loss > 0.1));
        assert!(any(&|s| s.replica_to_client.reorder > 0.0));
        assert!(any(&|s| s.replica_to_client.duplicate > 0.0));
        assert!(any(&|s| s.replica_to_client.rate_bps.is_some()));
        assert!(any(
            &|s| s.replicas == 3 && s.policy == ReplicaPolicy::RoundRobin
        ));
        assert!(any(&|s| !s.crashes.is_empty()));
        assert!(any(&|s| s.ipv6));
    }
}
