//! [`Flight`]: the packets in flight toward the client, and the rule that keeps them within the
//! window after a loss — TCP's `pipe` (RFC 6675 §4), kept by the client because in Trickles the
//! client is the clock.
//!
//! The server step is a pure function of the continuation and the proof a request carries
//! ([`crate::server::step::decide`]), so before sending a request the client knows exactly
//! which packets it will release ([`Forecast`]). They are in flight until they arrive, or, for
//! first transmissions, until `reorder_threshold` packets above them have arrived (RFC 6675's
//! `IsLost`). A retransmission stays in flight until it arrives (or the window restarts).
//!
//! Why a limit is needed: the stateless recovery (§3.7 of the reference) halves the window
//! for *new* packets, but every retransmission comes on top of it: a request after a hole
//! releases the retransmission and, in the second half of the old window, the post-loss
//! packets of the hole's acks besides. With one loss that is one extra packet; when slow start
//! overshoots a drop-tail queue, half of a window is lost and the recovery round sends the
//! halved window *plus* as many retransmissions — twice what the queue drains while it is
//! full, so retransmissions and the new window are lost in turn and only a timeout is left.
//! A TCP sender counts retransmissions against its window; the client does the same by holding
//! a request back while the packets it would release do not fit ([`Flight::admits`]), and
//! sending it once enough packets have arrived. Requests keep their order, so the server's
//! packets keep theirs, and nothing is released that the closed form does not release: the
//! same packets, later.
//!
//! The window a request must fit in is the one the server's state has after it: the closed
//! form's `cwnd(seq)` for a normal step, the recovery plan's halved window for a request that
//! sees a loss. In normal operation (in-order delivery) a request's packets exactly fill that
//! window, so nothing is held back. As TCP does on entering fast recovery (RFC 6675 step 4.3),
//! the first request after a new loss is sent at once, so the first lost packet is resent
//! without waiting for the window to drain.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::cc::recovery_plan;
use crate::server::proof::Proof;
use crate::server::step::{decide, params_of, Emission};
use crate::wire::continuation::SealedContinuation;
use crate::wire::sack::SackBlock;
use crate::wire::RequestKind;

/// What a request will release, computed as the server will.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forecast {
    /// First transmissions the server will send for it.
    pub new: Vec<u64>,
    /// Retransmissions it will send.
    pub resent: Vec<u64>,
    /// The window (packets in flight) the server's state has after it.
    pub window: u32,
}

impl Forecast {
    /// The forecast for a request of `kind` returning `sealed` with `proof`; `None` if the
    /// continuation does not parse (the server would drop the request).
    pub fn of(sealed: &[u8], kind: RequestKind, proof: &[SackBlock]) -> Option<Forecast> {
        let c = SealedContinuation::parse(sealed).ok()?.fields;
        let proof = Proof::from_blocks(proof.to_vec());
        let mut emissions = Vec::new();
        if decide(&c, kind, &proof, &mut emissions).is_err() {
            emissions.clear();
        }
        let p = params_of(&c);
        let window = if proof.covers(p.tcp_base, c.seq) {
            p.cwnd(c.seq)
        } else {
            recovery_plan(&p, proof.first_missing_from(p.tcp_base)).new_cwnd
        };
        let seqs = |resent: bool| {
            emissions
                .iter()
                .filter(|e: &&Emission| e.retransmission == resent)
                .map(|e| e.seq)
                .collect()
        };
        Some(Forecast {
            new: seqs(false),
            resent: seqs(true),
            window,
        })
    }

    /// Number of packets the request releases.
    pub fn packets(&self) -> usize {
        self.new.len() + self.resent.len()
    }
}

/// Packets released by the client's requests that have neither arrived nor been deemed lost,
/// and the recovery episode in progress.
#[derive(Clone, Debug, Default)]
pub struct Flight {
    new: BTreeSet<u64>,
    resent: BTreeSet<u64>,
    /// Highest seq any request released (TCP's `HighData`).
    highest_released: u64,
    recovery: Option<Recovery>,
    /// The next request is sent whatever the window says (fast retransmit).
    send_next_at_once: bool,
}

/// A recovery in progress: RFC 6937's proportional rate reduction state.
#[derive(Clone, Copy, Debug)]
struct Recovery {
    /// Recovery ends once every packet up to this one has arrived (`RecoveryPoint`).
    until: u64,
    /// Packets in flight when it began (`RecoverFS`).
    flight_at_start: u64,
    /// Packets arrived since (`prr_delivered`).
    delivered: u64,
    /// Packets released since (`prr_out`).
    released: u64,
}

