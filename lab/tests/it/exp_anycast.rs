//! `trickles-lab exp anycast` at the reduced size, with the debug binaries and the real BIRD
//! (needs root and `bird`; CI has both): the serving site fails mid-transfer, its controller
//! withdraws, the router's kernel route moves to the other site, and the same Trickles client
//! finishes byte-exact there, over IPv4 and IPv6; TCP, in the same run, is reset by the site
//! that has no state for its connection.

use trickles_lab::anycast::run::AnycastRun;
use trickles_lab::experiments::anycast::{self, AnycastArgs, Client, Scenario};

use super::kit::{assert_written, experiment_base};

/// The event, the withdraw and the route change are in that order, and Trickles delivered
/// every byte, again after the outage.
fn assert_moved_and_byte_exact(run: &AnycastRun, from: &str, to: &str) {
    assert!(run.byte_exact, "{:?}", run.transfer.stats);
    assert!(run.transfer.failure.is_none());
    assert_eq!(
        run.transfer.stats.reconnects, 0,
        "Trickles has no connection"
    );
    let withdrawn = run.withdrawn_at.expect("the controller withdrew");
    let moved = run.route_changed_at.expect("the router's route changed");
    assert!(
        run.event_at <= withdrawn && withdrawn <= moved + 0.05,
        "{run:?}"
    );
    assert_eq!(run.route_after.as_deref(), Some(to), "{run:?}");
    assert_eq!(run.served_before.as_deref(), Some(from), "{run:?}");
    assert_eq!(run.served_after.as_deref(), Some(to), "{run:?}");
    let resumed = run
        .resumed_after()
        .expect("a dead balancer stalls the transfer");
    assert!(resumed > 0.0, "{run:?}");
    eprintln!(
        "withdraw {:.0} ms, route {:.0} ms, resumed {:.0} ms after the kill",
        (withdrawn - run.event_at) * 1e3,
        (moved - run.event_at) * 1e3,
        resumed * 1e3
    );
}

#[test]
fn a_trickles_transfer_survives_its_site_failing_and_tcp_is_reset() {
    let (_out, base) = experiment_base("the anycast experiment test");
    let clients = vec![Client::Trickles, Client::Tcp];
    let args = AnycastArgs::reduced(base, Scenario::Fail, clients);
    let (rows, report) = anycast::run(&args).unwrap_or_else(|e| panic!("exp anycast: {e}"));
    assert_eq!(rows.len(), 2);
    assert_moved_and_byte_exact(&rows[0].2, "site-a", "site-b");
    let tcp = &rows[1].2;
    assert!(tcp.route_changed_at.is_some(), "{tcp:?}");
    assert!(
        tcp.transfer.failure.is_some() && !tcp.byte_exact,
        "the other site cannot continue a TCP connection: {:?}",
        tcp.transfer.stats
    );
    assert!(report.file("anycast-fail.png").is_some());
    assert_written(&report);
}

#[test]
fn over_ipv6_a_trickles_transfer_survives_its_site_failing() {
    let (_out, mut base) = experiment_base("the anycast experiment test");
    base.ipv6 = true;
    let args = AnycastArgs::reduced(base, Scenario::Fail, vec![Client::Trickles]);
    let (rows, report) = anycast::run(&args).unwrap_or_else(|e| panic!("exp anycast --ipv6: {e}"));
    assert_moved_and_byte_exact(&rows[0].2, "site-a", "site-b");
    assert_written(&report);
}
