//! [`UnreachablePacer`]: how often a client may act on "destination unreachable".
//!
//! When a server process dies, its host answers the client's next datagrams with ICMP "port
//! unreachable" (a crashed or unplugged host may give "host unreachable" from a router). The
//! client hears of the failure at once instead of after a retransmission timeout, and can try
//! again as soon as a replacement may be listening. But ICMP is unauthenticated: a forged flood
//! must not turn into a flood of the client's own, nor make it give up. So the client reacts to
//! an unreachable (one that quotes a datagram of its own connection) at most once per *gap*: the
//! first reaction at once, then the gap starts at [`FIRST_GAP`] and doubles up to the current RTO;
//! it starts again from the first gap only when packets arrive a whole RTO after the last
//! reaction. And an error is not believed while the server's packets keep arriving (within a
//! quarter of the smoothed RTT after one). An unreachable that arrives
//! within a gap is not dropped: one reaction is deferred to the gap's end (it may answer the
//! very retry that the server's return would have answered, and nothing else may follow). Reactions never count toward
//! giving up: only the retransmission timer does that. At most about log₂(RTO / 10 ms) + 1
//! reactions happen per RTO whatever arrives, each one datagram.

use crate::time::{Duration, Instant};

/// The gap after the first reaction: a process restarted at once (a supervisor) listens again
/// within tens of milliseconds.
pub const FIRST_GAP: Duration = Duration::from_millis(10);

/// The pacing of reactions to unreachables (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct UnreachablePacer {
    /// When the next reaction is allowed, and the gap after it.
    next: Option<(Instant, Duration)>,
    /// An unreachable arrived within the gap (or while packets were arriving): react when the
    /// gap ends, unless a packet comes first (the retry it answered was lost like the others,
    /// and no later error may come to prompt us).
    deferred: bool,
    /// When the last packet of the connection arrived, and how long after it an unreachable
    /// is believed.
    last_answer: Option<(Instant, Duration)>,
    /// When the last reaction happened.
    last_reaction: Option<Instant>,
}

impl UnreachablePacer {
    /// Whether to react to an unreachable arriving at `now`; if so the reaction is recorded and
    /// the next gap doubles, up to `cap` (the RTO); if not, one reaction is deferred
    /// ([`Self::deferred_until`]). Not while packets arrive: within the quiet time after the
    /// last one (a quarter of the smoothed RTT) the server is evidently reachable, whatever an
    /// error says; a server that died stops sending at least half a round trip before the
    /// first error about it can arrive.
    pub fn allow(&mut self, now: Instant, cap: Duration) -> bool {
        let quiet_until = self.last_answer.map(|(at, quiet)| at + quiet);
        let gap = match self.next {
            Some((at, _)) if now < at => None,
            _ if quiet_until.is_some_and(|q| now < q) => None,
            None => Some(FIRST_GAP),
            Some((_, gap)) => Some(gap),
        };
        let Some(gap) = gap else {
            self.deferred = true;
            return false;
        };
        self.deferred = false;
        let cap = cap.max(FIRST_GAP);
        let doubled = Duration(gap.micros().saturating_mul(2)).min(cap);
        self.next = Some((now + gap.min(cap), doubled));
        self.last_reaction = Some(now);
        true
    }

    /// When the deferred reaction is due, if one is.
    pub fn deferred_until(&self) -> Option<Instant> {
        if !self.deferred {
            return None;
        }
        let gap_end = self.next.map(|(at, _)| at);
        let quiet_until = self.last_answer.map(|(at, quiet)| at + quiet);
        gap_end.max(quiet_until)
    }

    /// Whether the deferred reaction is due at `now`; if so it is recorded as [`Self::allow`]
    /// records one.
    pub fn take_deferred(&mut self, now: Instant, cap: Duration) -> bool {
        self.deferred_until().is_some_and(|at| now >= at) && self.allow(now, cap)
    }

    /// A packet of the connection arrived at `now`: the server is reachable. A deferred
    /// reaction is dropped, errors are not believed for `quiet`, and once a whole `cap` (the
    /// RTO) has passed since the last reaction the gaps start again from [`FIRST_GAP`].
    pub fn answered(&mut self, now: Instant, quiet: Duration, cap: Duration) {
        self.deferred = false;
        self.last_answer = Some((now, quiet));
        if self
            .last_reaction
            .is_some_and(|at| now.saturating_since(at) >= cap)
        {
            self.next = None;
            self.last_reaction = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant(1_000_000 + ms * 1000)
    }

    #[test]
    fn reactions_are_spaced_by_a_doubling_gap_capped_at_the_rto() {
        let mut pacer = UnreachablePacer::default();
        let rto = Duration::from_millis(50);
        let allowed: Vec<u64> = (0..300).filter(|&ms| pacer.allow(at(ms), rto)).collect();
        assert_eq!(allowed, vec![0, 10, 30, 70, 120, 170, 220, 270]);
    }

    #[test]
    fn an_unreachable_within_the_gap_is_acted_on_when_the_gap_ends() {
        let mut pacer = UnreachablePacer::default();
        let rto = Duration::from_millis(200);
        assert!(pacer.allow(at(0), rto));
        assert_eq!(pacer.deferred_until(), None);
        assert!(!pacer.allow(at(4), rto));
        assert_eq!(pacer.deferred_until(), Some(at(10)));
        assert!(!pacer.take_deferred(at(9), rto));
        assert!(pacer.take_deferred(at(10), rto));
        assert_eq!(
            pacer.deferred_until(),
            None,
            "one deferred reaction, not one per error"
        );
        assert!(!pacer.take_deferred(at(40), rto));
    }

    #[test]
    fn errors_are_not_believed_while_packets_arrive() {
        let mut pacer = UnreachablePacer::default();
        let (rto, quiet) = (Duration::from_millis(200), Duration::from_millis(3));
        pacer.answered(at(100), quiet, rto);
        assert!(!pacer.allow(at(101), rto), "a packet 1 ms ago");
        assert_eq!(pacer.deferred_until(), Some(at(103)));
        pacer.answered(at(102), quiet, rto);
        assert_eq!(
            pacer.deferred_until(),
            None,
            "the packet answered the question"
        );
        assert!(pacer.allow(at(106), rto), "3 ms without a packet");
    }

    #[test]
    fn the_gaps_start_again_only_a_whole_rto_after_the_last_reaction() {
        let mut pacer = UnreachablePacer::default();
        let (rto, quiet) = (Duration::from_millis(200), Duration::from_millis(1));
        assert!(pacer.allow(at(0), rto));
        assert!(pacer.allow(at(10), rto));
        pacer.answered(at(50), quiet, rto);
        assert!(pacer.allow(at(60), rto), "after the 20 ms gap");
        assert!(!pacer.allow(at(70), rto), "the gap is 40 ms now");
        pacer.answered(at(300), quiet, rto);
        assert!(pacer.allow(at(302), rto));
        assert!(!pacer.allow(at(305), rto), "back to a 10 ms gap");
        assert!(pacer.allow(at(312), rto));
    }

    #[test]
    fn a_flood_gets_a_bounded_number_of_reactions_per_rto() {
        let mut pacer = UnreachablePacer::default();
        let rto = Duration::from_millis(200);
        // One forged unreachable every 10 µs for one second.
        let reactions = (0..100_000u64)
            .filter(|&i| pacer.allow(Instant(1_000_000 + i * 10), rto))
            .count();
        // 0, 10, 30, 70, 150, 310, then every 200 ms: 9 in the second.
        assert!(reactions <= 10, "{reactions} reactions");
    }
}
