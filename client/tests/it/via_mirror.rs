//! `--via MIRROR`: a Trickles fetch whose every datagram goes through a packet mirror
//! (`trickles-mirror`'s datapath, in this process) with emulated delay and loss, to a server
//! that accepts mirrored datagrams (the core's endpoint behind the mirror, as `trickles-server`
//! serves a relay). The body arrives byte-exact and the round trip shows the emulated delay.

use std::time::Duration;

use crate::support::sha256_hex;
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl};
use trickles_mirror::auth::AuthKey;
use trickles_mirror::MirrorRoute;
use trickles_testkit::{
    lossy_link, memory_app, server_and_tagged_clients, Relay, TestMirror, TestServer,
};

const BODY_LEN: usize = 256 * 1024;
const DELAY_MS: u64 = 10;

fn body() -> Vec<u8> {
    (0..BODY_LEN).map(|i| (i * 13 % 241) as u8).collect()
}

/// A mirror with `DELAY_MS` each way and 1 % loss that serves the server (by address) and any
/// client on loopback that tags with `key`.
fn start_mirror(server: std::net::SocketAddr, key: &AuthKey) -> TestMirror {
    let peers = server_and_tagged_clients("server", server, key);
    TestMirror::start(peers, lossy_link(DELAY_MS, 0.01), 9)
}

#[test]
fn fetch_via_a_mirror_is_byte_exact_and_sees_the_emulated_delay() {
    let key = AuthKey::new(1, [0x24; 16]);
    let server_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server_addr = server_socket.local_addr().expect("addr");
    let mirror = start_mirror(server_addr, &key);
    let via = mirror.addr();
    let server = TestServer::builder(memory_app([("/body", body())]))
        .socket(server_socket)
        .relay(Relay::Mirror(mirror.route()))
        .start();

    let url = TargetUrl::parse(&server.url("/body")).expect("url");
    let opts = FetchOptions {
        via: Some(MirrorRoute::new(via).with_key(key)),
        idle_timeout: Duration::from_secs(20),
        ..FetchOptions::default()
    };
    let stats = fetch(&url, &opts, DiscardSink).expect("fetch through the mirror");
    println!(
        "{} KiB via the mirror ({DELAY_MS} ms each way, 1 % loss): first byte {:.1} ms, {:.2} s, \
         {} retransmissions",
        stats.bytes / 1024,
        stats.first_byte_ms,
        stats.seconds,
        stats.retransmissions
    );
    assert!(
        stats.first_byte_ms >= 2.0 * DELAY_MS as f64,
        "first byte after {} ms, less than one emulated round trip",
        stats.first_byte_ms
    );
    assert_eq!(stats.bytes, BODY_LEN as u64);
    assert_eq!(stats.sha256, sha256_hex(&body()), "body not byte-exact");
    let clients = server.clients();
    assert!(
        !clients.is_empty() && clients.iter().all(|client| client.port() != 0),
        "the mirror named the client and its port: {clients:?}"
    );
    let text = mirror.metrics_text();
    assert!(
        text.contains("trickles_mirror_forwarded_packets_total{peer=\"client\"}"),
        "{text}"
    );
    drop(server);
    mirror.stop();
}
