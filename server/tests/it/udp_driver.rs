//! Claims about the UDP driver over real sockets on 127.0.0.1 and ::1: garbage is counted by
//! reason and dropped, a file crosses byte-exact through the batched multi-worker path, and a
//! bad reload leaves the running server serving.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::{write_keys, ServedFile};
use trickles::client::{ClientConfig, ClientConnection};
use trickles::wire::{Header, ResponseRepr};
use trickles_server::service::RunningServer;
use trickles_server::udp::worker::wall_clock;
use trickles_testkit::{fetch_with_core, ClientPath};

/// Bytes of the test file.
const FILE_LEN: usize = 300_000;

/// `/file.bin` and a key.
fn fixture() -> ServedFile {
    ServedFile::new((0..FILE_LEN).map(|i| (i * 31 % 257) as u8).collect())
}

fn loopbacks() -> Vec<SocketAddr> {
    let mut addrs = vec!["127.0.0.1:0".parse().expect("v4")];
    if UdpSocket::bind("[::1]:0").is_ok() {
        addrs.push("[::1]:0".parse().expect("v6"));
    } else {
        eprintln!("no IPv6 loopback here; testing IPv4 only");
    }
    addrs
}

fn client_socket(server: SocketAddr) -> UdpSocket {
    let local = if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(local).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .expect("timeout");
    socket
}

/// Fetch `path` from `server` with the core's client state machine over a real socket.
fn fetch(server: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let socket = client_socket(server);
    let limit = Duration::from_secs(15);
    fetch_with_core(&socket, server, path, &ClientPath::Direct, limit).into_body()
}

/// The key epoch sealing the first response to a fresh HELLO from `server`.
fn sealing_epoch(server: SocketAddr) -> u8 {
    let socket = client_socket(server);
    let mut connection = ClientConnection::new(
        wall_clock(),
        server,
        b"/file.bin".to_vec(),
        ClientConfig::default(),
        rand::random(),
    );
    let hello = connection.poll_transmit(wall_clock()).expect("hello");
    socket.send_to(&hello.payload, server).expect("send hello");
    let mut buf = vec![0u8; 65_536];
    for _ in 0..400 {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            let (header, body) = Header::parse(&buf[..n]).expect("header");
            let response = ResponseRepr::parse(&header, body).expect("a response");
            return response.continuation.fields.epoch;
        }
    }
    panic!("no answer to the HELLO");
}

/// Wait (bounded) until `condition` holds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagrams_are_counted_as_malformed_and_dropped() {
    let fixture = fixture();
    let server = RunningServer::start(fixture.args(loopbacks()))
        .await
        .expect("start");
    let udp = &server.metrics().udp;
    let rejected = |reason: &str| {
        udp.continuations_rejected
            .with_label_values(&[reason])
            .get()
    };
    let mut sent = 0;
    for &addr in server.udp_addrs() {
        let socket = client_socket(addr);
        socket.send_to(b"garbage", addr).expect("send garbage");
        socket.send_to(&[], addr).expect("send empty");
        let mut wrong_version = vec![0xEEu8; 1200];
        wrong_version[1] = 1;
        socket.send_to(&wrong_version, addr).expect("send version");
        sent += 3;
        // Nothing comes back for garbage.
        let mut buf = [0u8; 2048];
        std::thread::sleep(Duration::from_millis(20));
        assert!(socket.recv_from(&mut buf).is_err(), "garbage was answered");
    }
    let expected = (sent / 3) as u64;
    eventually("garbage counted", || {
        rejected("malformed") >= 2 * expected && rejected("version") >= expected
    })
    .await;
    assert_eq!(udp.packets_received.get(), sent as u64);
    assert_eq!(udp.packets_sent.get(), 0);
    assert_eq!(rejected("malformed"), 2 * expected);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_crosses_the_udp_driver_byte_exact() {
    let fixture = fixture();
    let server = RunningServer::start(fixture.args(loopbacks()))
        .await
        .expect("start");
    for &addr in server.udp_addrs() {
        let fetched = tokio::task::spawn_blocking(move || fetch(addr, "/file.bin"))
            .await
            .expect("join")
            .unwrap_or_else(|e| panic!("fetch over {addr}: {e}"));
        assert!(fetched == fixture.body, "body differs over {addr}");
    }
    let udp = &server.metrics().udp;
    let transfers = server.udp_addrs().len() as u64;
    // A client resends its HELLO if the answer is slow (a loaded debug build), so at least.
    assert!(udp.hellos.get() >= transfers);
    assert!(udp.continuations_verified.get() > 0);
    assert!(udp.bytes_sent.get() >= transfers * FILE_LEN as u64);
    assert!(udp.soft_state_bytes.get() > 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_file_is_refused_not_dropped() {
    let fixture = fixture();
    let server = RunningServer::start(fixture.args(vec!["127.0.0.1:0".parse().expect("addr")]))
        .await
        .expect("start");
    let addr = server.udp_addrs()[0];
    let error = tokio::task::spawn_blocking(move || fetch(addr, "/../keys.yaml"))
        .await
        .expect("join")
        .expect_err("traversal must be refused");
    assert!(error.contains("refused"), "{error}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reload_keeps_serving_and_good_reload_rotates_keys() {
    let fixture = fixture();
    let mut server = RunningServer::start(fixture.args(vec!["127.0.0.1:0".parse().expect("addr")]))
        .await
        .expect("start");
    let addr = server.udp_addrs()[0];
    let epoch = move || tokio::task::spawn_blocking(move || sealing_epoch(addr));
    assert_eq!(epoch().await.expect("join"), 1);

    std::fs::write(fixture.path("keys.yaml"), "- epoch: 1\n  secret: nothex\n").expect("break");
    let error = server.reload().expect_err("bad key file must be refused");
    assert!(error.to_string().contains("keys.yaml"), "{error}");
    assert_eq!(epoch().await.expect("join"), 1);
    let fetched = tokio::task::spawn_blocking(move || fetch(addr, "/file.bin"))
        .await
        .expect("join")
        .expect("still serving after a bad reload");
    assert!(fetched == fixture.body);

    std::fs::remove_file(fixture.path("keys.yaml")).expect("rm");
    write_keys(&fixture.path("keys.yaml"), Some(5));
    server.reload().expect("good reload");
    assert_eq!(
        epoch().await.expect("join"),
        5,
        "workers still seal with the old key"
    );
    let fetched = tokio::task::spawn_blocking(move || fetch(addr, "/file.bin"))
        .await
        .expect("join")
        .expect("serving with the new key");
    assert!(fetched == fixture.body);
    server.shutdown().await;
}
