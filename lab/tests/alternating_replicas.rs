//! Two replicas with one key, every client datagram sent to the other one than the last
//! (through the lab's [`AlternatingRelay`](trickles_lab::alternating_relay::AlternatingRelay)):
//! one connection served by both, packet by packet, must deliver exactly the served bytes.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use trickles_lab::client_process::{ClientProcess, ClientSpec};
use trickles_lab::replica_pool::FrontEnd;
use trickles_lab::test_file::sha256_file;

const SIZE: u64 = 4 << 20;

#[test]
fn two_servers_one_key_alternating_packets_byte_exact() {
    let (fixture, digests) = support::fixture_with(&[("file", SIZE, 12)]);
    let pool = support::pool(
        &fixture,
        Ipv4Addr::LOCALHOST.into(),
        2,
        FrontEnd::AlternatingRelay,
    );
    let download = fixture.path().join("download");
    let spec = ClientSpec::single(
        pool.trickles_url("file"),
        download.clone(),
        fixture.path(),
        "client",
    );

    let stats = ClientProcess::start(support::binaries(), spec)
        .and_then(|client| client.finish(Duration::from_secs(40)))
        .unwrap_or_else(|e| {
            panic!(
                "transfer through two alternating replicas: {e}\n{}",
                pool.metrics_summary()
            )
        });

    assert_eq!(stats.sha256, digests[0], "client's digest");
    assert_eq!(sha256_file(&download).expect("hash"), digests[0]);
    let relay = pool.relay().expect("the pool has a relay").counters();
    let (to, from) = (
        [relay.to_server(0), relay.to_server(1)],
        [relay.from_server(0), relay.from_server(1)],
    );
    assert!(
        to[0].abs_diff(to[1]) <= 1,
        "requests alternate between the replicas: {to:?}"
    );
    assert!(
        from[0] > 0 && from[1] > 0,
        "both replicas answered: {from:?}"
    );
}
