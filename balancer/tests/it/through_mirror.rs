//! The chain on loopback: client → packet mirror (emulated delay and loss) → balancer →
//! three replicas. The mirror delivers each client datagram to the balancer as
//! `encap(peer = client) ‖ datagram`; the balancer trusts that only from its configured
//! `upstreams`, balances on the inner datagram and tells the replica, in a VIA option, to send the
//! reply back through the mirror. Claim: a transfer through the chain is byte-exact even when the
//! replica serving it is killed mid-transfer, and the replies travel back through the mirror.

use std::time::{Duration, Instant};

use crate::support::*;
use trickles_balancer::core::DropReason;
use trickles_balancer::metrics::TO_CLIENT;
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl};
use trickles_mirror::auth::AuthKey;
use trickles_mirror::MirrorRoute;
use trickles_testkit::{free_udp_addr, lossy_link, server_and_tagged_clients, TestMirror};

const DELAY_MS: u64 = 10;

/// A mirror serving the balancer's VIP (as the server side) and tagged clients on loopback.
fn start_mirror(vip: std::net::SocketAddr, key: &AuthKey) -> TestMirror {
    let peers = server_and_tagged_clients("balancer", vip, key);
    TestMirror::start(peers, lossy_link(DELAY_MS, 0.01), 11)
}

#[test]
fn client_mirror_balancer_replicas_byte_exact_through_a_replica_kill() {
    let body = body(2 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let key = AuthKey::new(1, [0x5A; 16]);
    let mirror = start_mirror(vip, &key);
    let mirror_addr = mirror.addr();
    let (mut replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    let balancer = start_balancer(
        &runtime,
        config(&balancer_yaml(
            vip,
            &addrs,
            &format!("upstreams: [\"{mirror_addr}\"]\n"),
        )),
    );

    let url = TargetUrl::parse(&format!("trickles://{vip}{PATH}")).expect("url");
    let options = FetchOptions {
        via: Some(MirrorRoute::new(mirror_addr).with_key(key)),
        idle_timeout: Duration::from_secs(20),
        ..FetchOptions::default()
    };
    let transfer = std::thread::spawn(move || fetch(&url, &options, DiscardSink));
    let replies = |balancer: &trickles_balancer::service::RunningBalancer| -> Vec<u64> {
        (0..3)
            .map(|i| balancer.metrics().packets(&format!("r{i}"), TO_CLIENT))
            .collect()
    };
    let started = Instant::now();
    let serving = loop {
        if let Some(i) = replies(&balancer).iter().position(|&n| n > 300) {
            break i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "transfer never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(!transfer.is_finished(), "killed mid-transfer");
    replicas[serving].kill();
    let stats = transfer
        .join()
        .expect("client thread")
        .expect("transfer through the chain completes");
    println!(
        "client → mirror ({DELAY_MS} ms each way, 1 % loss) → balancer → 3 replicas, r{serving} \
         killed mid-transfer: 2 MiB byte-exact in {:.2} s, first byte {:.0} ms, {} retransmissions, \
         replies per replica {:?}",
        stats.seconds,
        stats.first_byte_ms,
        stats.retransmissions,
        replies(&balancer)
    );
    assert_eq!(stats.sha256, sha256(&body), "byte-exact through the chain");
    assert!(
        stats.first_byte_ms >= 2.0 * DELAY_MS as f64,
        "went through the mirror"
    );
    assert_eq!(balancer.metrics().drops(DropReason::UntrustedEncap), 0);
    assert_eq!(balancer.metrics().drops(DropReason::UnknownVia), 0);
    let resumed: u64 = (0..3)
        .filter(|&i| i != serving)
        .map(|i| replies(&balancer)[i])
        .sum();
    assert!(resumed > 0, "another replica resumed the connection");
    let mirror_text = mirror.metrics_text();
    assert!(
        mirror_text.contains("trickles_mirror_forwarded_packets_total{peer=\"balancer\"}"),
        "{mirror_text}"
    );
    runtime.block_on(balancer.shutdown());
    mirror.stop();
}
