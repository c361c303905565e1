//! [`Receipts`]: what the client has received, in the two views its requests prove.
//!
//! - **Every packet** ([`Receipts::all`]): what the stream has, where the first missing packet
//!   is (the retransmission timer follows it), and what a slow-start restart proves (the
//!   server restarts after the contiguous run it shows).
//! - **First transmissions only**: what normal requests prove. When the server sees a hole
//!   it computes the recovery plan from the epoch's *first* loss (§3.7 of the reference):
//!   the halved window, the end of the old window and the sequence numbers of the post-loss
//!   packets. Every request of the window must show it the same first loss, or the plans of
//!   two requests disagree and post-loss packets are released twice or never. But the
//!   retransmission of the first lost packet arrives while the old window's requests are
//!   still going out (after a burst of losses, for a whole round trip), and in the view of
//!   every packet the first hole then moves up. Retransmissions arrive below the window after
//!   the recovery, so no request needs them proven.
//!
//! The second view keeps one block per loss for good, so blocks below every epoch a request
//! may still come from are forgotten ([`Receipts::forget_epochs_before`]).

use crate::wire::sack::{SackBlock, MAX_SACK_BLOCKS};
use crate::wire::RequestKind;

use super::scoreboard::Scoreboard;

/// The packets of one incarnation the client holds, in both views.
#[derive(Clone, Debug, Default)]
pub struct Receipts {
    all: Scoreboard,
    first_transmissions: Scoreboard,
}

impl Receipts {
    /// Forget everything (new incarnation).
    pub fn clear(&mut self) {
        self.all.clear();
        self.first_transmissions.clear();
    }

    /// Every packet received.
    pub fn all(&self) -> &Scoreboard {
        &self.all
    }

    /// Record packet `seq` with its `nonce`, in the normal requests' view only if `provable`
    /// (see [`crate::client::connection`]); false if it was already held (duplicate).
    pub fn insert(&mut self, seq: u64, nonce: u32, provable: bool) -> bool {
        if provable {
            self.first_transmissions.insert(seq, nonce);
        }
        self.all.insert(seq, nonce)
    }

    /// The proof for a request of `kind` whose continuation has TCPBase `tcp_base` and seq
    /// `seq`: normal requests prove first transmissions, restarts every packet.
    pub fn proof(&self, kind: RequestKind, tcp_base: u64, seq: u64, out: &mut Vec<SackBlock>) {
        match kind {
            RequestKind::Normal => self.first_transmissions.proof(tcp_base, seq, out),
            RequestKind::SlowStart => self.all.proof(tcp_base, seq, out),
        }
    }

    /// Forget the first-transmission blocks that no request of an epoch starting at or after
    /// `tcp_base` can need, once there are more than a few proofs' worth of them.
    pub fn forget_epochs_before(&mut self, tcp_base: u64) {
        if self.first_transmissions.len() > 4 * MAX_SACK_BLOCKS {
            self.first_transmissions.forget_before(tcp_base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retransmission_fills_the_stream_but_not_the_normal_proof() {
        let mut r = Receipts::default();
        for seq in (1..=4).chain(6..=9) {
            assert!(r.insert(seq, 0, true));
        }
        assert!(r.insert(5, 0, false));
        assert!(!r.insert(5, 0, false), "a duplicate");
        assert_eq!(r.all().first_missing_from(1), 10);
        let mut proof = Vec::new();
        r.proof(RequestKind::Normal, 1, 9, &mut proof);
        assert_eq!(
            proof.iter().map(|b| (b.left, b.right)).collect::<Vec<_>>(),
            vec![(1, 4), (6, 9)]
        );
        r.proof(RequestKind::SlowStart, 1, 9, &mut proof);
        assert_eq!(
            proof.iter().map(|b| (b.left, b.right)).collect::<Vec<_>>(),
            vec![(1, 9)]
        );
    }

    #[test]
    fn old_epochs_are_forgotten_once_there_are_many_blocks() {
        let mut r = Receipts::default();
        // One loss every other packet: a block per packet.
        for seq in (1..=1000).step_by(2) {
            r.insert(seq, 0, true);
        }
        r.forget_epochs_before(901);
        let mut proof = Vec::new();
        r.proof(RequestKind::Normal, 901, 905, &mut proof);
        assert_eq!(
            proof.iter().map(|b| b.left).collect::<Vec<_>>(),
            vec![899, 901, 903, 905]
        );
        r.proof(RequestKind::Normal, 3, 5, &mut proof);
        assert_eq!(proof[0].left, 899, "blocks before the epoch are gone");
    }
}
