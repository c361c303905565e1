//! The XDP datapath as a router-shaped balancer: client and replicas on two different links of
//! the balancer's host, the program attached natively to both veths, the next hop from the
//! kernel's FIB (`bpf_fib_lookup`, no gateway MAC): a client's datagram enters on one device and
//! leaves by `XDP_REDIRECT` on the other, a reply the other way. A transfer through it is
//! byte-exact, and the program (not the sockets) forwarded nearly everything.
//!
//! ```text
//!  client ns            balancer ns                          replicas ns
//!  c0 198.18.10.2 ── b0 198.18.10.1 (VIP :4433) │ b1 198.18.11.1 ── s0 198.18.11.2 :5001-5003
//! ```
//!
//! Needs root (namespaces, native XDP, `ethtool`); prints why and passes without it. The
//! peers of the balancer's veths run the object's `pass_xdp` (a veth delivers redirected frames
//! only then) and compute checksums in software (frames between namespaces otherwise carry a
//! partial checksum).

use std::net::SocketAddr;

use aya::programs::XdpMode;
use trickles_balancer::xdp::object::PASS_PROGRAM;
use trickles_balancer::xdp::privileges::check_this_process;
use trickles_balancer::xdp::XdpBalancer;
use trickles_testkit::command_line::run;
use trickles_testkit::namespace::Namespace;

use crate::support::*;

const VIP: &str = "198.18.10.1:4433";

fn sa(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

/// `pass_xdp` on `device` of `namespace`, attached while the returned value lives.
fn pass_on(namespace: &Namespace, device: &str) -> XdpBalancer {
    let device = device.to_owned();
    namespace
        .handle()
        .run_inside(move || {
            let mut program = XdpBalancer::load().expect("load");
            program
                .attach_program(PASS_PROGRAM, &device, XdpMode::Driver)
                .expect("attach pass_xdp");
            program
        })
        .expect("namespace")
}

#[test]
fn through_the_routed_xdp_balancer_a_transfer_is_byte_exact_and_redirected_in_xdp() {
    if let Err(e) = check_this_process() {
        eprintln!("skipped: needs the privileges to attach XDP programs: {e}");
        return;
    }
    let client = Namespace::create("xdp-routed-client").expect("namespace");
    let balancer_ns = Namespace::create("xdp-routed-balancer").expect("namespace");
    let servers = Namespace::create("xdp-routed-servers").expect("namespace");
    for (a, a_ns, b, b_ns) in [
        ("c0", &client, "b0", &balancer_ns),
        ("s0", &servers, "b1", &balancer_ns),
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
        (&client, "c0", "198.18.10.2/24"),
        (&balancer_ns, "b0", "198.18.10.1/24"),
        (&balancer_ns, "b1", "198.18.11.1/24"),
        (&servers, "s0", "198.18.11.2/24"),
    ] {
        ns.ip(&["address", "add", address, "dev", device])
            .expect("address");
        ns.ip(&["link", "set", device, "up"]).expect("up");
    }
    client
        .ip(&["route", "add", "default", "via", "198.18.10.1"])
        .expect("route");
    servers
        .ip(&["route", "add", "default", "via", "198.18.11.1"])
        .expect("route");
    balancer_ns
        .sysctl("net.ipv4.ip_forward", "1")
        .expect("forwarding");
    for (ns, device) in [(&client, "c0"), (&servers, "s0")] {
        ns.exec("ethtool", &["-K", device, "tx", "off"])
            .expect("software checksums");
    }
    let _client_pass = pass_on(&client, "c0");
    let _servers_pass = pass_on(&servers, "s0");

    let body = body(4 << 20);
    let app = application(body.clone());
    let vip = sa(VIP);
    let backends: Vec<SocketAddr> = (0..3)
        .map(|i| sa(&format!("198.18.11.2:{}", 5001 + i)))
        .collect();
    let _replicas = {
        let (app, backends) = (app.clone(), backends.clone());
        servers
            .handle()
            .run_inside(move || {
                backends
                    .iter()
                    .map(|b| replica_on(&app, vip, *b))
                    .collect::<Vec<_>>()
            })
            .expect("servers namespace")
    };
    let (runtime, balancer) = {
        let backends = backends.clone();
        balancer_ns
            .handle()
            .run_inside(move || {
                let runtime = runtime();
                let yaml =
                    balancer_yaml(vip, &backends, "datapath: xdp\nxdp_interfaces: [b0, b1]\n");
                let balancer = start_balancer(&runtime, config(&yaml));
                (runtime, balancer)
            })
            .expect("balancer namespace")
    };
    assert!(balancer.xdp_attached());
    assert_eq!(active_within_10_s(&balancer, 3), 3, "replicas up");

    let stats = client
        .handle()
        .run_inside(move || fetch_through(vip))
        .expect("client namespace");
    assert_eq!(stats.sha256, sha256(&body), "byte-exact");

    let metrics = balancer.metrics().clone();
    runtime.block_on(balancer.shutdown());
    let text = trickles_netfn::render(&metrics.registry);
    let sum = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let forwarded = sum("trickles_balancer_packets_total{");
    let passed = sum("trickles_balancer_xdp_passed_total{");
    println!("forwarded {forwarded} datagrams, {passed} handed up to the sockets");
    assert!(forwarded > 1000.0, "{text}");
    // Only the first frames, before the neighbours are resolved, go up.
    assert!(
        passed < forwarded / 10.0,
        "{passed} of {forwarded} went up:\n{text}"
    );
}
