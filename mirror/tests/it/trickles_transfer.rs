//! A real Trickles transfer through the mirror: the core's client and server, each on its own
//! loopback socket and speaking only to the mirror (through the shim codec), across an emulated
//! path with 10 ms each way and 1 % loss. The object arrives byte-exact; the server bound the
//! continuation to the client's real address (the header's peer), and the mirror counted the
//! losses it emulated.

use std::net::UdpSocket;
use std::time::Duration;

use trickles::client::ClientStatus;
use trickles_mirror::auth::Side;
use trickles_testkit::{
    exact_peer, fetch_with_core, lossy_link, memory_app, ClientPath, Relay, TestMirror, TestServer,
};

const OBJECT_LEN: usize = 384 * 1024;

fn object() -> Vec<u8> {
    (0..OBJECT_LEN).map(|i| (i * 31 % 253) as u8).collect()
}

fn bind() -> UdpSocket {
    trickles_netfn::udp::bind_one("127.0.0.1:0".parse().expect("addr")).expect("bind")
}

#[test]
fn trickles_transfer_through_a_lossy_mirror_is_byte_exact() {
    let (client_socket, server_socket) = (bind(), bind());
    let client_addr = client_socket.local_addr().expect("addr");
    let server_addr = server_socket.local_addr().expect("addr");
    let peers = vec![
        exact_peer("client", client_addr, Side::Client),
        exact_peer("server", server_addr, Side::Server),
    ];
    let mirror = TestMirror::start(peers, lossy_link(10, 0.01), 42);
    // The server side: a core endpoint behind the mirror (what `trickles-server` does for a
    // relay).
    let server = TestServer::builder(memory_app([("/object", object())]))
        .socket(server_socket)
        .relay(Relay::Mirror(mirror.route()))
        .start();

    let path = ClientPath::Mirror(mirror.route());
    let limit = Duration::from_secs(30);
    let transfer = fetch_with_core(&client_socket, server_addr, "/object", &path, limit);
    drop(server);
    let lost = mirror.metric_sum("trickles_mirror_emulated_drops_total{cause=\"random_loss\"");
    mirror.stop();
    let stats = &transfer.stats;
    println!(
        "{} KiB through the mirror (10 ms each way, 1 % loss) in {:.2} s: {} datagrams lost by the \
         mirror, {} loss events, {} timeouts, srtt {:.1} ms",
        OBJECT_LEN / 1024,
        transfer.elapsed.as_secs_f64(),
        lost,
        stats.loss_events,
        stats.timeouts,
        stats.srtt_micros as f64 / 1e3
    );
    assert_eq!(
        transfer.status,
        ClientStatus::Done,
        "transfer stalled or failed"
    );
    assert!(transfer.body == object(), "the object is not byte-exact");
    assert!(
        transfer.sources.iter().all(|&sender| sender == server_addr),
        "delivered on behalf of someone else"
    );
    assert!(
        lost > 0,
        "the emulated path lost nothing: the test proves nothing about loss"
    );
    assert!(
        stats.srtt_micros >= 20_000,
        "srtt {} µs below 2 x delay",
        stats.srtt_micros
    );
}
