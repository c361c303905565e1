//! Misbehaving clients against the server step, each compared with an honest client (our real
//! client) that has the same losses (none) over the same virtual time, 2 s at a 40 ms round
//! trip: restart floods, restarts from retransmitted continuations, under-reported proofs,
//! optimistic claims and replays to two replicas sharing the key. `cargo test -p trickles --test
//! it adversarial:: -- --nocapture --include-ignored` prints the figures `docs/HARDENING.md`
//! quotes. The ignored tests are attacks still open: a client that keeps the windows it had
//! going beside the ones its restarts open (HARDENING, "Misbehaving clients").

mod attacker;
mod harness;
mod honest;

use trickles::time::Duration;

use attacker::{Attacker, Mode};
use harness::{no_loss, replicas, run, Drawn, LossPattern};
use honest::Honest;

/// Every run lasts this long (virtual time): 50 round trips.
const SPAN: Duration = Duration(2_000_000);

fn honest(loss: LossPattern) -> Drawn {
    run(&mut replicas(1), &mut Honest::new(), SPAN, loss)
}

fn attack(mode: Mode, replica_count: usize, loss: LossPattern) -> Drawn {
    run(
        &mut replicas(replica_count),
        &mut Attacker::new(mode, replica_count),
        SPAN,
        loss,
    )
}

fn report(name: &str, attacker: Drawn, honest: Drawn) {
    println!(
        "{name}: attacker drew {} packets ({} bytes, {} retransmissions, {} distinct seqs) \
         in {} ms with {} requests ({} bytes; {} post-loss, {} opening restarted windows); \
         honest client {} packets ({} bytes, {} retransmissions) in {} ms with {} requests; \
         ratio {:.2}",
        attacker.packets,
        attacker.bytes,
        attacker.retransmissions,
        attacker.distinct,
        attacker.elapsed.micros() / 1000,
        attacker.requests,
        attacker.request_bytes,
        attacker.post_loss,
        attacker.restarts,
        honest.packets,
        honest.bytes,
        honest.retransmissions,
        honest.elapsed.micros() / 1000,
        honest.requests,
        attacker.bytes as f64 / honest.bytes as f64,
    );
}

#[test]
fn a_restart_flood_draws_no_more_than_an_honest_client() {
    let (a, h) = (attack(Mode::RestartFlood, 1, no_loss), honest(no_loss));
    report("restart flood", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
#[ignore = "open: old windows kept beside restarted ones (HARDENING, misbehaving clients)"]
fn restarts_on_top_of_honest_requests_draw_no_more_than_an_honest_client() {
    let (a, h) = (
        attack(Mode::RequestsAndRestarts, 1, no_loss),
        honest(no_loss),
    );
    report("requests and restarts", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
#[ignore = "open: old windows kept beside restarted ones (HARDENING, misbehaving clients)"]
fn restarts_from_retransmitted_continuations_draw_no_more_than_an_honest_client() {
    let (a, h) = (
        attack(Mode::RestartsFromRetransmissions, 1, no_loss),
        honest(no_loss),
    );
    report("restarts from retransmissions", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
fn under_reported_proofs_draw_no_more_than_an_honest_client() {
    let (a, h) = (attack(Mode::UnderReport, 1, no_loss), honest(no_loss));
    report("under-reported proofs", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
fn sparse_under_reported_proofs_draw_no_more_than_an_honest_client() {
    let (a, h) = (attack(Mode::UnderReportSparse, 1, no_loss), honest(no_loss));
    report("sparse under-reported proofs", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
#[ignore = "open: old windows kept beside restarted ones (HARDENING, misbehaving clients)"]
fn sparse_under_reports_and_restarts_from_retransmissions_draw_no_more_than_an_honest_client() {
    let (a, h) = (
        attack(Mode::SparseUnderReportAndRestarts, 1, no_loss),
        honest(no_loss),
    );
    report("sparse under-reports and restarts", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
fn optimistic_claims_draw_no_more_than_an_honest_client() {
    let (a, h) = (attack(Mode::Optimistic, 1, no_loss), honest(no_loss));
    report("optimistic claims", a, h);
    assert!(a.bytes <= h.bytes, "{a:?} vs {h:?}");
}

#[test]
fn replays_to_two_replicas_draw_at_most_twice_an_honest_client() {
    let (a, h) = (attack(Mode::ReplayToReplicas, 2, no_loss), honest(no_loss));
    report("replays to two replicas", a, h);
    assert!(a.bytes <= 2 * h.bytes, "{a:?} vs {h:?}");
}
