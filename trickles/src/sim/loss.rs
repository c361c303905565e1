//! Packet loss models: independent (Bernoulli) loss and bursty loss after Gilbert and Elliott.
//!
//! The Gilbert–Elliott model is a two-state Markov chain evaluated once per packet. In the
//! *good* state a packet is lost with probability `loss_in_good` (usually 0), in the *bad* state
//! with `loss_in_bad` (usually 1). Before each packet the chain moves good → bad with
//! probability `good_to_bad` and bad → good with `bad_to_good`. The stationary share of packets
//! seen in the bad state is `good_to_bad / (good_to_bad + bad_to_good)`, and a bad period lasts
//! `1 / bad_to_good` packets on average: that is what makes losses come in bursts.
//!
//! Probabilities are compared as `draw < p` with `draw` uniform in `[0, 1)`, so a value ≤ 0 (or
//! NaN) never fires and a value ≥ 1 always fires: no configuration can make the model panic.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `true` with probability `p` (clamped to `[0, 1]`; NaN counts as 0).
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// Parameters of the Gilbert–Elliott two-state bursty loss model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state before a packet.
    pub good_to_bad: f64,
    /// Probability of moving from the bad to the good state before a packet.
    pub bad_to_good: f64,
    /// Loss probability while in the good state.
    pub loss_in_good: f64,
    /// Loss probability while in the bad state.
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// The classic Gilbert model (no loss when good, all lost when bad) tuned so that the
    /// long-run loss rate is `mean_loss` and loss bursts last `mean_burst` packets on average.
    /// `mean_loss` is clamped to `[0, 0.99]` and `mean_burst` to at least 1.
    pub fn with_mean_loss(mean_loss: f64, mean_burst: f64) -> Self {
        let mean_loss = if mean_loss.is_nan() {
            0.0
        } else {
            mean_loss.clamp(0.0, 0.99)
        };
        let mean_burst = if mean_burst.is_nan() {
            1.0
        } else {
            mean_burst.max(1.0)
        };
        let bad_to_good = 1.0 / mean_burst;
        // Stationary P(bad) = g2b / (g2b + b2g) = mean_loss.
        let good_to_bad = mean_loss * bad_to_good / (1.0 - mean_loss);
        Self {
            good_to_bad,
            bad_to_good,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }
    }

    /// Long-run fraction of packets lost by this model.
    pub fn mean_loss(&self) -> f64 {
        let total = self.good_to_bad + self.bad_to_good;
        if total <= 0.0 {
            return self.loss_in_good;
        }
        let p_bad = self.good_to_bad / total;
        p_bad * self.loss_in_bad + (1.0 - p_bad) * self.loss_in_good
    }
}

/// The running state of a [`GilbertElliott`] chain on one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GilbertElliottState {
    in_bad_state: bool,
}

impl GilbertElliottState {
    /// Advance the chain by one packet and decide whether that packet is lost.
    pub fn packet_lost(&mut self, model: &GilbertElliott, rng: &mut ChaCha8Rng) -> bool {
        let leave = if self.in_bad_state {
            model.bad_to_good
        } else {
            model.good_to_bad
        };
        if chance(rng, leave) {
            self.in_bad_state = !self.in_bad_state;
        }
        let loss = if self.in_bad_state {
            model.loss_in_bad
        } else {
            model.loss_in_good
        };
        chance(rng, loss)
    }

    /// Whether the chain is currently in its bad (lossy) state.
    pub fn in_bad_state(&self) -> bool {
        self.in_bad_state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn observed_loss(model: &GilbertElliott, packets: usize, seed: u64) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut state = GilbertElliottState::default();
        let (mut lost, mut bursts, mut previous_lost) = (0usize, 0usize, false);
        for _ in 0..packets {
            let is_lost = state.packet_lost(model, &mut rng);
            if is_lost {
                lost += 1;
                if !previous_lost {
                    bursts += 1;
                }
            }
            previous_lost = is_lost;
        }
        let mean_burst = if bursts == 0 {
            0.0
        } else {
            lost as f64 / bursts as f64
        };
        (lost as f64 / packets as f64, mean_burst)
    }

    #[test]
    fn bursty_loss_rate_converges_to_its_mean() {
        let model = GilbertElliott::with_mean_loss(0.10, 4.0);
        assert!((model.mean_loss() - 0.10).abs() < 1e-12);
        let (rate, burst) = observed_loss(&model, 200_000, 7);
        assert!((rate - 0.10).abs() < 0.01, "observed loss {rate}");
        assert!((burst - 4.0).abs() < 0.4, "observed mean burst {burst}");
    }

    #[test]
    fn bursty_losses_come_in_runs_unlike_independent_losses() {
        let model = GilbertElliott::with_mean_loss(0.05, 8.0);
        let (_, burst) = observed_loss(&model, 100_000, 11);
        assert!(burst > 5.0, "bursts too short: {burst}");
    }

    #[test]
    fn independent_chance_matches_its_probability() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let hits = (0..100_000).filter(|_| chance(&mut rng, 0.2)).count();
        assert!((hits as f64 / 100_000.0 - 0.2).abs() < 0.01, "hits {hits}");
    }

    #[test]
    fn out_of_range_probabilities_do_not_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(!chance(&mut rng, -1.0));
        assert!(!chance(&mut rng, f64::NAN));
        assert!(chance(&mut rng, 2.0));
        let degenerate = GilbertElliott::with_mean_loss(f64::NAN, f64::NAN);
        assert_eq!(degenerate.mean_loss(), 0.0);
    }
}