impl Flight {
    /// Number of packets in flight (TCP's `pipe`).
    pub fn len(&self) -> usize {
        self.new.len() + self.resent.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the request forecast as `f` may be sent now.
    ///
    /// Outside recovery: if its packets fit the window. During a recovery, as RFC 6937's
    /// proportional rate reduction: while more than the new window is in flight, packets are
    /// released in proportion to the packets that arrive (`window / flight_at_start` of them),
    /// so the flight shrinks to the window over one round trip instead of stopping and then
    /// bursting; below the window, one more packet than arrived (its slow-start reduction
    /// bound), so the flight grows back without a burst. A request releasing several packets
    /// goes as soon as one of them may.
    pub fn admits(&self, f: &Forecast) -> bool {
        let (pipe, window) = (self.len() as u64, u64::from(f.window));
        if self.send_next_at_once || f.packets() == 0 {
            return true;
        }
        match self.recovery {
            None => pipe + f.packets() as u64 <= window,
            Some(r) if pipe > window => {
                let allowed = (r.delivered * window).div_ceil(r.flight_at_start.max(1));
                r.released < allowed
            }
            Some(r) => pipe < window && r.released < r.delivered + 1,
        }
    }

    /// A request forecast as `f` was sent.
    pub fn sent(&mut self, f: &Forecast) {
        self.send_next_at_once = false;
        self.new.extend(f.new.iter().copied());
        self.resent.extend(f.resent.iter().copied());
        if let Some(&highest) = f.new.iter().chain(&f.resent).max() {
            self.highest_released = self.highest_released.max(highest);
        }
        if let Some(r) = &mut self.recovery {
            r.released += f.packets() as u64;
        }
    }

    /// Packet `seq` arrived (`duplicate` if it had already). `lost_below` is the seq with
    /// `reorder_threshold` received packets at or above it: first transmissions missing below
    /// it are lost. `frontier` is the first packet still missing.
    pub fn arrived(&mut self, seq: u64, duplicate: bool, lost_below: u64, frontier: u64) {
        self.new.remove(&seq);
        self.resent.remove(&seq);
        self.new = self.new.split_off(&lost_below);
        if let Some(r) = &mut self.recovery {
            r.delivered += u64::from(!duplicate);
            if frontier > r.until {
                self.recovery = None;
            }
        }
    }

    /// The client declared the packets in `hole` lost; `frontier` is the first packet
    /// missing. The first hole of a recovery starts it and lets the next request (the fast
    /// retransmit) through at once.
    pub fn declared_lost(&mut self, hole: Range<u64>, frontier: u64) {
        let lost: Vec<u64> = self.new.range(hole.clone()).copied().collect();
        for seq in lost {
            self.new.remove(&seq);
        }
        // A hole among packets released after the recovery began is a new loss: the server
        // halves the window again (its plan for the new epoch), so a new recovery begins.
        if self.recovery.is_none_or(|r| hole.start > r.until) {
            self.send_next_at_once = true;
            self.recovery = Some(Recovery {
                until: self.highest_released,
                flight_at_start: (self.highest_released + 1).saturating_sub(frontier),
                delivered: 0,
                released: 0,
            });
        }
    }

    /// Everything in flight is presumed lost (timeout, restart, new incarnation).
    pub fn clear(&mut self) {
        self.new.clear();
        self.resent.clear();
        self.recovery = None;
        self.send_next_at_once = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(new: Range<u64>, window: u32) -> Forecast {
        Forecast {
            new: new.collect(),
            resent: Vec::new(),
            window,
        }
    }

    #[test]
    fn releases_within_the_window_are_admitted() {
        let mut f = Flight::default();
        f.sent(&forecast(10..14, 4));
        assert_eq!(f.len(), 4);
        assert!(!f.admits(&forecast(14..15, 4)));
        f.arrived(10, false, 0, 11);
        assert!(f.admits(&forecast(14..15, 4)));
        assert!(
            f.admits(&forecast(0..0, 1)),
            "a request releasing nothing always goes"
        );
    }

    #[test]
    fn first_transmissions_with_enough_arrivals_above_are_out_of_flight() {
        let mut f = Flight::default();
        f.sent(&forecast(10..20, 10));
        // 12, 13 and 14 arrived: 10 and 11 are lost, 15..20 still in flight.
        f.arrived(12, false, 0, 10);
        f.arrived(13, false, 0, 10);
        f.arrived(14, false, 12, 10);
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn retransmissions_count_until_they_arrive() {
        let mut f = Flight::default();
        f.sent(&Forecast {
            new: vec![30],
            resent: vec![5],
            window: 2,
        });
        f.arrived(30, false, 30, 5);
        assert_eq!(f.len(), 1, "the resent packet is still in flight");
        assert!(!f.admits(&forecast(31..33, 2)));
        f.arrived(5, false, 30, 31);
        assert!(f.is_empty());
    }

    #[test]
    fn a_recovery_releases_in_proportion_to_arrivals_then_one_more_than_arrived() {
        let mut f = Flight::default();
        f.sent(&forecast(10..30, 20));
        for seq in 11..14 {
            f.arrived(seq, false, 0, 10);
        }
        // 10 lost: recovery of a 20-packet flight toward a window of 10.
        f.declared_lost(10..11, 10);
        assert_eq!(f.len(), 16);
        assert!(
            f.admits(&forecast(30..31, 10)),
            "the fast retransmit goes at once"
        );
        f.sent(&Forecast {
            new: Vec::new(),
            resent: vec![10],
            window: 10,
        });
        // Above the window: one packet per two arrivals (10 / 20).
        assert!(!f.admits(&forecast(30..31, 10)));
        f.arrived(14, false, 12, 10);
        assert!(!f.admits(&forecast(30..31, 10)));
        f.arrived(15, false, 13, 10);
        assert!(!f.admits(&forecast(30..31, 10)), "2 arrived, 1 released");
        f.arrived(16, false, 14, 10);
        assert!(f.admits(&forecast(30..31, 10)));
        f.sent(&forecast(30..31, 10));
        // A further hole does not start another recovery.
        f.declared_lost(17..18, 10);
        assert!(!f.admits(&forecast(31..32, 10)));
        // Below the window: at most one more packet than arrived.
        for seq in 18..30 {
            f.arrived(seq, false, seq - 2, 10);
        }
        assert_eq!(f.len(), 2, "the retransmission and 30");
        assert!(f.admits(&forecast(31..32, 10)));
        // Everything up to the recovery point arrived: the window rule again.
        f.arrived(10, false, 28, 31);
        f.arrived(30, false, 28, 31);
        assert!(f.admits(&forecast(31..41, 10)));
        assert!(!f.admits(&forecast(31..42, 10)));
    }
}
