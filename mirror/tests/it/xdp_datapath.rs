//! The mirror's `datapath: userspace | xdp | auto` as a person meets it: without privileges the
//! binary runs the userspace datapath and says why (`auto`) or refuses to start naming the
//! missing capabilities (`xdp`); with them, as a router-shaped mirror between a client link and
//! a server link, datagrams both ways are rewritten and redirected in XDP, byte for byte what
//! the userspace mirror sends, and counted in the same metrics.
//!
//! The unprivileged runs drop to `nobody` when the tests run as root; the privileged one needs
//! namespaces, native XDP and `ethtool`, and prints why and passes without them.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aya::programs::XdpMode;
use trickles_mirror::datapath::MirrorDatapath;
use trickles_mirror::metrics::MirrorMetrics;
use trickles_mirror::xdp::program::PASS_PROGRAM;
use trickles_mirror::xdp::runner::XdpMirrorDatapath;
use trickles_mirror::xdp::XdpMirror;
use trickles_mirror::MirrorSettings;
use trickles_netfn::config::Published;
use trickles_netfn::encap::EncapRepr;
use trickles_netfn::ConfigSource;
use trickles_testkit::command_line::run;
use trickles_testkit::namespace::Namespace;
use trickles_testkit::unprivileged::run_unprivileged;
use trickles_xdp::privileges::check_this_process;

fn config(datapath: &str) -> String {
    format!(
        "listen: [\"127.0.0.1:0\"]\npeers:\n  - name: lab\n    addresses: [\"127.0.0.0/8\"]\n    \
         side: client\ndatapath: {datapath}\nxdp_interfaces: [lo]\n"
    )
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trickles-mirror"))
}

#[test]
fn without_privileges_auto_mirrors_in_userspace_and_says_why() {
    let run = run_unprivileged(binary(), &config("auto"), "datapath auto", false);
    assert!(
        run.log.contains(
            "datapath auto: running the userspace datapath only: missing capabilities: \
             CAP_BPF and CAP_NET_ADMIN"
        ),
        "{}",
        run.log
    );
    assert!(run.still_running, "it keeps running:\n{}", run.log);
}

#[test]
fn without_privileges_xdp_refuses_to_start_and_names_the_capabilities() {
    let run = run_unprivileged(binary(), &config("xdp"), "XDP datapath", true);
    assert!(
        run.log
            .contains("missing capabilities: CAP_BPF and CAP_NET_ADMIN"),
        "{}",
        run.log
    );
    assert!(!run.still_running, "it must exit:\n{}", run.log);
}

/// `pass_xdp` on `device` of `namespace`, attached while the returned value lives.
fn pass_on(namespace: &Namespace, device: &str) -> XdpMirror {
    let device = device.to_owned();
    namespace
        .handle()
        .run_inside(move || {
            let mut program = XdpMirror::load().expect("load");
            program
                .attach_program(PASS_PROGRAM, &device, XdpMode::Driver)
                .expect("attach pass_xdp");
            program
        })
        .expect("namespace")
}

