//! TCP through the mirror: two network namespaces, each with a TUN device whose tunnel
//! endpoint sends through an in-process mirror with 15 ms of one-way delay. A TCP echo across
//! them is byte-exact and its handshake takes at least one emulated round trip.
//!
//! Needs root (TUN devices, namespaces); without it the test says so and passes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles_link::LinkConfig;
use trickles_mirror::auth::{AddressPattern, Peer, PeerTable, Reach, Side};
use trickles_mirror::datapath::MirrorDatapath;
use trickles_mirror::metrics::MirrorMetrics;
use trickles_mirror::tunnel::tun_device::run_ip;
use trickles_mirror::tunnel::{TunDevice, TunnelCodec, TunnelEndpoint};
use trickles_mirror::wan::WanProfile;
use trickles_mirror::{MirrorRoute, MirrorRules};
use trickles_netfn::config::Published;

const DELAY_MS: u64 = 15;

/// Network namespaces deleted on drop.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = run_ip(&["netns", "del", name]);
        }
    }
}

fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() == 0 };
    root && std::path::Path::new("/dev/net/tun").exists()
}

/// Run `f` on a new thread that has entered namespace `name`.
fn in_namespace<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{name}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("namespace file");
        // SAFETY: a valid namespace descriptor; only this thread changes namespace.
        let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns {path}");
        f()
    })
}

/// Create a TUN device, move it into `namespace` and give it `local` peer `remote`.
fn tunnel_device(name: &str, namespace: &str, local: &str, remote: &str) -> TunDevice {
    let device = TunDevice::create(name).expect("TUN device");
    run_ip(&["link", "set", device.name(), "netns", namespace]).expect("move");
    run_ip(&[
        "-n",
        namespace,
        "addr",
        "add",
        local,
        "peer",
        remote,
        "dev",
        device.name(),
    ])
    .expect("address");
    run_ip(&[
        "-n",
        namespace,
        "link",
        "set",
        device.name(),
        "mtu",
        "1400",
        "up",
    ])
    .expect("up");
    run_ip(&["-n", namespace, "link", "set", "lo", "up"]).expect("lo");
    device
}

#[test]
fn tcp_crosses_the_mirror_through_tunnel_endpoints() {
    if !privileged() {
        eprintln!("not root or no /dev/net/tun: TCP-through-the-mirror test skipped");
        return;
    }
    let tag = std::process::id() % 100_000;
    let (ns_a, ns_b) = (format!("tmir-a-{tag}"), format!("tmir-b-{tag}"));
    let namespaces = Namespaces(vec![ns_a.clone(), ns_b.clone()]);
    for ns in &namespaces.0 {
        run_ip(&["netns", "add", ns]).expect("namespace");
    }

    let socket_a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let socket_b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (udp_a, udp_b) = (
        socket_a.local_addr().expect("addr"),
        socket_b.local_addr().expect("addr"),
    );
    let peer = |name: &str, addr: SocketAddr, side| Peer {
        name: name.into(),
        addresses: vec![AddressPattern::Exact(addr)],
        keys: vec![],
        side,
        reach: Reach::Peers,
    };
    let rules = MirrorRules {
        wan: WanProfile::symmetric(LinkConfig::with_delay(
            trickles::time::Duration::from_millis(DELAY_MS),
        )),
        ..MirrorRules::new(
            PeerTable::new(vec![
                peer("host-a", udp_a, Side::Client),
                peer("host-b", udp_b, Side::Server),
            ])
            .expect("peers"),
        )
    };
    let metrics = MirrorMetrics::new().expect("metrics");
    let mirror = MirrorDatapath::start(
        &["127.0.0.1:0".parse().expect("addr")],
        1,
        Some(7),
        Arc::new(Published::new(rules)),
        &metrics,
    )
    .expect("mirror");
    let via = mirror.local_addrs()[0];

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

    let server = in_namespace(&ns_b, || {
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
    let client = in_namespace(&ns_a, move || {
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
    let (handshake, back) = client.join().expect("client thread");
    let echoed = server.join().expect("server thread");
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
    drop(namespaces);
}
