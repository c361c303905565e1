//! The test server against the core's client driven by hand: what a test relies on.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use trickles::client::ClientStatus;

use super::{memory_app, FaultScript, TestServer};
use crate::core_client::{fetch_with_core, ClientPath, CoreTransfer};
use crate::ports::{can_bind, LOOPBACK_V4, LOOPBACK_V6};

/// Enough datagrams for loss bursts and a crash to fall mid-transfer.
const BODY_LEN: usize = 600_000;

fn body() -> Vec<u8> {
    (0..BODY_LEN).map(|i| (i * 7 % 253) as u8).collect()
}

/// Serves [`body`] on `ip` following `script` and fetches it with the core's client.
fn fetch(ip: std::net::IpAddr, script: FaultScript) -> (TestServer, CoreTransfer) {
    let server = TestServer::builder(memory_app([("/b", body())]))
        .bind(SocketAddr::new(ip, 0))
        .script(script)
        .start();
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("client socket");
    let limit = Duration::from_secs(60);
    let transfer = fetch_with_core(&socket, server.addr(), "/b", &ClientPath::Direct, limit);
    (server, transfer)
}

fn assert_byte_exact(transfer: &CoreTransfer) {
    assert_eq!(transfer.status, ClientStatus::Done, "{:?}", transfer.stats);
    assert!(transfer.body == body(), "the body is not byte-exact");
}

#[test]
fn a_well_behaved_server_serves_byte_exact_over_ipv4_and_ipv6() {
    for ip in [LOOPBACK_V4, LOOPBACK_V6] {
        if !can_bind(ip) {
            eprintln!("{ip} cannot be bound here: skipped");
            continue;
        }
        let (server, transfer) = fetch(ip, FaultScript::default());
        assert_byte_exact(&transfer);
        assert_eq!(server.sources().len(), 1);
        assert_eq!(server.clients(), server.sources());
        assert_eq!(server.handled(), server.received());
        assert!(transfer.sources.iter().all(|&s| s == server.addr()));
    }
}

#[test]
fn a_loss_burst_costs_retransmissions_not_the_body() {
    let script = FaultScript {
        drop_burst: Some((100, 30)),
        ..FaultScript::default()
    };
    let (_server, transfer) = fetch(LOOPBACK_V4, script);
    assert_byte_exact(&transfer);
    assert!(transfer.stats.loss_events > 0, "{:?}", transfer.stats);
}

#[test]
fn answers_from_the_other_socket_come_from_another_port() {
    let script = FaultScript {
        answer_from_other_socket: true,
        ..FaultScript::default()
    };
    let (server, transfer) = fetch(LOOPBACK_V4, script);
    assert!(!transfer.sources.is_empty());
    assert!(transfer.sources.iter().all(|&s| s != server.addr()));
}

#[test]
fn a_killed_server_closes_its_port() {
    let mut server = TestServer::start("127.0.0.1:0", memory_app([]), FaultScript::default());
    let addr = server.addr();
    assert!(UdpSocket::bind(addr).is_err(), "the server holds its port");
    server.kill();
    UdpSocket::bind(addr).expect("the port is free after the kill");
}
