//! TCP through the mirror: two network namespaces, each with a TUN device whose tunnel
//! endpoint sends through an in-process mirror with 15 ms of one-way delay. A TCP echo across
//! them is byte-exact and its handshake takes at least one emulated round trip.
//!
//! Needs root (TUN devices, namespaces); without it the test says so and passes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use trickles_mirror::auth::Side;
use trickles_mirror::tunnel::{TunDevice, TunnelCodec, TunnelEndpoint};
use trickles_mirror::MirrorRoute;
use trickles_testkit::{exact_peer, lossy_link, may_create_tun_devices, Namespace, TestMirror};

const DELAY_MS: u64 = 15;

/// Create a TUN device, move it into `namespace` and give it `local` peer `remote`.
fn tunnel_device(name: &str, namespace: &Namespace, local: &str, remote: &str) -> TunDevice {
    let device = TunDevice::create(name).expect("TUN device");
    namespace.adopt(device.name()).expect("move");
    let dev = device.name();
    namespace
        .ip(&["addr", "add", local, "peer", remote, "dev", dev])
        .expect("address");
    namespace
        .ip(&["link", "set", dev, "mtu", "1400", "up"])
        .expect("up");
    device
}

#[test]
fn tcp_crosses_the_mirror_through_tunnel_endpoints() {
    if !may_create_tun_devices() {
        eprintln!("not root or no /dev/net/tun: TCP-through-the-mirror test skipped");
        return;
    }
    let tag = std::process::id() % 100_000;
    let ns_a = Namespace::create("tunnel-a").expect("namespace");
    let ns_b = Namespace::create("tunnel-b").expect("namespace");

    let socket_a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let socket_b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (udp_a, udp_b) = (
        socket_a.local_addr().expect("addr"),
        socket_b.local_addr().expect("addr"),
    );
    let peers = vec![
        exact_peer("host-a", udp_a, Side::Client),
        exact_peer("host-b", udp_b, Side::Server),
    ];
    let mirror = TestMirror::start(peers, lossy_link(DELAY_MS, 0.0), 7);
    let via = mirror.addr();

    let device_a = tunnel_device(&format!("tmA{tag}"), &ns_a, "198.18.7.1", "198.18.7.2");
    let device_b = tunnel_device(&format!("tmB{tag}"), &ns_b, "198.18.7.2", "198.18.7.1");
    let endpoint_a = TunnelEndpoint::start(
        device_a,
        socket_a,
        TunnelCodec::new(MirrorRoute::new(via), udp_b),
    )
    .expect("endpoint a");
    let endpoint_b = TunnelEndpoint::start(
        device_b,
        socket_b,
        TunnelCodec::new(MirrorRoute::new(via), udp_a),
    )
    .expect("endpoint b");

    let server = ns_b.handle().spawn_inside(|| {
        let listener = TcpListener::bind("198.18.7.2:5001").expect("listen");
        let (mut stream, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut echoed = 0usize;
        loop {
            let n = stream.read(&mut buf).expect("read");
            if n == 0 {
                break echoed;
            }
            stream.write_all(&buf[..n]).expect("echo");
            echoed += n;
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent = payload.clone();
    let client = ns_a.handle().spawn_inside(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect_timeout(
            &"198.18.7.2:5001".parse().expect("addr"),
            Duration::from_secs(5),
        )
        .expect("connect through the mirror");
        let handshake = started.elapsed();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let sender = std::thread::spawn(move || {
            writer.write_all(&sent).expect("send");
            writer
                .shutdown(std::net::Shutdown::Write)
                .expect("shutdown");
        });
        let mut back = Vec::new();
        stream.read_to_end(&mut back).expect("echo back");
        sender.join().expect("sender");
        (handshake, back)
    });
    let (handshake, back) = client
        .expect("spawned")
        .join()
        .expect("client thread")
        .expect("entered namespace a");
    let echoed = server
        .expect("spawned")
        .join()
        .expect("server thread")
        .expect("entered namespace b");
    println!(
        "TCP through the mirror ({DELAY_MS} ms each way): handshake {:.1} ms, {} bytes echoed, {} packets A->mirror, {} mirror->A",
        handshake.as_secs_f64() * 1e3,
        echoed,
        endpoint_a.counters().to_mirror.load(std::sync::atomic::Ordering::Relaxed),
        endpoint_a.counters().from_mirror.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert_eq!(back, payload, "echo is not byte-exact");
    assert!(
        handshake >= Duration::from_millis(2 * DELAY_MS),
        "{handshake:?}"
    );
    assert!(
        handshake < Duration::from_millis(2 * DELAY_MS + 20),
        "{handshake:?}"
    );
    endpoint_a.stop();
    endpoint_b.stop();
    mirror.stop();
    drop((ns_a, ns_b));
}
