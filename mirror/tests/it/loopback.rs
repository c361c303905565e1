//! The mirror on real loopback sockets: a client and an echo server each talk only to the
//! mirror (through the shim codec), the mirror's datapath runs in this process.
//!
//! Claims: the round trip through a mirror configured with one-way delay `d` is the direct
//! round trip plus `2·d` within 2 ms (and never less than `2·d`); configured loss is observed
//! within ±20 %; an unauthenticated source gets nothing back, reaches nobody, and is counted.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use trickles_link::LinkConfig;
use trickles_mirror::auth::Side;
use trickles_mirror::MirrorRoute;
use trickles_testkit::{exact_peer, TestMirror};

fn bind() -> UdpSocket {
    // Large socket buffers (netfn's): only the emulation may lose datagrams.
    let socket = trickles_netfn::udp::bind_one("127.0.0.1:0".parse().expect("addr")).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket
}

fn local(socket: &UdpSocket) -> SocketAddr {
    socket.local_addr().expect("addr")
}

/// A mirror datapath serving exactly `client` and `server`, with `link` in both directions.
fn start_mirror(client: SocketAddr, server: SocketAddr, link: LinkConfig) -> TestMirror {
    let peers = vec![
        exact_peer("client", client, Side::Client),
        exact_peer("server", server, Side::Server),
    ];
    TestMirror::start(peers, link, 2005)
}

