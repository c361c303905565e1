//! Claims about the largest datagram an end host sends through the mirror: a HELLO padded to
//! its maximum, wrapped with an encapsulation header and an auth tag, crosses whole (the
//! mirror's receive slot used to be exactly the HELLO's size and cut off its end).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use trickles::wire::hello::MAX_HELLO_PADDING;
use trickles_mirror::MirrorRoute;
use trickles_netfn::mirror_auth::AuthKey;
use trickles_netfn::udp::batch::{DEFAULT_SLOT_LEN, LARGEST_END_HOST_DATAGRAM};
use trickles_testkit::{lossy_link, server_and_tagged_clients, TestMirror};

fn bind() -> UdpSocket {
    let socket = trickles_netfn::udp::bind_one("127.0.0.1:0".parse().expect("addr")).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    socket
}

#[test]
fn the_receive_slot_holds_the_largest_tagged_hello_of_either_family() {
    assert_eq!(LARGEST_END_HOST_DATAGRAM, MAX_HELLO_PADDING);
    let key = AuthKey::new(1, [7; 16]);
    let hello = vec![0u8; MAX_HELLO_PADDING];
    for (mirror, destination) in [
        ("127.0.0.1:7000", "127.0.0.1:4433"),
        ("[::1]:7000", "[2001:2::1]:4433"),
        ("[::1]:7000", "198.18.0.1:4433"),
    ] {
        let mirror: SocketAddr = mirror.parse().expect("addr");
        let route = MirrorRoute::new(mirror).with_key(key.clone());
        let wrapped = route.wrap(destination.parse().expect("addr"), &hello, 1_000);
        assert!(
            wrapped.len() <= DEFAULT_SLOT_LEN,
            "{} bytes to {destination}",
            wrapped.len()
        );
    }
}

#[test]
fn largest_padded_hello_crosses_the_mirror_whole() {
    let (client, server) = (bind(), bind());
    let server_addr = server.local_addr().expect("addr");
    let key = AuthKey::new(3, [9; 16]);
    let mirror = TestMirror::start(
        server_and_tagged_clients("server", server_addr, &key),
        lossy_link(0, 0.0),
        7,
    );
    let route = mirror.route().with_key(key);
    let hello: Vec<u8> = (0..MAX_HELLO_PADDING).map(|i| (i % 251) as u8).collect();
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let wrapped = route.wrap(server_addr, &hello, now_secs);
    client.send_to(&wrapped, mirror.addr()).expect("send");
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok((n, from)) = server.recv_from(&mut buf) else {
            continue;
        };
        let (sender, inner) = MirrorRoute::new(mirror.addr())
            .unwrap(from, &buf[..n])
            .expect("a delivery from the mirror");
        assert_eq!(sender, client.local_addr().expect("addr"));
        assert!(
            inner == hello,
            "{} of {} bytes arrived",
            inner.len(),
            hello.len()
        );
        return;
    }
    panic!("nothing arrived: {}", mirror.metrics_text());
}
