//! The namespace testbed itself (needs root, as every experiment does; CI runs as root): hosts
//! reach each other through the router over IPv4 and IPv6, a loopback VIP is reachable, the
//! token bucket really limits the rate, and dropping the testbed deletes its namespaces.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use trickles_lab::topology::{require_root, Family, StarTestbed, Topology};

fn root() {
    if let Err(error) = require_root("the testbed tests") {
        panic!("{error}");
    }
}

fn namespaces() -> String {
    String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list")
            .stdout,
    )
    .expect("utf-8")
}

/// Sends `bytes` over TCP from `from` to a listener in `to`, returns the seconds it took.
fn tcp_transfer(testbed: &StarTestbed, from: &str, to: &str, family: Family, bytes: usize) -> f64 {
    let server = testbed.host(to);
    let listen = SocketAddr::new(server.address(family), 5001);
    let listener = server
        .handle()
        .run_inside(|| TcpListener::bind(listen))
        .expect("enter server namespace")
        .expect("bind in server namespace");
    std::thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut total = 0;
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut buffer).expect("read");
                if n == 0 {
                    break total;
                }
                total += n;
            }
        });
        let started = Instant::now();
        testbed
            .host(from)
            .handle()
            .run_inside(|| {
                let mut stream =
                    TcpStream::connect_timeout(&listen, Duration::from_secs(5)).expect("connect");
                let chunk = vec![7u8; 64 * 1024];
                let mut sent = 0;
                while sent < bytes {
                    let n = chunk.len().min(bytes - sent);
                    stream.write_all(&chunk[..n]).expect("write");
                    sent += n;
                }
            })
            .expect("enter client namespace");
        assert_eq!(receiver.join().expect("receiver"), bytes);
        started.elapsed().as_secs_f64()
    })
}

#[test]
fn hosts_reach_each_other_over_both_families_and_cleanup_removes_the_namespaces() {
    root();
    let names: Vec<String>;
    {
        let testbed = StarTestbed::build(&["client", "server"]).expect("testbed");
        names = testbed
            .hosts()
            .iter()
            .map(|host| host.namespace().name().to_owned())
            .chain([testbed.router().name().to_owned()])
            .collect();
        let listed = namespaces();
        for name in &names {
            assert!(listed.contains(name.as_str()), "{name} missing in {listed}");
        }
        for family in [Family::V4, Family::V6] {
            tcp_transfer(&testbed, "client", "server", family, 1 << 20);
        }
    }
    let listed = namespaces();
    for name in &names {
        assert!(
            !listed.contains(name.as_str()),
            "{name} left behind: {listed}"
        );
    }
}

#[test]
fn the_token_bucket_limits_what_the_router_forwards() {
    root();
    let testbed = StarTestbed::build(&["sender", "receiver"]).expect("testbed");
    let bytes = 2 << 20;
    let unshaped = tcp_transfer(&testbed, "sender", "receiver", Family::V4, bytes);
    testbed
        .shape_toward("receiver", 20_000_000, 100_000)
        .expect("shape");
    let shaped = tcp_transfer(&testbed, "sender", "receiver", Family::V4, bytes);
    let shaped_mbit = bytes as f64 * 8.0 / shaped / 1e6;
    assert!(
        shaped_mbit < 22.0 && shaped_mbit > 10.0,
        "shaped to 20 Mbit/s, measured {shaped_mbit:.1} (unshaped took {unshaped:.3} s)"
    );
    assert!(
        shaped > unshaped * 2.0,
        "unshaped {unshaped:.3} s, shaped {shaped:.3} s"
    );
}

#[test]
fn a_loopback_address_on_a_host_is_reachable_through_the_router() {
    root();
    let testbed = StarTestbed::build(&["client", "replica"]).expect("testbed");
    let vip: std::net::IpAddr = "198.18.200.1".parse().expect("vip");
    let replica = testbed.host("replica");
    replica.add_loopback_address(vip).expect("vip on lo");
    testbed
        .router()
        .ip(&[
            "route",
            "add",
            "198.18.200.1/32",
            "via",
            &replica.address(Family::V4).to_string(),
        ])
        .expect("route the vip");
    let listener = replica
        .handle()
        .run_inside(|| TcpListener::bind(SocketAddr::new(vip, 5002)))
        .expect("enter")
        .expect("bind vip");
    let accepted = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
    testbed
        .host("client")
        .handle()
        .run_inside(|| {
            TcpStream::connect_timeout(&SocketAddr::new(vip, 5002), Duration::from_secs(5))
        })
        .expect("enter")
        .expect("connect to the vip");
    let peer = accepted.join().expect("accept thread").expect("accept");
    assert_eq!(peer.ip(), testbed.host("client").address(Family::V4));
}

#[test]
fn namespaces_of_a_lab_that_died_are_removed_by_the_next_testbed() {
    root();
    let mut dead = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead_pid = dead.id();
    dead.wait().expect("reap true");
    let name = format!("trl{dead_pid}-0-leftover");
    let added = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .expect("ip netns add");
    assert!(added.success());
    assert!(namespaces().contains(&name));
    let removed = trickles_lab::topology::namespace::remove_stale();
    assert!(removed >= 1, "removed {removed}");
    assert!(!namespaces().contains(&name), "{name} survived");
}

/// A cut link drops everything until it is restored; a crashed host comes back without the
/// sockets it had: a connection attempt to its old listener is refused, not lost.
#[test]
fn a_cut_link_drops_traffic_until_restored_and_a_crashed_host_boots_without_its_sockets() {
    root();
    let topology = Topology::star("the testbed tests", &["client", "server"], Family::V6)
        .unwrap_or_else(|e| panic!("{e}"));
    let server = topology.host("server");
    let listen = SocketAddr::new(server.address(), 5002);
    let connect = |limit: Duration| {
        topology
            .host("client")
            .probe(|| TcpStream::connect_timeout(&listen, limit).map_err(|e| e.kind()))
            .expect("client namespace")
            .map(drop)
    };
    let listener = server
        .probe(|| TcpListener::bind(listen))
        .expect("server namespace")
        .expect("listen");
    assert_eq!(connect(Duration::from_secs(5)), Ok(()));
    topology.cut_link("server").expect("cut");
    assert!(
        connect(Duration::from_millis(500)).is_err(),
        "through a cut link"
    );
    topology.restore_link("server").expect("restore");
    assert_eq!(
        connect(Duration::from_secs(5)),
        Ok(()),
        "after the link came back"
    );
    drop(listener);
    let testbed = topology.testbed().expect("namespaces");
    testbed.crash_host("server").expect("crash");
    assert!(
        connect(Duration::from_millis(500)).is_err(),
        "to a crashed host"
    );
    testbed.revive_host("server").expect("boot");
    assert_eq!(
        connect(Duration::from_secs(5)),
        Err(std::io::ErrorKind::ConnectionRefused),
        "the booted host has no listener"
    );
}
