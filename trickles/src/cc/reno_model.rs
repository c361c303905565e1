//! A reference per-ack Reno/NewReno sender: the stateful algorithm the closed form
//! reproduces, written the obvious way (a window counter updated on every ack). The property
//! test `tests/it/cwnd_matches_reno.rs` checks the closed form against it; the simulator can run
//! it beside a Trickles connection to compare traces.
//!
//! The model counts packets, not bytes, and each delivered packet is acknowledged on its own
//! (as a Trickles client requests per packet). It tracks windows and which *new* packets the
//! window releases; retransmissions are not modelled (Trickles sends them outside the window).
//!
//! - **Slow start** (`cwnd < ssthresh`): each new ack adds 1.
//! - **Congestion avoidance**: each new ack counts; after `cwnd` of them, `cwnd += 1`.
//! - Windows are clamped to [`MAX_CWND`].
//! - **Ack clock**: a new in-order ack of `seq` releases everything up to `seq + cwnd`, with
//!   the window *the ack found*; the ack is credited to the window afterwards. This is the
//!   reference's "one ack late" convention (see [`crate::cc`]): a sender that grows first
//!   (Linux) keeps one more packet in flight during slow start.
//! - **Fast recovery** ([`RenoModel::on_loss_detected`], once per window as in NewReno):
//!   `ssthresh = cwnd = max(cwnd / 2, 2)`. While recovering, no growth, and the window limits
//!   the packets beyond the highest one delivered (losses below it are inferred, the network
//!   being FIFO): acks release up to `highest_delivered + cwnd`. Recovery ends with the ack
//!   that makes every packet released before the loss cumulatively acknowledged (NewReno's
//!   full ack); that ack does not grow the window, the next ones do.
//! - **Timeout** ([`RenoModel::on_timeout`]): `ssthresh = max(FlightSize / 2, 2)` (RFC 5681
//!   eq. 4), `cwnd = 2`, everything after the cumulative ack is sent again from there.
//!
//! Why `cwnd / 2` on a fast retransmit but `FlightSize / 2` on a timeout: with the ack clock
//! above, after the ack of `k` the flight is the window before that ack's growth; the
//! reference halves `TCPCwnd(first_loss)` (the window after the last ack before the hole, the
//! model's `cwnd`) on a loss and `TCPCwnd(right)` (the window in flight after the last ack,
//! the model's `FlightSize`) on a timeout.

use core::ops::Range;
use std::collections::BTreeSet;

use super::{MAX_CWND, MIN_SSTHRESH, SLOWSTART_CWND};

/// Whether the model is recovering from a loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenoPhase {
    /// No loss outstanding: the window grows.
    Open,
    /// Recovering from a loss detected when the packets below `recover_end` had been
    /// released; ends when they are all cumulatively acknowledged.
    Recovery {
        /// One past the highest packet released when the loss was detected (NewReno's
        /// `recover + 1`).
        recover_end: u64,
    },
}

/// A per-ack Reno/NewReno sender in packets (see the module documentation).
#[derive(Clone, Debug)]
pub struct RenoModel {
    cwnd: u32,
    ssthresh: u32,
    /// New acks counted at the current window in congestion avoidance.
    acks_at_window: u32,
    phase: RenoPhase,
    /// First packet not cumulatively acknowledged.
    snd_una: u64,
    /// One past the highest packet released.
    released_end: u64,
    /// Acknowledged packets above `snd_una` (selective acknowledgements).
    delivered_above: BTreeSet<u64>,
}

impl RenoModel {
    /// A sender that has just released `first_seq .. first_seq + initial_cwnd`.
    pub fn new(first_seq: u64, initial_cwnd: u32, ssthresh: u32) -> Self {
        let cwnd = initial_cwnd.min(MAX_CWND);
        RenoModel {
            cwnd,
            ssthresh,
            acks_at_window: 0,
            phase: RenoPhase::Open,
            snd_una: first_seq,
            released_end: first_seq.saturating_add(u64::from(cwnd)),
            delivered_above: BTreeSet::new(),
        }
    }

    /// The congestion window, in packets.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// The slow-start threshold, in packets.
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    /// Whether a loss is being recovered from.
    pub fn phase(&self) -> RenoPhase {
        self.phase
    }

    /// First packet not cumulatively acknowledged.
    pub fn snd_una(&self) -> u64 {
        self.snd_una
    }

    /// One past the highest packet released so far.
    pub fn released_end(&self) -> u64 {
        self.released_end
    }