fn sa(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

const MIRROR_CONFIG: &str = "\
listen: [\"198.18.30.1:7000\"]
peers:
  - name: clients
    addresses: [\"198.18.30.0/24\"]
    side: client
  - name: server
    addresses: [\"198.18.31.2:5000\"]
    side: server
datapath: xdp
xdp_interfaces: [m0, m1]
";

#[test]
fn through_the_routed_xdp_mirror_datagrams_both_ways_are_exact_and_stay_in_xdp() {
    if let Err(e) = check_this_process() {
        eprintln!("skipped: needs the privileges to attach XDP programs: {e}");
        return;
    }
    let client = Namespace::create("mxdp-client").expect("namespace");
    let mirror_ns = Namespace::create("mxdp-mirror").expect("namespace");
    let server = Namespace::create("mxdp-server").expect("namespace");
    for (a, a_ns, b, b_ns) in [
        ("c0", &client, "m0", &mirror_ns),
        ("s0", &server, "m1", &mirror_ns),
    ] {
        run(
            "ip",
            &[
                "link",
                "add",
                a,
                "netns",
                a_ns.name(),
                "type",
                "veth",
                "peer",
                "name",
                b,
                "netns",
                b_ns.name(),
            ],
        )
        .expect("veth pair");
    }
    for (ns, device, address) in [
        (&client, "c0", "198.18.30.2/24"),
        (&mirror_ns, "m0", "198.18.30.1/24"),
        (&mirror_ns, "m1", "198.18.31.1/24"),
        (&server, "s0", "198.18.31.2/24"),
    ] {
        ns.ip(&["address", "add", address, "dev", device])
            .expect("address");
        ns.ip(&["link", "set", device, "up"]).expect("up");
    }
    client
        .ip(&["route", "add", "default", "via", "198.18.30.1"])
        .expect("route");
    server
        .ip(&["route", "add", "default", "via", "198.18.31.1"])
        .expect("route");
    mirror_ns
        .sysctl("net.ipv4.ip_forward", "1")
        .expect("forwarding");
    for (ns, device) in [(&client, "c0"), (&server, "s0")] {
        ns.exec("ethtool", &["-K", device, "tx", "off"])
            .expect("software checksums");
    }
    let _client_pass = pass_on(&client, "c0");
    let _server_pass = pass_on(&server, "s0");

    let settings =
        MirrorSettings::from_source(&ConfigSource::from_text("mirror.yaml", MIRROR_CONFIG))
            .expect("config");
    let metrics = MirrorMetrics::new().expect("metrics");
    let (datapath, xdp) = {
        let (settings, metrics) = (settings.clone(), metrics.clone());
        mirror_ns
            .handle()
            .run_inside(move || {
                let rules = Arc::new(Published::new(settings.rules.clone()));
                let datapath =
                    MirrorDatapath::start(&settings.listen, 1, Some(1), rules.clone(), &metrics)
                        .expect("userspace datapath");
                let xdp = XdpMirrorDatapath::start(
                    &settings.datapath,
                    &datapath.local_addrs(),
                    rules,
                    metrics.clone(),
                )
                .expect("XDP datapath");
                (datapath, xdp)
            })
            .expect("mirror namespace")
    };

    let mirror = sa("198.18.30.1:7000");
    let server_addr = sa("198.18.31.2:5000");
    let client_addr = sa("198.18.30.2:40000");
    let rounds = 200usize;
    // The server answers each datagram through the mirror, naming the client it came from.
    let server_thread = server
        .handle()
        .spawn_inside(move || {
            let socket = UdpSocket::bind(server_addr).expect("server socket");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut buffer = [0u8; 2048];
            let mut seen = Vec::new();
            for _ in 0..rounds {
                let Ok((n, from)) = socket.recv_from(&mut buffer) else {
                    break;
                };
                let (header, inner) = EncapRepr::parse(&buffer[..n]).expect("encapsulated");
                seen.push((from, header.peer, inner.to_vec()));
                let mut reply = inner.to_vec();
                reply.reverse();
                let wrapped = EncapRepr::new(header.peer).encapsulate(&reply);
                socket.send_to(&wrapped, mirror).expect("reply");
            }
            seen
        })
        .expect("server namespace");
    std::thread::sleep(Duration::from_millis(200));
    let replies = client
        .handle()
        .run_inside(move || {
            let socket = UdpSocket::bind(client_addr).expect("client socket");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut buffer = [0u8; 2048];
            let mut replies = Vec::new();
            for i in 0..rounds {
                let inner: Vec<u8> = (0..100 + i).map(|b| (b * 7 + i) as u8).collect();
                let wrapped = EncapRepr::new(server_addr).encapsulate(&inner);
                socket.send_to(&wrapped, mirror).expect("send");
                let Ok((n, from)) = socket.recv_from(&mut buffer) else {
                    break;
                };
                let (header, reply) = EncapRepr::parse(&buffer[..n]).expect("encapsulated");
                replies.push((from, header.peer, inner, reply.to_vec()));
            }
            replies
        })
        .expect("client namespace");
    let seen = server_thread
        .join()
        .expect("server thread")
        .expect("server namespace");

    xdp.stop();
    datapath.stop();
    assert_eq!(replies.len(), rounds, "every datagram answered");
    for (from, peer, inner, reply) in &replies {
        assert_eq!(
            (*from, *peer),
            (mirror, server_addr),
            "from the mirror, naming the server"
        );
        let mut expected = inner.clone();
        expected.reverse();
        assert_eq!(reply, &expected, "byte-exact");
    }
    for (from, peer, _) in &seen {
        assert_eq!(
            (*from, *peer),
            (mirror, client_addr),
            "from the mirror, naming the client"
        );
    }
    let text = trickles_netfn::render(&metrics.registry);
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let forwarded = value("trickles_mirror_forwarded_packets_total{peer=\"clients\"}")
        + value("trickles_mirror_forwarded_packets_total{peer=\"server\"}");
    let passed: f64 = text
        .lines()
        .filter(|l| l.starts_with("trickles_mirror_xdp_passed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!("{forwarded} datagrams forwarded, {passed} handed up to the sockets");
    assert_eq!(forwarded, (2 * rounds) as f64, "{text}");
    assert!(passed < 10.0, "{passed} went up:\n{text}");
}
