//! [`HealthState`]: whether a backend is up, from the outcomes of its health probes, with
//! hysteresis: `fall` consecutive failures take an up backend down, `rise` consecutive successes
//! bring a down backend up. A refused probe (ICMP port unreachable: nothing listens any more)
//! takes a backend down at once when `down_on_refused` is set, so a crashed replica leaves the
//! table at its next probe instead of after `fall` intervals.
//!
//! A backend starts **down, one success away from up**: the first answered probe (sent as soon
//! as the balancer starts or the backend is added) puts it in the table, and a backend that is
//! dead at start never receives traffic.

/// The outcome of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The backend answered as expected.
    Success,
    /// No answer within the timeout (or a wrong answer).
    Timeout,
    /// The backend's host said nothing listens there (ICMP port unreachable, TCP RST).
    Refused,
    /// Any other failure (no route, HTTP status not 200, ...).
    Failed,
}

impl ProbeOutcome {
    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            ProbeOutcome::Success => "ok",
            ProbeOutcome::Timeout => "timeout",
            ProbeOutcome::Refused => "refused",
            ProbeOutcome::Failed => "failed",
        }
    }

    /// Every outcome (to pre-create metric series).
    pub const ALL: [ProbeOutcome; 4] = [
        ProbeOutcome::Success,
        ProbeOutcome::Timeout,
        ProbeOutcome::Refused,
        ProbeOutcome::Failed,
    ];
}

/// Thresholds of the hysteresis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthThresholds {
    /// Consecutive successes that bring a down backend up (≥ 1).
    pub rise: u32,
    /// Consecutive failures that take an up backend down (≥ 1).
    pub fall: u32,
    /// A refused probe takes the backend down at once.
    pub down_on_refused: bool,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            rise: 2,
            fall: 2,
            down_on_refused: true,
        }
    }
}

/// A change of state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Was down, is up.
    WentUp,
    /// Was up, is down.
    WentDown,
}

/// One backend's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthState {
    up: bool,
    /// Consecutive outcomes against the current state (successes while down, failures while up).
    streak: u32,
}

impl HealthState {
    /// A new backend: down, one success away from up.
    pub fn new(thresholds: HealthThresholds) -> Self {
        HealthState {
            up: false,
            streak: thresholds.rise.saturating_sub(1),
        }
    }

    /// Up or down.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Account for one probe outcome; returns the transition it caused, if any.
    pub fn observe(
        &mut self,
        outcome: ProbeOutcome,
        thresholds: HealthThresholds,
    ) -> Option<Transition> {
        let success = outcome == ProbeOutcome::Success;
        if success == self.up {
            // Confirms the current state.
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let threshold = if self.up {
            if thresholds.down_on_refused && outcome == ProbeOutcome::Refused {
                1
            } else {
                thresholds.fall.max(1)
            }
        } else {
            thresholds.rise.max(1)
        };
        if self.streak < threshold {
            return None;
        }
        self.up = !self.up;
        self.streak = 0;
        Some(if self.up {
            Transition::WentUp
        } else {
            Transition::WentDown
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeOutcome::*;

    const T: HealthThresholds = HealthThresholds {
        rise: 3,
        fall: 2,
        down_on_refused: true,
    };

    fn run(state: &mut HealthState, outcomes: &[ProbeOutcome]) -> Vec<Option<Transition>> {
        outcomes.iter().map(|o| state.observe(*o, T)).collect()
    }

    #[test]
    fn first_success_brings_a_new_backend_up() {
        let mut state = HealthState::new(T);
        assert!(!state.is_up());
        assert_eq!(run(&mut state, &[Success]), [Some(Transition::WentUp)]);
    }

    #[test]
    fn a_new_backend_that_never_answers_stays_down() {
        let mut state = HealthState::new(T);
        assert_eq!(run(&mut state, &[Timeout, Timeout, Refused]), [None; 3]);
        assert!(!state.is_up());
    }

    #[test]
    fn fall_consecutive_failures_take_it_down_and_a_success_resets_the_count() {
        let mut state = HealthState::new(T);
        run(&mut state, &[Success]);
        assert_eq!(
            run(&mut state, &[Timeout, Success, Timeout, Timeout]),
            [None, None, None, Some(Transition::WentDown)]
        );
    }

    #[test]
    fn rise_consecutive_successes_bring_it_back() {
        let mut state = HealthState::new(T);
        run(&mut state, &[Success, Timeout, Timeout]);
        assert!(!state.is_up());
        assert_eq!(
            run(
                &mut state,
                &[Success, Success, Timeout, Success, Success, Success]
            ),
            [None, None, None, None, None, Some(Transition::WentUp)]
        );
    }

    #[test]
    fn a_refused_probe_takes_it_down_at_once_unless_disabled() {
        let mut state = HealthState::new(T);
        run(&mut state, &[Success]);
        assert_eq!(run(&mut state, &[Refused]), [Some(Transition::WentDown)]);
        let lenient = HealthThresholds {
            down_on_refused: false,
            ..T
        };
        let mut state = HealthState::new(lenient);
        state.observe(Success, lenient);
        assert_eq!(state.observe(Refused, lenient), None);
        assert_eq!(state.observe(Refused, lenient), Some(Transition::WentDown));
    }
}
