//! A replica is SIGKILLed mid-transfer and a new process with the same key takes its port:
//! the same running client must finish with exactly the served bytes (DESIGN.md decision 3:
//! "killing it and starting another replica with the same key must be invisible to the client
//! except as delay").

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use trickles_lab::client_process::ClientSpec;
use trickles_lab::failover::{fetch_through_failover, FailurePlan, Victim};
use trickles_lab::replica_pool::FrontEnd;
use trickles_lab::test_file::sha256_file;

const SIZE: u64 = 16 << 20;
const RESTART_AFTER: Duration = Duration::from_millis(1000);

#[test]
fn killed_server_is_replaced_and_transfer_finishes_byte_exact() {
    let (fixture, digests) = support::fixture_with(&[("file", SIZE, 11)]);
    let mut pool = support::pool(&fixture, Ipv4Addr::LOCALHOST.into(), 1, FrontEnd::Direct);
    let download = fixture.path().join("download");
    let client = ClientSpec::single(
        pool.trickles_url("file"),
        download.clone(),
        fixture.path(),
        "client",
    );
    let plan = FailurePlan {
        victim: Victim::Replica(0),
        kill_at_bytes: SIZE / 3,
        restart_after: Some(RESTART_AFTER),
        limit: Duration::from_secs(50),
    };

    let run = fetch_through_failover(support::binaries(), &mut pool, client, &plan)
        .unwrap_or_else(|e| panic!("transfer through the failover: {e}"));
    eprintln!(
        "killed at {:.3} s, replaced at {:.3?} s, done in {:.3} s, stall {:.0} ms",
        run.killed_at, run.restarted_at, run.stats.seconds, run.stats.longest_stall_ms,
    );

    assert!(
        run.delivered_at_kill < SIZE,
        "the kill came after the transfer ended"
    );
    assert_eq!(run.stats.bytes, SIZE);
    assert_eq!(run.stats.sha256, digests[0], "client's digest");
    assert_eq!(
        sha256_file(&download).expect("hash the download"),
        digests[0]
    );
    assert!(
        run.stats.longest_stall_ms >= RESTART_AFTER.as_secs_f64() * 1e3 * 0.5,
        "the kill should show as a stall of at least half of {RESTART_AFTER:?}, got {} ms",
        run.stats.longest_stall_ms
    );
}
