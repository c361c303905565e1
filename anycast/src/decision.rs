//! The controller's decisions, pure: what an announcement should be ([`want`]), what to tell
//! BIRD about it ([`action`]), and why its announced state changed ([`Cause`]). No socket, no
//! clock; `tests/it/fake_bird.rs` drives the whole loop against a fake control socket.
//!
//! | site health | drain | stopping | want | cause |
//! | --- | --- | --- | --- | --- |
//! | healthy | no | no | announce | `healthy` |
//! | unhealthy | no | no | withdraw | `unhealthy` |
//! | any | yes | no | withdraw | `drain` |
//! | any | any | yes | withdraw | `shutdown` |
//!
//! Announced means BIRD confirmed the protocol enabled while the controller wants it; when BIRD
//! cannot be asked, or lacks the protocol, nothing counts as announced (cause `bird`).

use trickles_balancer::core::{HealthState, HealthThresholds, ProbeOutcome};

use crate::bird::ProtocolStatus;

/// Why an announcement's state changed (the `cause` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Enough checks up.
    Healthy,
    /// Too few checks up.
    Unhealthy,
    /// An operator's drain.
    Drain,
    /// The controller is stopping.
    Shutdown,
    /// BIRD is unreachable, answers garbage, refuses, or lacks the protocol.
    Bird,
}

impl Cause {
    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Healthy => "healthy",
            Cause::Unhealthy => "unhealthy",
            Cause::Drain => "drain",
            Cause::Shutdown => "shutdown",
            Cause::Bird => "bird",
        }
    }

    /// Every cause (to pre-create metric series).
    pub const ALL: [Cause; 5] = [
        Cause::Healthy,
        Cause::Unhealthy,
        Cause::Drain,
        Cause::Shutdown,
        Cause::Bird,
    ];
}

/// What an announcement should be, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// Announce (enable) or withdraw (disable).
    pub announce: bool,
    /// Why.
    pub cause: Cause,
}

/// The table above.
pub fn want(healthy: bool, draining: bool, stopping: bool) -> Want {
    let (announce, cause) = if stopping {
        (false, Cause::Shutdown)
    } else if draining {
        (false, Cause::Drain)
    } else if healthy {
        (true, Cause::Healthy)
    } else {
        (false, Cause::Unhealthy)
    };
    Want { announce, cause }
}

/// A command for BIRD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `enable NAME`.
    Enable,
    /// `disable NAME`.
    Disable,
}

/// The protocol is not in BIRD's `show protocols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingProtocol;

/// What to send BIRD so that `status` matches `announce`; nothing when it already does.
pub fn action(
    announce: bool,
    status: Option<&ProtocolStatus>,
) -> Result<Option<Action>, MissingProtocol> {
    let status = status.ok_or(MissingProtocol)?;
    Ok(match (announce, status.is_enabled()) {
        (true, false) => Some(Action::Enable),
        (false, true) => Some(Action::Disable),
        _ => None,
    })
}

/// The cause of a change of the announced state from `before` to `after`.
pub fn transition(before: bool, after: bool, want: Want) -> Option<Cause> {
    match (before, after) {
        (false, true) => Some(want.cause),
        (true, false) if !want.announce => Some(want.cause),
        (true, false) => Some(Cause::Bird),
        _ => None,
    }
}

/// The checks of one announcement, each with rise/fall hysteresis.
#[derive(Clone, Debug)]
pub struct SiteHealth {
    checks: Vec<HealthState>,
    thresholds: HealthThresholds,
    min_healthy: usize,
}

impl SiteHealth {
    /// `checks` targets, all down (one success away from up), `min_healthy` needed.
    pub fn new(checks: usize, thresholds: HealthThresholds, min_healthy: usize) -> Self {
        SiteHealth {
            checks: vec![HealthState::new(thresholds); checks],
            thresholds,
            min_healthy,
        }
    }

    /// Account for check `index`'s outcome; true when that check changed state.
    pub fn observe(&mut self, index: usize, outcome: ProbeOutcome) -> bool {
        self.checks
            .get_mut(index)
            .and_then(|c| c.observe(outcome, self.thresholds))
            .is_some()
    }

    /// Checks up.
    pub fn up(&self) -> usize {
        self.checks.iter().filter(|c| c.is_up()).count()
    }

    /// Is check `index` up?
    pub fn is_up(&self, index: usize) -> bool {
        self.checks.get(index).is_some_and(HealthState::is_up)
    }

    /// Enough checks up to announce.
    pub fn healthy(&self) -> bool {
        self.up() >= self.min_healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str) -> ProtocolStatus {
        ProtocolStatus {
            name: "anycast4".into(),
            proto: "Static".into(),
            table: "master4".into(),
            state: state.into(),
            since: "00:00:00".into(),
            info: String::new(),
        }
    }

    #[test]
    fn drain_and_shutdown_win_over_health() {
        assert_eq!(
            want(true, false, false),
            Want {
                announce: true,
                cause: Cause::Healthy
            }
        );
        assert_eq!(want(true, true, false).cause, Cause::Drain);
        assert_eq!(want(true, true, true).cause, Cause::Shutdown);
        assert_eq!(
            want(false, false, false),
            Want {
                announce: false,
                cause: Cause::Unhealthy
            }
        );
    }

    #[test]
    fn bird_is_told_only_what_differs_and_never_about_a_missing_protocol() {
        assert_eq!(
            action(true, Some(&status("down"))),
            Ok(Some(Action::Enable))
        );
        assert_eq!(action(true, Some(&status("up"))), Ok(None));
        assert_eq!(
            action(false, Some(&status("up"))),
            Ok(Some(Action::Disable))
        );
        assert_eq!(action(false, Some(&status("down"))), Ok(None));
        assert_eq!(action(true, None), Err(MissingProtocol));
    }

    #[test]
    fn a_lost_announcement_the_controller_wanted_is_blamed_on_bird() {
        let healthy = want(true, false, false);
        assert_eq!(transition(true, false, healthy), Some(Cause::Bird));
        assert_eq!(transition(false, true, healthy), Some(Cause::Healthy));
        assert_eq!(
            transition(true, false, want(false, false, false)),
            Some(Cause::Unhealthy)
        );
        assert_eq!(transition(true, true, healthy), None);
    }

    #[test]
    fn the_site_is_healthy_with_min_healthy_checks_up() {
        let thresholds = HealthThresholds {
            rise: 1,
            fall: 2,
            down_on_refused: false,
        };
        let mut site = SiteHealth::new(2, thresholds, 2);
        site.observe(0, ProbeOutcome::Success);
        assert!(!site.healthy());
        site.observe(1, ProbeOutcome::Success);
        assert!(site.healthy());
        site.observe(1, ProbeOutcome::Refused);
        assert!(site.healthy(), "one refused probe is not `fall` failures");
        site.observe(1, ProbeOutcome::Timeout);
        assert!(!site.healthy());
    }
}
