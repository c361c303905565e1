//! A real Trickles transfer through the mirror: the core's client and server, each on its own
//! loopback socket and speaking only to the mirror (through the shim codec), across an emulated
//! path with 10 ms each way and 1 % loss. The object arrives byte-exact; the server bound the
//! continuation to the client's real address (the header's peer), and the mirror counted the
//! losses it emulated.

use std::net::UdpSocket;
use std::time::Duration;

use trickles::client::{ClientConfig, ClientConnection, ClientStatus};
use trickles_mirror::auth::Side;
use trickles_testkit::{
    exact_peer, lossy_link, memory_app, wall_clock, Relay, TestMirror, TestServer,
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
    let via = mirror.addr();
    // The server side: a core endpoint behind the mirror (what `trickles-server` does for a
    // relay).
    let server = TestServer::builder(memory_app([("/object", object())]))
        .socket(server_socket)
        .relay(Relay::Mirror(mirror.route()))
        .start();

    let route = mirror.route();
    let mut connection = ClientConnection::new(
        wall_clock(),
        server_addr,
        b"/object".to_vec(),
        ClientConfig::default(),
        0x7121_c4e5,
    );
    let mut received = Vec::with_capacity(OBJECT_LEN);
    let mut buf = vec![0u8; 65_536];
    let mut chunk = vec![0u8; 64 * 1024];
    let started = std::time::Instant::now();
    let status = loop {
        let now = wall_clock();
        while let Some(transmit) = connection.poll_transmit(now) {
            let wrapped = route.wrap(transmit.destination, &transmit.payload, 0);
            client_socket.send_to(&wrapped, via).expect("send");
        }
        loop {
            let n = connection.read(&mut chunk);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..n]);
        }
        match connection.status() {
            ClientStatus::Done | ClientStatus::Failed(_) => break connection.status(),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "transfer stalled"
        );
        let wait = connection
            .poll_timeout()
            .map_or(50_000, |due| due.micros().saturating_sub(now.micros()))
            .clamp(100, 50_000);
        client_socket
            .set_read_timeout(Some(Duration::from_micros(wait)))
            .expect("timeout");
        if let Ok((n, from)) = client_socket.recv_from(&mut buf) {
            if let Ok((sender, datagram)) = route.unwrap(from, &buf[..n]) {
                assert_eq!(sender, server_addr, "delivered on behalf of someone else");
                connection.handle_datagram(wall_clock(), sender, datagram);
            }
        }
        let now = wall_clock();
        if connection.poll_timeout().is_some_and(|due| due <= now) {
            connection.handle_timeout(now);
        }
    };
    drop(server);
    let lost = mirror.metric_sum("trickles_mirror_emulated_drops_total{cause=\"random_loss\"");
    mirror.stop();
    let stats = connection.stats();
    println!(
        "{} KiB through the mirror (10 ms each way, 1 % loss) in {:.2} s: {} datagrams lost by the \
         mirror, {} loss events, {} timeouts, srtt {:.1} ms",
        OBJECT_LEN / 1024,
        started.elapsed().as_secs_f64(),
        lost,
        stats.loss_events,
        stats.timeouts,
        stats.srtt_micros as f64 / 1e3
    );
    assert_eq!(status, ClientStatus::Done, "{status:?}");
    assert!(received == object(), "the object is not byte-exact");
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
