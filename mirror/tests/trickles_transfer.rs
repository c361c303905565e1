//! A real Trickles transfer through the mirror: the core's client and server, each on its own
//! loopback socket and speaking only to the mirror (through the shim codec), across an emulated
//! path with 10 ms each way and 1 % loss. The object arrives byte-exact; the server bound the
//! continuation to the client's real address (the header's peer), and the mirror counted the
//! losses it emulated.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trickles::app::MemoryApplication;
use trickles::client::{ClientConfig, ClientConnection, ClientStatus};
use trickles::crypto::{Key, KeyRing};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::Instant;
use trickles_link::LinkConfig;
use trickles_mirror::auth::{AddressPattern, Peer, PeerTable, Reach, Side};
use trickles_mirror::datapath::MirrorDatapath;
use trickles_mirror::metrics::MirrorMetrics;
use trickles_mirror::wan::WanProfile;
use trickles_mirror::{MirrorRoute, MirrorRules};
use trickles_netfn::config::Published;

const OBJECT_LEN: usize = 384 * 1024;

fn wall_clock() -> Instant {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    Instant(micros)
}

fn object() -> Vec<u8> {
    (0..OBJECT_LEN).map(|i| (i * 31 % 253) as u8).collect()
}

fn bind() -> UdpSocket {
    trickles_netfn::udp::bind_one("127.0.0.1:0".parse().expect("addr")).expect("bind")
}

/// The server side: a core endpoint behind the mirror (what `trickles-server` does for a relay).
fn serve(
    socket: UdpSocket,
    mirror: SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut app = MemoryApplication::new();
        app.insert("/object", object());
        let keys = KeyRing::new(Key::from_secret(1, &[7; 32]));
        let mut endpoint = ServerEndpoint::new(ServerConfig::default(), keys, app, 11);
        let route = MirrorRoute::new(mirror);
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let mut buf = vec![0u8; 65_536];
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok((client, request)) = route.unwrap(from, &buf[..n]) else {
                continue;
            };
            let _ = endpoint.handle_datagram(wall_clock(), client, request, &mut out);
            for transmit in out.drain(..) {
                let wrapped = route.wrap(transmit.destination, &transmit.payload, 0);
                let _ = socket.send_to(&wrapped, mirror);
            }
        }
    })
}

#[test]
fn trickles_transfer_through_a_lossy_mirror_is_byte_exact() {
    let (client_socket, server_socket) = (bind(), bind());
    let client_addr = client_socket.local_addr().expect("addr");
    let server_addr = server_socket.local_addr().expect("addr");
    let peer = |name: &str, addr, side| Peer {
        name: String::from(name),
        addresses: vec![AddressPattern::Exact(addr)],
        keys: vec![],
        side,
        reach: Reach::Peers,
    };
    let rules = MirrorRules {
        wan: WanProfile::symmetric(LinkConfig {
            delay: trickles::time::Duration::from_millis(10),
            loss: 0.01,
            ..LinkConfig::default()
        }),
        ..MirrorRules::new(
            PeerTable::new(vec![
                peer("client", client_addr, Side::Client),
                peer("server", server_addr, Side::Server),
            ])
            .expect("peers"),
        )
    };
    let metrics = MirrorMetrics::new().expect("metrics");
    let mirror = MirrorDatapath::start(
        &["127.0.0.1:0".parse().expect("addr")],
        1,
        Some(42),
        Arc::new(Published::new(rules)),
        &metrics,
    )
    .expect("mirror");
    let via = mirror.local_addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(server_socket, via, stop.clone());

    let route = MirrorRoute::new(via);
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
    stop.store(true, Ordering::Relaxed);
    server.join().expect("server");
    mirror.stop();

    let text = trickles_netfn::render(&metrics.registry);
    let lost: u64 = text
        .lines()
        .filter(|l| l.starts_with("trickles_mirror_emulated_drops_total{cause=\"random_loss\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
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
