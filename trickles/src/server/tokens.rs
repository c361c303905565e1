//! The replay filter's tokens: what a server refuses to do twice within a generation
//! (PROTOCOL §4.5). They never leave the server, so only their properties matter; they are
//! chosen so that a client gains nothing by returning copies of a packet, claiming losses it did
//! not have or restarting from every continuation, and so that an honest client (ours, in every
//! seeded simulator scenario) is never refused one.
//!
//! - A **normal request** is keyed on its continuation's *position*: the connection
//!   (`token_base`), the packet's `seq` and the window it was made in (`tcp_base`, `start_cwnd`,
//!   `ssthresh`, `first_loss`, `first_bootstrap_seq`), not on its MAC tag. Copies of one packet
//!   (a restart resending it in the same window, or the copy another replica made at another
//!   time) hold one request between them, as the one packet an honest client requests does
//!   (§7.2). Before, each copy was a request of its own: a client sending every request to two
//!   replicas doubled its window at every round trip.
//! - A **slow-start restart** is keyed on its restart point: the connection, `right` (the end
//!   of the run the proof shows from the continuation's base, §6.4), the attempt number and the
//!   100 ms (the minimum restart age) in which the continuation was made. Every restart at
//!   `right` releases `right + 1` and `right + 2`, each of which could restart again: keyed on
//!   the MAC tag, every copy had 13 attempts of its own and a flood doubled every 100 ms. Keyed
//!   on the point, all the continuations a client holds that were made in one 100 ms restart
//!   there once per attempt between them. The time slot is what our client needs: it resets its
//!   attempt count when a newer continuation arrives without moving its restart point (a late
//!   packet after a spurious timeout), and that continuation comes from a later 100 ms.
//! - On the **recovery** path (§6.3) a retransmission is keyed on the connection, the window of
//!   the request that resends it and its `seq`; a post-loss packet released on behalf of a lost
//!   packet `h` uses up `h`'s position, as the request for `h` would have. And a window recovers
//!   from one first loss: the first request that shows a hole marks the window and its first
//!   loss, and a request of the window showing another first loss is refused. In one window an
//!   honest client's first loss does not move (it proves first transmissions only, §7.2), its
//!   holes are disjoint and a lost packet is never requested, so none of this ever refuses it;
//!   a client that under-reports its proofs gets each packet of a window resent at most once
//!   (before: 20 per request) and each ack releases one packet, as a request or as a loss.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

use crate::wire::{Continuation, RequestKind};

/// Domain of a token: which decision it stands for.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Domain {
    Position = 0,
    Restart = 1,
    Retransmission = 2,
    Recovering = 3,
    RecoveringFrom = 4,
}

fn token(domain: Domain, words: &[u64]) -> u64 {
    let mut h = SipHasher13::new();
    h.write_u8(domain as u8);
    for w in words {
        h.write_u64(*w);
    }
    h.finish()
}

/// The window `c` was made in: the connection and every parameter of its epoch.
fn window(c: &Continuation<'_>) -> [u64; 6] {
    [
        c.token_base,
        c.tcp_base,
        u64::from(c.start_cwnd),
        u64::from(c.ssthresh),
        c.first_loss,
        c.first_bootstrap_seq,
    ]
}

/// The position of packet `seq` in the window of `c`: what a normal request for it uses up.
fn position(c: &Continuation<'_>, seq: u64) -> u64 {
    let [base, rest @ ..] = window(c);
    let mut words = vec![base, seq];
    words.extend_from_slice(&rest);
    token(Domain::Position, &words)
}

/// The mark the first request of the window of `c` that shows a hole leaves: the window is in
/// recovery, and every other request that recovers must agree on its first loss (§6.3: all the
/// requests of a window that see the same first loss compute the same plan; an honest client's
/// first loss does not move, §7.2).
pub fn recovering_token(c: &Continuation<'_>) -> u64 {
    token(Domain::Recovering, &window(c))
}

/// The mark of the recovery of the window of `c` from first loss `first_loss`.
pub fn recovering_from_token(c: &Continuation<'_>, first_loss: u64) -> u64 {
    let mut words = window(c).to_vec();
    words.push(first_loss);
    token(Domain::RecoveringFrom, &words)
}