/// An echo server behind the mirror: answers each delivery with the same bytes, addressed to
/// the original sender, through the mirror. With no mirror, a plain echo.
struct EchoServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl EchoServer {
    fn start(socket: UdpSocket, mirror: Option<SocketAddr>) -> Self {
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let route = mirror.map(MirrorRoute::new);
            let mut buf = [0u8; 2048];
            let mut served = 0;
            while !stopping.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                served += 1;
                match &route {
                    None => {
                        let _ = socket.send_to(&buf[..n], from);
                    }
                    Some(route) => {
                        if let Ok((client, inner)) = route.unwrap(from, &buf[..n]) {
                            let answer = route.wrap(client, inner, 0);
                            let _ = socket.send_to(&answer, route.mirror());
                        }
                    }
                }
            }
            served
        });
        EchoServer {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop and return how many datagrams it received.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("echo thread"))
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Round trips of `count` pings from `client`, directly to `server` or through `mirror`.
fn round_trips(
    client: &UdpSocket,
    server: SocketAddr,
    mirror: Option<SocketAddr>,
    count: usize,
) -> Vec<Duration> {
    let route = mirror.map(MirrorRoute::new);
    let mut buf = [0u8; 2048];
    (0..count)
        .map(|i| {
            let ping = format!("ping {i}").into_bytes();
            let started = Instant::now();
            match &route {
                None => client.send_to(&ping, server).expect("send"),
                Some(route) => client
                    .send_to(&route.wrap(server, &ping, 0), route.mirror())
                    .expect("send"),
            };
            loop {
                let (n, from) = client.recv_from(&mut buf).expect("echo came back");
                let inner = match &route {
                    None => &buf[..n],
                    Some(route) => route.unwrap(from, &buf[..n]).expect("from the mirror").1,
                };
                if inner == ping.as_slice() {
                    return started.elapsed();
                }
            }
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn round_trip_through_the_mirror_is_base_plus_twice_the_delay() {
    let delay = Duration::from_millis(20);
    let client = bind();
    let server = bind();
    let server_addr = local(&server);
    let mirror = start_mirror(
        local(&client),
        server_addr,
        LinkConfig::with_delay(trickles::time::Duration(delay.as_micros() as u64)),
    );
    let echo = EchoServer::start(server, Some(mirror.addr()));
    let mirrored = round_trips(&client, server_addr, Some(mirror.addr()), 25);
    echo.stop();

    // The base: the same client and the same kind of echo server, directly.
    let direct_server = bind();
    let direct_addr = local(&direct_server);
    let direct_echo = EchoServer::start(direct_server, None);
    let direct = round_trips(&client, direct_addr, None, 25);
    direct_echo.stop();

    let shortest = *mirrored.iter().min().expect("samples");
    let (base, through) = (median(direct), median(mirrored));
    let excess = through.as_secs_f64() - base.as_secs_f64() - 2.0 * delay.as_secs_f64();
    println!(
        "base RTT {:.3} ms, through mirror (2 x {} ms) {:.3} ms, excess {:+.3} ms",
        base.as_secs_f64() * 1e3,
        delay.as_millis(),
        through.as_secs_f64() * 1e3,
        excess * 1e3
    );
    assert!(
        shortest >= 2 * delay,
        "a round trip beat the delay: {shortest:?}"
    );
    assert!(excess.abs() <= 0.002, "excess {:.3} ms", excess * 1e3);
    assert_eq!(
        mirror.metric_reaching(
            "trickles_mirror_forwarded_packets_total{peer=\"client\"} ",
            25
        ),
        25
    );
    assert_eq!(
        mirror.metric_reaching(
            "trickles_mirror_forwarded_packets_total{peer=\"server\"} ",
            25
        ),
        25
    );
}

#[test]
fn configured_loss_is_observed_within_a_fifth_on_real_sockets() {
    const SENT: u64 = 5_000;
    let client = bind();
    let sink = bind();
    sink.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let sink_addr = local(&sink);
    let mirror = start_mirror(
        local(&client),
        sink_addr,
        LinkConfig {
            loss: 0.1,
            ..LinkConfig::default()
        },
    );
    let route = MirrorRoute::new(mirror.addr());
    let counter = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut received = 0u64;
        while sink.recv_from(&mut buf).is_ok() {
            received += 1;
        }
        received
    });
    for i in 0..SENT {
        let datagram = route.wrap(sink_addr, &i.to_be_bytes(), 0);
        client.send_to(&datagram, mirror.addr()).expect("send");
        if i % 20 == 19 {
            // Pace, so that no socket buffer on the way overflows: only the emulation loses.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let received = counter.join().expect("sink");
    let lost = SENT - received;
    let dropped = mirror.metric_sum(
        "trickles_mirror_emulated_drops_total{cause=\"random_loss\",direction=\"to_server\"} ",
    );
    println!("sent {SENT}, received {received}, lost {lost} (mirror counted {dropped})");
    assert_eq!(lost, dropped, "losses other than the emulated ones");
    assert!((400..=600).contains(&lost), "lost {lost} of {SENT} at 10 %");
}

#[test]
fn unauthenticated_source_gets_nothing_back_and_is_counted() {
    let client = bind();
    let server = bind();
    let server_addr = local(&server);
    let mirror = start_mirror(local(&client), server_addr, LinkConfig::default());
    let echo = EchoServer::start(server, Some(mirror.addr()));
    let stranger = bind();
    stranger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let route = MirrorRoute::new(mirror.addr());
    for i in 0..10u8 {
        // Asking for the server, and asking to be reflected to the configured client.
        let target = if i % 2 == 0 {
            server_addr
        } else {
            local(&client)
        };
        stranger
            .send_to(&route.wrap(target, &[i; 100], 0), mirror.addr())
            .expect("send");
    }
    let mut buf = [0u8; 2048];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "the stranger got an answer"
    );
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    assert!(
        client.recv_from(&mut buf).is_err(),
        "the mirror reflected to the client"
    );
    // The legitimate client is still served.
    assert_eq!(
        round_trips(&client, server_addr, Some(mirror.addr()), 1).len(),
        1
    );
    let served = echo.stop();
    assert_eq!(served, 1, "the server saw the stranger's datagrams");
    assert_eq!(
        mirror.metric_reaching(
            "trickles_mirror_rejects_total{reason=\"unknown_source\"} ",
            10
        ),
        10
    );
    assert_eq!(
        mirror.metric_reaching("trickles_mirror_received_packets_total ", 12),
        12
    );
}