    /// Packets released and not cumulatively acknowledged (RFC 5681's FlightSize).
    pub fn flight_size(&self) -> u64 {
        self.released_end.saturating_sub(self.snd_una)
    }

    /// The receiver acknowledged packet `seq`. Returns the new packets this releases (maybe
    /// none). Acks of packets already acknowledged or never released change nothing.
    pub fn on_ack(&mut self, seq: u64) -> Range<u64> {
        let before = self.released_end;
        if seq < self.snd_una || seq >= self.released_end || self.delivered_above.contains(&seq) {
            return before..before;
        }
        match self.phase {
            RenoPhase::Open if seq == self.snd_una => {
                self.advance_cumulative_ack();
                self.release_to(self.snd_una.saturating_add(u64::from(self.cwnd)));
                self.credit_ack();
            }
            RenoPhase::Open => {
                // A duplicate ack: nothing moves until the loss is declared.
                self.delivered_above.insert(seq);
            }
            RenoPhase::Recovery { recover_end } => {
                if seq == self.snd_una {
                    self.advance_cumulative_ack();
                    if self.snd_una >= recover_end {
                        self.phase = RenoPhase::Open;
                        self.cwnd = self.ssthresh;
                        self.acks_at_window = 0;
                    }
                } else {
                    self.delivered_above.insert(seq);
                }
                self.release_to(self.delivered_end().saturating_add(u64::from(self.cwnd)));
            }
        }
        before..self.released_end
    }

    /// The packet `snd_una` was declared lost (duplicate acks). Starts a recovery and returns
    /// what it releases at once, or `None` if a recovery is under way: losses among the
    /// packets released before it was declared (NewReno's `recover`) reduce the window once.
    /// A recovery ends only when all of those are acknowledged, so the next loss is always
    /// in a later window.
    pub fn on_loss_detected(&mut self) -> Option<Range<u64>> {
        if self.phase != RenoPhase::Open {
            return None;
        }
        self.ssthresh = (self.cwnd / 2).max(MIN_SSTHRESH);
        self.cwnd = self.ssthresh;
        self.acks_at_window = 0;
        self.phase = RenoPhase::Recovery {
            recover_end: self.released_end,
        };
        let before = self.released_end;
        self.release_to(self.delivered_end().saturating_add(u64::from(self.cwnd)));
        Some(before..self.released_end)
    }

    /// The retransmission timer expired: halve the flight into `ssthresh`, restart from
    /// [`SLOWSTART_CWND`] packets at `snd_una`, forgetting everything acknowledged above it.
    /// Returns the packets sent (sequence numbers after `snd_una` are reused).
    pub fn on_timeout(&mut self) -> Range<u64> {
        let half_flight = u32::try_from(self.flight_size() / 2).unwrap_or(u32::MAX);
        self.ssthresh = half_flight.max(MIN_SSTHRESH);
        self.cwnd = SLOWSTART_CWND;
        self.acks_at_window = 0;
        self.phase = RenoPhase::Open;
        self.delivered_above.clear();
        self.released_end = self.snd_una.saturating_add(u64::from(self.cwnd));
        self.snd_una..self.released_end
    }

    /// Move `snd_una` past the packet it names and every acknowledged packet after it.
    fn advance_cumulative_ack(&mut self) {
        self.snd_una = self.snd_una.saturating_add(1);
        while self.delivered_above.remove(&self.snd_una) {
            self.snd_una = self.snd_una.saturating_add(1);
        }
    }

    /// One past the highest packet delivered.
    fn delivered_end(&self) -> u64 {
        match self.delivered_above.last() {
            Some(&highest) => highest.saturating_add(1).max(self.snd_una),
            None => self.snd_una,
        }
    }

    fn release_to(&mut self, end: u64) {
        self.released_end = self.released_end.max(end);
    }

