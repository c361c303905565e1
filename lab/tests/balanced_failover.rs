//! A pool of three replicas behind a real `trickles-balancer` (Maglev: the connection sticks
//! to one replica). The replica serving the transfer is SIGKILLed at a third and never
//! replaced: the balancer's health checks take it out of the table, the connection moves to a
//! surviving replica, and the same client finishes with exactly the served bytes.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use trickles_lab::balancer_process::BalancerPolicy;
use trickles_lab::client_process::ClientSpec;
use trickles_lab::failover::{fetch_through_failover, FailurePlan, Victim};
use trickles_lab::replica_pool::FrontEnd;
use trickles_lab::test_file::sha256_file;

const SIZE: u64 = 12 << 20;

#[test]
fn balanced_pool_loses_the_serving_replica_and_transfer_finishes_byte_exact() {
    let binaries = support::binaries_with_network_functions();
    let (fixture, digests) = support::fixture_with(&[("file", SIZE, 13)]);
    let mut pool = support::pool_with(
        binaries,
        &fixture,
        Ipv4Addr::LOCALHOST.into(),
        3,
        FrontEnd::Balancer(BalancerPolicy::Maglev),
    );
    let download = fixture.path().join("download");
    let client = ClientSpec::single(
        pool.trickles_url("file"),
        download.clone(),
        fixture.path(),
        "client",
    );
    let plan = FailurePlan {
        victim: Victim::Busiest,
        kill_at_bytes: SIZE / 3,
        restart_after: None,
        limit: Duration::from_secs(50),
    };

    let run = fetch_through_failover(binaries, &mut pool, client, &plan).unwrap_or_else(|e| {
        panic!(
            "transfer through the balanced pool: {e}\n{}",
            pool.metrics_summary()
        )
    });
    eprintln!(
        "killed replica {} at {:.3} s, done in {:.3} s, stall {:.0} ms",
        run.replica, run.killed_at, run.stats.seconds, run.stats.longest_stall_ms,
    );

    assert!(run.delivered_at_kill < SIZE, "the kill came after the end");
    assert_eq!(run.stats.sha256, digests[0], "client's digest");
    assert_eq!(sha256_file(&download).expect("hash"), digests[0]);
    let table = pool
        .balancer()
        .and_then(|b| b.backends_in_table())
        .expect("the balancer answers /healthz");
    assert_eq!(
        table,
        (2, 3),
        "the killed replica left the balancer's table"
    );
}
