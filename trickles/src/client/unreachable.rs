//! [`UnreachablePacer`]: when a client acts on "destination unreachable", and how often.
//!
//! When a server process dies, its host answers the client's next datagrams with ICMP "port
//! unreachable" (a crashed or unplugged host may give "host unreachable" from a router). The
//! client hears of the failure at once instead of after a retransmission timeout, and can try
//! again as soon as a replacement may be listening. These facts shape the rules:
//!
//! - **Errors arrive while the dead server's last packets still do.** The packets queued on
//!   the path keep arriving after the process died, and the client's requests for them are
//!   what draws the errors. So an error is not acted on while the stream advances (within a
//!   quarter of the smoothed RTT after in-order bytes arrived: the connection calls
//!   [`UnreachablePacer::answered`] only then, since a replacement's answers to later requests
//!   land beyond the hole the dead server left), but it is *kept*: the reaction comes when the
//!   stream stops. An error kept while the stream goes on advancing for a whole RTO was stale
//!   (or forged) and is forgotten.
//! - **No try comes sooner than a round trip after the last** (an answer could not have), and
//!   the connection tells a reaction to an error (move to the next replica, if it has several)
//!   from a probe (try the same server again): see [`Reaction`].
//! - **The kernel rate-limits ICMP** (Linux: a burst of 6 per destination host, then one per
//!   second), so after the first few errors the client hears nothing more. A reaction is
//!   therefore followed by *probes*: at the end of each gap, until the stream advances, the
//!   reaction is made again, errors or not.
//! - **ICMP is unauthenticated.** Only an error quoting one of the connection's own datagrams
//!   counts (the caller checks; an off-path forger does not know the connection id), and
//!   reactions are paced whatever arrives: the gap after a reaction is [`FIRST_GAP`] for the
//!   first [`FLAT_PROBES`] reactions (a process restarted by a supervisor listens again within
//!   tens of milliseconds), then doubles up to the RTO; it starts again from the first gap only
//!   when packets arrive a whole RTO after the last reaction. That is at most
//!   [`FLAT_PROBES`] + log₂(RTO / 10 ms) + 1 datagrams per RTO. Reactions never count toward
//!   giving up: only the retransmission timer does that.

use crate::time::{Duration, Instant};

/// The gap after each of the first [`FLAT_PROBES`] reactions.
pub const FIRST_GAP: Duration = Duration::from_millis(10);

/// Reactions spaced by [`FIRST_GAP`] before the gaps start to double: 100 ms of probing every
/// 10 ms, the time a supervised process takes to come back.
pub const FLAT_PROBES: u32 = 10;

/// Errors are not believed within this long after a packet of the connection (or a quarter of
/// the smoothed RTT, if longer).
const MIN_QUIET: Duration = Duration::from_millis(1);

/// What is pending: an error not acted on yet, or a probe after a reaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// An error arrived at this time, within a gap or while packets arrived.
    Error(Instant),
    /// A reaction was made and nothing has answered it yet.
    Probe,
}

/// Why a reaction is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// The network said the server is unreachable (now, or while packets still arrived).
    Error,
    /// An earlier reaction is unanswered after its gap: try the same server again.
    Probe,
}

/// The pacing of reactions to unreachables (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct UnreachablePacer {
    /// When the next reaction is allowed, and the gap after it.
    next: Option<(Instant, Duration)>,
    /// Reactions since the gaps last started again.
    reactions: u32,
    /// What waits for the gap's end (and for the packets to stop).
    pending: Option<Pending>,
    /// When the last packet of the connection arrived, and how long after it an unreachable
    /// is believed.
    last_answer: Option<(Instant, Duration)>,
    /// The smoothed round trip: no gap is shorter (an answer could not have come sooner).
    round_trip: Duration,
    /// When the last reaction happened.
    last_reaction: Option<Instant>,
}

impl UnreachablePacer {
    /// Whether to react to an unreachable arriving at `now`; if so the reaction is recorded, a
    /// probe is pending at the end of the next gap (capped at `cap`, the RTO); if not, the error
    /// is kept for [`Self::deferred_until`]. Not while packets arrive: within the quiet time
    /// after the last one (a quarter of the smoothed RTT) the server is evidently reachable.
    pub fn allow(&mut self, now: Instant, cap: Duration) -> bool {
        let quiet_until = self.last_answer.map(|(at, quiet)| at + quiet);
        let in_gap = self.next.is_some_and(|(at, _)| now < at);
        if in_gap || quiet_until.is_some_and(|q| now < q) {
            if self.pending.is_none() {
                self.pending = Some(Pending::Error(now));
            }
            return false;
        }
        let cap = cap.max(FIRST_GAP);
        let gap = self.next.map_or(FIRST_GAP, |(_, gap)| gap).min(cap);
        self.reactions += 1;
        let following = if self.reactions < FLAT_PROBES {
            FIRST_GAP
        } else {
            Duration(gap.micros().saturating_mul(2)).min(cap)
        };
        self.next = Some((now + gap.max(self.round_trip.min(cap)), following));
        self.last_reaction = Some(now);
        self.pending = Some(Pending::Probe);
        true
    }

    /// When the pending reaction is due, if one is: the end of the gap, and not before the
    /// packets have stopped for the quiet time.
    pub fn deferred_until(&self) -> Option<Instant> {
        self.pending?;
        let gap_end = self.next.map(|(at, _)| at);
        let quiet_until = self.last_answer.map(|(at, quiet)| at + quiet);
        gap_end.max(quiet_until)
    }

