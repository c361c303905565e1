//! [`FaultScript`]: how a test server misbehaves (a lossy path, a loss burst, answers from
//! another address, a crash and restart), and the little state machine that plays it.

use std::time::{Duration, Instant};

/// How the test server misbehaves. The default is a well-behaved server.
#[derive(Clone, Debug, Default)]
pub struct FaultScript {
    /// Drop every n-th datagram the server would send (n ≥ 2), as a lossy path.
    pub drop_every: Option<u64>,
    /// Drop the sent datagrams numbered `start .. start + len` (1-based): a loss burst.
    pub drop_burst: Option<(u64, u64)>,
    /// Send answers from a second socket (another port): a "replica" answering.
    pub answer_from_other_socket: bool,
    /// After this many received datagrams, play dead (drop everything) for `dead_for`, then
    /// come back as a fresh endpoint (empty replay filter) with the same key: a restart.
    pub crash_after: Option<u64>,
    /// How long the crashed server stays silent.
    pub dead_for: Duration,
}

/// Whether the server answers the datagram just received.
pub(super) enum Alive {
    /// As usual.
    Yes,
    /// Crashed: the datagram is lost.
    Dead,
    /// Back from a crash: a fresh endpoint answers.
    Restarted,
}

/// A [`FaultScript`] being played.
pub(super) struct Faults {
    script: FaultScript,
    sent: u64,
    dead_until: Option<Instant>,
}

impl Faults {
    pub(super) fn new(script: FaultScript) -> Self {
        Faults {
            script,
            sent: 0,
            dead_until: None,
        }
    }

    /// The `count`-th datagram (1-based) has arrived.
    pub(super) fn on_receive(&mut self, count: u64) -> Alive {
        if self.script.crash_after == Some(count) {
            self.dead_until = Some(Instant::now() + self.script.dead_for);
        }
        match self.dead_until {
            Some(until) if Instant::now() < until => Alive::Dead,
            Some(_) => {
                self.dead_until = None;
                Alive::Restarted
            }
            None => Alive::Yes,
        }
    }

    /// The server is about to send a datagram: whether the path lets it through.
    pub(super) fn send_this(&mut self) -> bool {
        self.sent += 1;
        let sent = self.sent;
        let in_burst = self
            .script
            .drop_burst
            .is_some_and(|(start, len)| (start..start + len).contains(&sent));
        let every = self.script.drop_every.is_some_and(|n| sent % n == 0);
        !(in_burst || every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(script: FaultScript, sends: usize) -> Vec<u64> {
        let mut faults = Faults::new(script);
        (1..=sends as u64).filter(|_| faults.send_this()).collect()
    }

    #[test]
    fn a_burst_drops_exactly_its_datagrams() {
        let script = FaultScript {
            drop_burst: Some((3, 2)),
            ..FaultScript::default()
        };
        assert_eq!(passed(script, 6), vec![1, 2, 5, 6]);
    }

    #[test]
    fn drop_every_n_drops_each_nth() {
        let script = FaultScript {
            drop_every: Some(3),
            ..FaultScript::default()
        };
        assert_eq!(passed(script, 7), vec![1, 2, 4, 5, 7]);
    }

    #[test]
    fn a_crash_loses_what_arrives_while_dead_then_restarts() {
        let mut faults = Faults::new(FaultScript {
            crash_after: Some(2),
            dead_for: Duration::ZERO,
            ..FaultScript::default()
        });
        assert!(matches!(faults.on_receive(1), Alive::Yes));
        assert!(matches!(faults.on_receive(2), Alive::Restarted));
        assert!(matches!(faults.on_receive(3), Alive::Yes));
    }
}