    /// Grow the window for one new ack (slow start or congestion avoidance).
    fn credit_ack(&mut self) {
        if self.cwnd < self.ssthresh {
            self.cwnd += 1;
        } else {
            self.acks_at_window += 1;
            if self.acks_at_window >= self.cwnd {
                self.cwnd += 1;
                self.acks_at_window = 0;
            }
        }
        self.cwnd = self.cwnd.min(MAX_CWND);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::INITIAL_SSTHRESH;
    use proptest::prelude::*;

    /// Ack `seqs` in turn; the packets each releases.
    fn ack_all(model: &mut RenoModel, seqs: Range<u64>) -> Vec<Range<u64>> {
        seqs.map(|seq| model.on_ack(seq)).collect()
    }

    #[test]
    fn slow_start_adds_one_per_ack_and_releases_with_the_window_the_ack_found() {
        let mut m = RenoModel::new(1, 3, INITIAL_SSTHRESH);
        assert_eq!(m.released_end(), 4);
        assert_eq!(ack_all(&mut m, 1..4), vec![4..5, 5..7, 7..9]);
        assert_eq!(m.cwnd(), 6);
    }

    #[test]
    fn congestion_avoidance_adds_one_after_cwnd_acks() {
        let mut m = RenoModel::new(1, 4, 4);
        ack_all(&mut m, 1..4);
        assert_eq!(m.cwnd(), 4);
        m.on_ack(4);
        assert_eq!(m.cwnd(), 5);
        ack_all(&mut m, 5..9);
        assert_eq!(m.cwnd(), 5);
        m.on_ack(9);
        assert_eq!(m.cwnd(), 6);
    }

    #[test]
    fn window_is_clamped() {
        let mut m = RenoModel::new(1, MAX_CWND - 1, INITIAL_SSTHRESH);
        ack_all(&mut m, 1..4);
        assert_eq!(m.cwnd(), MAX_CWND);
    }

    #[test]
    fn loss_halves_once_per_window_and_recovery_ends_on_the_full_ack() {
        // Window 10 in avoidance, 1..=10 in flight, 1 lost.
        let mut m = RenoModel::new(1, 10, 10);
        assert_eq!(m.on_loss_detected(), Some(11..11));
        assert_eq!((m.cwnd(), m.ssthresh()), (5, 5));
        assert_eq!(m.phase(), RenoPhase::Recovery { recover_end: 11 });
        assert_eq!(m.on_loss_detected(), None);
        // Acks above the hole: the last five release one packet each.
        let released = ack_all(&mut m, 2..11);
        assert_eq!(released[..4], [11..11, 11..11, 11..11, 11..11]);
        assert_eq!(released[4..], [11..12, 12..13, 13..14, 14..15, 15..16]);
        // The retransmission of 1 arrives: the full ack.
        assert_eq!(m.on_ack(1), 16..16);
        assert_eq!((m.phase(), m.snd_una(), m.cwnd()), (RenoPhase::Open, 11, 5));
        // Growth resumes in avoidance.
        ack_all(&mut m, 11..16);
        assert_eq!(m.cwnd(), 6);
    }

    #[test]
    fn partial_ack_keeps_recovering_until_the_full_ack() {
        let mut m = RenoModel::new(1, 10, 10);
        m.on_loss_detected();
        ack_all(&mut m, 3..11); // 1 and 2 are missing
        m.on_ack(1); // partial ack: 2 is still missing
        assert_eq!(m.phase(), RenoPhase::Recovery { recover_end: 11 });
        m.on_ack(2);
        assert_eq!(m.phase(), RenoPhase::Open);
        assert_eq!(m.cwnd(), 5);
    }

    #[test]
    fn timeout_restarts_from_two_with_half_the_flight() {
        let mut m = RenoModel::new(1, 3, INITIAL_SSTHRESH);
        ack_all(&mut m, 1..5); // cwnd 7, flight 6 (5..=10)
        assert_eq!((m.cwnd(), m.flight_size()), (7, 6));
        assert_eq!(m.on_timeout(), 5..7);
        assert_eq!((m.cwnd(), m.ssthresh(), m.released_end()), (2, 3, 7));
        assert_eq!(m.on_ack(5), 7..8);
        assert_eq!(m.cwnd(), 3);
    }

    #[test]
    fn acks_of_unreleased_or_old_packets_change_nothing() {
        let mut m = RenoModel::new(1, 3, INITIAL_SSTHRESH);
        assert_eq!(m.on_ack(0), 4..4);
        assert_eq!(m.on_ack(10), 4..4);
        m.on_ack(1);
        assert_eq!(m.on_ack(1), 5..5);
        assert_eq!(m.cwnd(), 4);
    }

    proptest! {
        #[test]
        fn never_panics(
            first_seq: u64, initial_cwnd: u32, ssthresh: u32,
            events in proptest::collection::vec((0u8..3, any::<u64>()), 0..50),
        ) {
            let mut m = RenoModel::new(first_seq, initial_cwnd, ssthresh);
            for (kind, value) in events {
                match kind {
                    0 => {
                        let seq = m.snd_una().saturating_add(value % 16);
                        let _ = m.on_ack(seq);
                    }
                    1 => { let _ = m.on_loss_detected(); }
                    _ => { let _ = m.on_timeout(); }
                }
                prop_assert!(m.cwnd() <= MAX_CWND);
            }
        }
    }
}