/// The token of a request of `kind` returning `c`: for a normal request its position; for a
/// slow-start restart the connection, its restart point `right` (the end of the run the proof
/// shows from `c`'s base, §6.4), its `attempt` and the 100 ms in which `c` was made.
pub fn request_token(c: &Continuation<'_>, kind: RequestKind, attempt: u8, right: u64) -> u64 {
    match kind {
        RequestKind::Normal => position(c, c.seq),
        RequestKind::SlowStart => token(
            Domain::Restart,
            &[
                c.token_base,
                right,
                u64::from(attempt),
                c.timestamp / RESTART_SLOT,
            ],
        ),
    }
}

/// The slot of a continuation's timestamp in a restart token, µs: the default minimum restart
/// age.
const RESTART_SLOT: u64 = 100_000;

/// The token of resending lost packet `seq` on the recovery path of a request returning `c`.
pub fn retransmission_token(c: &Continuation<'_>, seq: u64) -> u64 {
    token(Domain::Retransmission, &[c.token_base, c.tcp_base, seq])
}

/// The token of the acknowledgement of lost packet `ack`, in the window of `c`, that a
/// request releasing a post-loss packet on its behalf uses up: the normal request for `ack`
/// (had it arrived) would use the same one, so an ack releases one packet either way.
pub fn ack_token(c: &Continuation<'_>, ack: u64) -> u64 {
    position(c, ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ContState;

    fn cont(seq: u64, timestamp: u64) -> Continuation<'static> {
        Continuation {
            epoch: 1,
            state: ContState::Normal,
            seq,
            timestamp,
            mrtt: 0,
            tcp_base: 1,
            start_cwnd: 3,
            ssthresh: 0x3FFF,
            first_loss: 0,
            first_bootstrap_seq: 0,
            token_base: 77,
            data_base: 1,
            start_offset: 0,
            total_len: 1 << 20,
            mss: 1200,
            window_cap: 8191,
            ucont: b"",
        }
    }

    #[test]
    fn copies_of_one_packet_made_at_different_times_share_a_request() {
        let normal = |c: &Continuation<'_>| request_token(c, RequestKind::Normal, 0, 0);
        assert_eq!(normal(&cont(5, 1_000)), normal(&cont(5, 2_000)));
        assert_ne!(normal(&cont(5, 1_000)), normal(&cont(6, 1_000)));
        let mut restarted = cont(5, 1_000);
        restarted.tcp_base = 5;
        assert_ne!(normal(&cont(5, 1_000)), normal(&restarted));
    }

    #[test]
    fn continuations_made_within_100_ms_restart_at_a_point_once_per_attempt() {
        let restart =
            |c: &Continuation<'_>, a, right| request_token(c, RequestKind::SlowStart, a, right);
        assert_eq!(
            restart(&cont(5, 100_000), 0, 9),
            restart(&cont(8, 199_999), 0, 9)
        );
        assert_ne!(
            restart(&cont(5, 100_000), 0, 9),
            restart(&cont(5, 100_000), 1, 9)
        );
        assert_ne!(
            restart(&cont(5, 100_000), 0, 9),
            restart(&cont(5, 100_000), 0, 10)
        );
        assert_ne!(
            restart(&cont(5, 100_000), 0, 9),
            restart(&cont(5, 200_000), 0, 9)
        );
        assert_ne!(
            restart(&cont(5, 100_000), 0, 9),
            request_token(&cont(5, 100_000), RequestKind::Normal, 0, 9)
        );
    }

    #[test]
    fn recovery_releases_are_keyed_on_the_window() {
        let c = cont(30, 1);
        assert_eq!(
            retransmission_token(&c, 12),
            retransmission_token(&cont(31, 2), 12)
        );
        let mut later = cont(30, 1);
        later.tcp_base = 20;
        assert_ne!(
            retransmission_token(&c, 12),
            retransmission_token(&later, 12)
        );
        // A claimed loss of 12 uses up the request for 12, and the other way round.
        assert_eq!(
            ack_token(&c, 12),
            request_token(&cont(12, 9), RequestKind::Normal, 0, 0)
        );
        assert_ne!(ack_token(&c, 12), retransmission_token(&c, 12));
        assert_ne!(recovering_from_token(&c, 12), recovering_from_token(&c, 13));
        assert_ne!(recovering_token(&c), recovering_token(&later));
    }
}
