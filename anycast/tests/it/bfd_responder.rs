//! The BFD responder thread on loopback against a scripted peer (no root, no BIRD): the
//! three-way handshake brings the session Up while the gate is open; when the decision loop
//! stops renewing its lease the responder tells the peer Down (Path Down) although its thread
//! still runs.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles_anycast::bfd::packet::{diag, ControlRepr, State};
use trickles_anycast::bfd::responder::{bind, Responder};
use trickles_anycast::bfd::BfdGate;
use trickles_anycast::config::BfdConfig;

const CONFIG: BfdConfig = BfdConfig {
    min_tx: Duration::from_millis(20),
    min_rx: Duration::from_millis(20),
    multiplier: 3,
    lease: Duration::from_millis(300),
};
const PEER_DISCR: u32 = 0xb1d;

fn packet(state: State, your: u32) -> ControlRepr {
    ControlRepr {
        diag: 0,
        state,
        poll: false,
        final_: false,
        demand: false,
        detect_mult: 3,
        my_discr: PEER_DISCR,
        your_discr: your,
        desired_min_tx_us: 20_000,
        required_min_rx_us: 20_000,
    }
}

/// Send `state` until the responder answers with `wanted`; returns its last packet.
fn exchange(
    peer: &UdpSocket,
    to: std::net::SocketAddr,
    state: State,
    your: u32,
    wanted: State,
) -> ControlRepr {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        peer.send_to(&packet(state, your).emit(), to).expect("send");
        if let Ok((n, _)) = peer.recv_from(&mut buf) {
            let answer = ControlRepr::parse(&buf[..n]).expect("a valid BFD packet");
            if answer.state == wanted {
                return answer;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the responder never answered {wanted:?}"
        );
    }
}

#[test]
fn the_session_is_up_while_the_lease_is_renewed_and_down_once_it_lapses() {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    peer.set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    let socket = bind("127.0.0.1".parse().expect("ip"), 0).expect("responder socket");
    let to = socket.local_addr().expect("addr");
    let gate = Arc::new(BfdGate::new());
    let responder = Responder::start(
        socket,
        peer.local_addr().expect("addr").port(),
        CONFIG,
        gate.clone(),
    )
    .expect("start");
    let local: std::net::IpAddr = "127.0.0.1".parse().expect("ip");

    // Closed gate: the responder stays Down whatever the peer says.
    let closed = exchange(&peer, to, State::Down, 0, State::Down);
    assert_eq!(closed.your_discr, PEER_DISCR);

    gate.renew([local], Instant::now(), Duration::from_secs(60));
    let init = exchange(&peer, to, State::Down, 0, State::Init);
    let up = exchange(&peer, to, State::Up, init.my_discr, State::Up);
    assert_eq!(up.my_discr, init.my_discr);

    // The loop stops renewing: a short lease lapses and the responder says Path Down.
    let renewed = Instant::now();
    gate.renew([local], renewed, CONFIG.lease);
    let down = exchange(&peer, to, State::Up, init.my_discr, State::Down);
    assert_eq!(down.diag, diag::PATH_DOWN);
    assert!(
        renewed.elapsed() >= CONFIG.lease,
        "down only once the lease lapsed"
    );
    responder.stop();
}
