//! `--via MIRROR`: a Trickles fetch whose every datagram goes through a packet mirror
//! (`trickles-mirror`'s datapath, in this process) with emulated delay and loss, to a server
//! that accepts mirrored datagrams (the core's endpoint behind the mirror, as `trickles-server`
//! serves a relay). The body arrives byte-exact and the round trip shows the emulated delay.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trickles::app::MemoryApplication;
use trickles::crypto::{Key, KeyRing};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::sim::LinkConfig;
use trickles::time::Instant;
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl};
use trickles_mirror::auth::{AddressPattern, AuthKey, Peer, PeerTable, Reach, Side};
use trickles_mirror::datapath::MirrorDatapath;
use trickles_mirror::metrics::MirrorMetrics;
use trickles_mirror::wan::WanProfile;
use trickles_mirror::{MirrorRoute, MirrorRules};
use trickles_netfn::config::Published;

const BODY_LEN: usize = 256 * 1024;
const DELAY_MS: u64 = 10;

fn body() -> Vec<u8> {
    (0..BODY_LEN).map(|i| (i * 13 % 241) as u8).collect()
}

fn wall_clock() -> Instant {
    Instant(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
    )
}

/// A Trickles server that accepts datagrams only through the mirror and answers through it.
struct MirroredServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MirroredServer {
    fn start(socket: UdpSocket, mirror: SocketAddr, expected_client: Arc<AtomicU64>) -> Self {
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut app = MemoryApplication::new();
            app.insert("/body", body());
            let keys = KeyRing::new(Key::from_secret(1, &[3; 32]));
            let mut endpoint = ServerEndpoint::new(ServerConfig::default(), keys, app, 5);
            let route = MirrorRoute::new(mirror);
            socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            let (mut buf, mut out) = (vec![0u8; 65_536], Vec::new());
            while !stopping.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok((client, request)) = route.unwrap(from, &buf[..n]) else {
                    continue;
                };
                // Remember which port the client used, as the mirror reported it.
                expected_client.store(u64::from(client.port()), Ordering::Relaxed);
                let _ = endpoint.handle_datagram(wall_clock(), client, request, &mut out);
                for transmit in out.drain(..) {
                    let _ = socket.send_to(
                        &route.wrap(transmit.destination, &transmit.payload, 0),
                        mirror,
                    );
                }
            }
        });
        MirroredServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for MirroredServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A mirror with `DELAY_MS` each way and 1 % loss that serves the server (by address) and any
/// client on loopback that tags with `key`.
fn start_mirror(server: SocketAddr, key: &AuthKey) -> (MirrorDatapath, MirrorMetrics) {
    let peers = PeerTable::new(vec![
        Peer {
            name: "server".into(),
            addresses: vec![AddressPattern::Exact(server)],
            keys: vec![],
            side: Side::Server,
            reach: Reach::Any,
        },
        Peer {
            name: "client".into(),
            addresses: vec!["127.0.0.0/8".parse().expect("pattern")],
            keys: vec![key.clone()],
            side: Side::Client,
            reach: Reach::Peers,
        },
    ])
    .expect("peers");
    let rules = MirrorRules {
        wan: WanProfile::symmetric(LinkConfig {
            delay: trickles::time::Duration::from_millis(DELAY_MS),
            loss: 0.01,
            ..LinkConfig::default()
        }),
        ..MirrorRules::new(peers)
    };
    let metrics = MirrorMetrics::new().expect("metrics");
    let datapath = MirrorDatapath::start(
        &["127.0.0.1:0".parse().expect("addr")],
        1,
        Some(9),
        Arc::new(Published::new(rules)),
        &metrics,
    )
    .expect("mirror");
    (datapath, metrics)
}

#[test]
fn fetch_via_a_mirror_is_byte_exact_and_sees_the_emulated_delay() {
    let key = AuthKey::new(1, [0x24; 16]);
    let server_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server_addr = server_socket.local_addr().expect("addr");
    let (mirror, metrics) = start_mirror(server_addr, &key);
    let via = mirror.local_addrs()[0];
    let client_port = Arc::new(AtomicU64::new(0));
    let server = MirroredServer::start(server_socket, via, client_port.clone());

    let url = TargetUrl::parse(&format!("trickles://{}/body", server.addr)).expect("url");
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
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body()))
    };
    assert_eq!(stats.sha256, expected, "body not byte-exact");
    assert!(client_port.load(Ordering::Relaxed) != 0);
    let text = trickles_netfn::render(&metrics.registry);
    assert!(
        text.contains("trickles_mirror_forwarded_packets_total{peer=\"client\"}"),
        "{text}"
    );
    drop(server);
    mirror.stop();
}
