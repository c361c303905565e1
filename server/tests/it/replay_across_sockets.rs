//! Claims about the replay filter of a server process over real sockets on 127.0.0.1 and ::1:
//! it is one filter per process, so a request used on one listen socket is a replay on every
//! other socket of the process.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::ServedFile;
use trickles::client::{ClientConfig, ClientConnection};
use trickles::wire::{Header, PacketType};
use trickles_server::service::RunningServer;
use trickles_server::udp::worker::wall_clock;

/// A client socket of `server`'s family with a short read timeout.
fn client_socket(server: SocketAddr) -> UdpSocket {
    let local = if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(local).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    socket
}

/// Opens a connection to `server` from `socket` and returns the first REQUEST the client
/// sends back (not yet sent).
fn first_request(socket: &UdpSocket, server: SocketAddr) -> Vec<u8> {
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        connection.handle_datagram(wall_clock(), from, &buf[..n]);
        while let Some(transmit) = connection.poll_transmit(wall_clock()) {
            let is_request = matches!(Header::parse(&transmit.payload),
                Ok((header, _)) if header.packet_type == PacketType::Request);
            if is_request {
                return transmit.payload;
            }
        }
    }
    panic!("no request within 10 s");
}

/// Datagrams arriving on `socket` from `from` within `wait`.
fn answers_from(socket: &UdpSocket, from: SocketAddr, wait: Duration) -> usize {
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + wait;
    let mut count = 0;
    while Instant::now() < deadline {
        if let Ok((_, source)) = socket.recv_from(&mut buf) {
            count += usize::from(source == from);
        }
    }
    count
}

/// Two distinct addresses of `ip` with ports free a moment ago (a listen list may not name
/// `ip:0` twice).
fn two_free_addresses(ip: &str) -> Vec<SocketAddr> {
    let probes: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind(format!("{ip}:0")).expect("probe"))
        .collect();
    probes
        .iter()
        .map(|probe| probe.local_addr().expect("addr"))
        .collect()
}

/// Serves on two sockets of `ip`, uses a request on the first and replays it on the second.
async fn replay_on_second_socket_is_dropped(ip: &str) {
    let fixture = ServedFile::new(vec![7u8; 200_000]);
    let server = RunningServer::start(fixture.args(two_free_addresses(ip)))
        .await
        .expect("start");
    let (first, second) = (server.udp_addrs()[0], server.udp_addrs()[1]);
    assert_ne!(first, second);
    let replays = || {
        server
            .metrics()
            .udp
            .continuations_rejected
            .with_label_values(&["replay"])
            .get()
    };
    let answered_twice = tokio::task::spawn_blocking(move || {
        let socket = client_socket(first);
        let request = first_request(&socket, first);
        socket.send_to(&request, first).expect("use it");
        let used = answers_from(&socket, first, Duration::from_millis(500));
        socket.send_to(&request, second).expect("replay it");
        (
            used,
            answers_from(&socket, second, Duration::from_millis(500)),
        )
    })
    .await
    .expect("join");
    let (used, replayed) = answered_twice;
    assert!(used > 0, "the request was not answered where it was used");
    assert_eq!(replayed, 0, "the replay on another socket was answered");
    let deadline = Instant::now() + Duration::from_secs(10);
    while replays() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(replays(), 1, "the replay was not counted as one");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_used_on_one_ipv4_socket_is_a_replay_on_another_of_the_process() {
    replay_on_second_socket_is_dropped("127.0.0.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_used_on_one_ipv6_socket_is_a_replay_on_another_of_the_process() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    replay_on_second_socket_is_dropped("[::1]").await;
}