    /// The pending reaction, if it is due at `now`; it is recorded as [`Self::allow`] records
    /// one.
    pub fn take_deferred(&mut self, now: Instant, cap: Duration) -> Option<Reaction> {
        let due = self.deferred_until().is_some_and(|at| now >= at);
        let reaction = match self.pending? {
            Pending::Error(_) => Reaction::Error,
            Pending::Probe => Reaction::Probe,
        };
        (due && self.allow(now, cap)).then_some(reaction)
    }

    /// A packet of the connection arrived at `now`, with the smoothed round trip `srtt`: the
    /// server is reachable. A pending probe is dropped (it was answered), and so is an error
    /// kept for a whole `cap` (the RTO) of arriving packets; errors are not believed for a
    /// quarter of `srtt`; and once a whole `cap` has passed since the last reaction the gaps
    /// start again from [`FIRST_GAP`].
    pub fn answered(&mut self, now: Instant, srtt: Duration, cap: Duration) {
        self.round_trip = srtt;
        self.last_answer = Some((now, Duration(srtt.micros() / 4).max(MIN_QUIET)));
        self.pending = match self.pending {
            Some(Pending::Error(at)) if now.saturating_since(at) < cap => Some(Pending::Error(at)),
            _ => None,
        };
        if self
            .last_reaction
            .is_some_and(|at| now.saturating_since(at) >= cap)
        {
            self.next = None;
            self.last_reaction = None;
            self.reactions = 0;
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
    fn reactions_come_every_10ms_ten_times_then_at_a_doubling_gap_capped_at_the_rto() {
        let mut pacer = UnreachablePacer::default();
        let rto = Duration::from_millis(50);
        let allowed: Vec<u64> = (0..300).filter(|&ms| pacer.allow(at(ms), rto)).collect();
        assert_eq!(
            allowed,
            vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 160, 210, 260]
        );
    }

    #[test]
    fn a_reaction_is_probed_again_at_each_gap_end_until_a_packet_answers() {
        let mut pacer = UnreachablePacer::default();
        let (rto, srtt) = (Duration::from_millis(200), Duration::from_millis(4));
        assert!(pacer.allow(at(0), rto));
        assert_eq!(pacer.deferred_until(), Some(at(10)), "no error needed");
        assert!(!pacer.allow(at(4), rto), "within the gap");
        assert_eq!(pacer.take_deferred(at(9), rto), None);
        assert_eq!(pacer.take_deferred(at(10), rto), Some(Reaction::Probe));
        assert_eq!(pacer.take_deferred(at(20), rto), Some(Reaction::Probe));
        pacer.answered(at(25), srtt, rto);
        assert_eq!(pacer.deferred_until(), None, "answered: no more probes");
        assert_eq!(pacer.take_deferred(at(40), rto), None);
    }

    #[test]
    fn no_gap_is_shorter_than_the_round_trip() {
        let mut pacer = UnreachablePacer::default();
        let rto = Duration::from_millis(200);
        pacer.answered(at(0), Duration::from_millis(30), rto);
        assert!(pacer.allow(at(50), rto));
        assert_eq!(pacer.deferred_until(), Some(at(80)));
    }

    #[test]
    fn an_error_heard_while_packets_still_arrive_is_acted_on_when_they_stop() {
        let mut pacer = UnreachablePacer::default();
        let (rto, srtt) = (Duration::from_millis(200), Duration::from_millis(12));
        pacer.answered(at(100), srtt, rto);
        assert!(!pacer.allow(at(101), rto), "a packet 1 ms ago");
        assert_eq!(pacer.deferred_until(), Some(at(103)));
        // The dead server's last packets, still on the path.
        pacer.answered(at(102), srtt, rto);
        pacer.answered(at(104), srtt, rto);
        assert_eq!(pacer.deferred_until(), Some(at(107)), "kept, not dropped");
        assert_eq!(pacer.take_deferred(at(106), rto), None);
        assert_eq!(
            pacer.take_deferred(at(107), rto),
            Some(Reaction::Error),
            "3 ms without a packet"
        );
    }

    #[test]
    fn an_error_followed_by_a_whole_rto_of_packets_is_forgotten() {
        let mut pacer = UnreachablePacer::default();
        let (rto, srtt) = (Duration::from_millis(200), Duration::from_millis(12));
        pacer.answered(at(100), srtt, rto);
        assert!(!pacer.allow(at(101), rto));
        for ms in (102..=302).step_by(2) {
            pacer.answered(at(ms), srtt, rto);
        }
        assert_eq!(pacer.deferred_until(), None, "the server kept answering");
    }

    #[test]
    fn the_gaps_start_again_only_a_whole_rto_after_the_last_reaction() {
        let mut pacer = UnreachablePacer::default();
        let (rto, srtt) = (Duration::from_millis(200), Duration::from_millis(4));
        let reactions = (0..200).filter(|&ms| pacer.allow(at(ms), rto)).count();
        assert_eq!(reactions, 13, "0, 10 … 90, 100, 120, 160");
        pacer.answered(at(200), srtt, rto);
        assert!(!pacer.allow(at(230), rto), "the gap is 80 ms now, to 240");
        pacer.answered(at(360), srtt, rto);
        assert!(
            pacer.allow(at(362), rto),
            "a whole RTO after the last reaction"
        );
        assert!(!pacer.allow(at(365), rto), "back to a 10 ms gap");
        assert!(pacer.allow(at(372), rto));
    }

    #[test]
    fn a_flood_gets_a_bounded_number_of_reactions_per_rto() {
        let mut pacer = UnreachablePacer::default();
        let rto = Duration::from_millis(200);
        // One forged unreachable every 10 µs for one second.
        let reactions = (0..100_000u64)
            .filter(|&i| pacer.allow(Instant(1_000_000 + i * 10), rto))
            .count();
        // 0, 10 … 90, 100, 120, 160, 240, 400, then every 200 ms: 17 in the second.
        assert!(reactions <= 18, "{reactions} reactions");
    }
}
