//! Packet loss models: independent (Bernoulli) loss and bursty loss after Gilbert and Elliott.
//!
//! The Gilbert–Elliott model is a two-state Markov chain evaluated once per packet. In the
//! *good* state a packet is lost with probability `loss_in_good` (usually 0), in the *bad* state
//! with `loss_in_bad` (usually 1). Before each packet the chain moves good → bad with
//! probability `good_to_bad` and bad → good with `bad_to_good`. The stationary share of packets
//! seen in the bad state is `good_to_bad / (good_to_bad + bad_to_good)`, and a bad period lasts
//! `1 / bad_to_good` packets on average: that is what makes losses come in bursts.
//!
//! Stepping only per packet (as netem's `gemodel` does) freezes the chain while a link is idle,
//! so a sender that backs off exponentially (one packet per RTO) sees a single bad period
//! last for minutes: a multi-minute outage no real path with a few percent of loss produces.
//! With `idle_step` set, the chain also takes one step per `idle_step` of silence before a
//! packet (computed in closed form), so packets closer than `idle_step` see bursts of the
//! configured length and packets far apart see losses close to independent at the mean rate.
//!
//! Probabilities are compared as `draw < p` with `draw` uniform in `[0, 1)`, so a value ≤ 0 (or
//! NaN) never fires and a value ≥ 1 always fires: no configuration can make the model panic.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::time::{Duration, Instant};

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
    /// If set, the chain also steps once per `idle_step` of time without packets.
    pub idle_step: Option<Duration>,
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
            idle_step: None,
        }
    }

    /// The same model, also stepping once per `step` of idle time.
    pub fn stepping_when_idle(self, step: Duration) -> Self {
        Self {
            idle_step: Some(step),
            ..self
        }
    }

    /// Probability of being in the bad state `steps` steps after being in `bad` (or good).
    fn bad_after(&self, bad: bool, steps: u64) -> f64 {
        let total = self.good_to_bad + self.bad_to_good;
        if total.is_nan() || total <= 0.0 {
            return if bad { 1.0 } else { 0.0 };
        }
        let stationary = self.good_to_bad / total;
        let start = if bad { 1.0 } else { 0.0 };
        // The deviation from the stationary share shrinks by (1 - g2b - b2g) per step.
        stationary + (start - stationary) * power(1.0 - total, steps)
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
    last_packet: Option<Instant>,
}

impl GilbertElliottState {
    /// Advance the chain to a packet offered at `now` and decide whether that packet is lost.
    pub fn packet_lost(
        &mut self,
        model: &GilbertElliott,
        now: Instant,
        rng: &mut ChaCha8Rng,
    ) -> bool {
        if let (Some(step), Some(last)) = (model.idle_step, self.last_packet) {
            let idle_steps = now.saturating_since(last).micros() / step.micros().max(1);
            if idle_steps > 0 {
                self.in_bad_state = chance(rng, model.bad_after(self.in_bad_state, idle_steps));
            }
        }
        self.last_packet = Some(now);
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

/// `base^exponent` by repeated squaring: plain IEEE multiplications, so the result is the same
/// on every platform and optimisation level (unlike `powi`).
fn power(base: f64, mut exponent: u64) -> f64 {
    let (mut result, mut square) = (1.0, base);
    while exponent > 0 {
        if exponent & 1 == 1 {
            result *= square;
        }
        square *= square;
        exponent >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn observed_loss(model: &GilbertElliott, packets: usize, seed: u64) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut state = GilbertElliottState::default();
        let (mut lost, mut bursts, mut previous_lost) = (0usize, 0usize, false);
        for i in 0..packets {
            let is_lost = state.packet_lost(model, Instant(i as u64), &mut rng);
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
    fn without_idle_steps_a_burst_outlives_any_silence() {
        let model = GilbertElliott::with_mean_loss(0.05, 1e9);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut state = GilbertElliottState {
            in_bad_state: true,
            last_packet: None,
        };
        for minute in 0..20 {
            let at = Instant(minute * 60_000_000);
            assert!(state.packet_lost(&model, at, &mut rng));
        }
    }

    #[test]
    fn idle_steps_let_sparse_packets_see_the_mean_loss() {
        // Bursts of 20 packets; packets 1 s apart with a 1 ms idle step are nearly independent.
        let model =
            GilbertElliott::with_mean_loss(0.1, 20.0).stepping_when_idle(Duration::from_millis(1));
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut state = GilbertElliottState::default();
        let (mut lost, mut longest_run, mut run) = (0, 0, 0);
        for second in 0..20_000u64 {
            if state.packet_lost(&model, Instant(second * 1_000_000), &mut rng) {
                lost += 1;
                run += 1;
                longest_run = longest_run.max(run);
            } else {
                run = 0;
            }
        }
        let rate = f64::from(lost) / 20_000.0;
        assert!((rate - 0.1).abs() < 0.01, "observed loss {rate}");
        assert!(longest_run < 8, "runs of {longest_run}: still bursty");
    }

    #[test]
    fn idle_steps_keep_back_to_back_packets_bursty() {
        let model =
            GilbertElliott::with_mean_loss(0.1, 4.0).stepping_when_idle(Duration::from_millis(10));
        // One packet per 100 µs: no idle step ever completes between packets.
        let (rate, burst) = {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let mut state = GilbertElliottState::default();
            let (mut lost, mut bursts, mut previous) = (0usize, 0usize, false);
            for i in 0..200_000u64 {
                let is_lost = state.packet_lost(&model, Instant(i * 100), &mut rng);
                lost += usize::from(is_lost);
                bursts += usize::from(is_lost && !previous);
                previous = is_lost;
            }
            (lost as f64 / 200_000.0, lost as f64 / bursts as f64)
        };
        assert!((rate - 0.1).abs() < 0.01, "observed loss {rate}");
        assert!((burst - 4.0).abs() < 0.4, "observed mean burst {burst}");
    }

    #[test]
    fn power_by_squaring_matches_repeated_multiplication() {
        let mut expected = 1.0f64;
        for exponent in 0..40 {
            assert!((power(0.93, exponent) - expected).abs() < 1e-12);
            expected *= 0.93;
        }
        assert_eq!(power(0.5, u64::MAX), 0.0);
        assert_eq!(power(-1.0, 3), -1.0);
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
