//! Direct server return from the VIP, end to end in network namespaces (needs root; fails,
//! saying so, without it):
//!
//! ```text
//!   client ── router ── balancer (VIP on lo; trickles-balancer, mode: direct_return)
//!               ├──── replica s0 (VIP on lo; trickles-server --dsr-vip VIP:4433)
//!               └──── replica s1 (VIP on lo; trickles-server --dsr-vip VIP:4433)
//! ```
//!
//! The router sends the VIP to the balancer; the balancer forwards each request (round robin,
//! so both replicas serve the connection) to a replica's own address with the DIRECT_RETURN
//! flag; the replica answers the client straight through the router. Claims, for IPv4 and
//! IPv6 (one balancer per family, the replicas dual-stack):
//! - the `trickles-client` executable downloads a 1 MiB file through the VIP byte-exact;
//! - every UDP datagram reaching the client's interface (counted with a packet socket) came
//!   from VIP:4433, and together they carry at least the file's bytes;
//! - the balancer relayed nothing towards the client (`to_client` bytes 0): the data bypassed
//!   it; the replicas counted every direct reply as sent from the VIP.
//!
//! The control: the same network with replicas started without `--dsr-vip` answers from the
//! replicas' own addresses, and the packet count shows exactly that; so the first test fails
//! if a replica answers from anywhere but the VIP.
//!
//! Addresses: 198.18.0.0/15 and 2001:2::/48 (benchmarking ranges). Every namespace is deleted
//! and every process killed when the test ends, also on panic.

mod netns;
mod support;

use std::net::SocketAddr;

use netns::dsr_network::{replica_subnet, DsrNetwork, Family, PORT, SIZE};

/// The value of the sample `name{labels...}` in a Prometheus text (labels in any order).
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (label_text, value) = rest.split_once('}')?;
        let all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        all.then(|| value.trim().parse().ok()).flatten()
    })
}

/// Asserts the balancer of `family` forwarded requests to every replica and relayed nothing
/// back towards the client.
fn assert_data_bypassed_the_balancer(network: &DsrNetwork, family: Family) {
    let metrics = network.balancer_metrics(family);
    for i in 0..network.replica_count() {
        let backend = format!("r{i}");
        let bytes = |direction| {
            sample(
                &metrics,
                "trickles_balancer_bytes_total",
                &[("backend", &backend), ("direction", direction)],
            )
            .unwrap_or_else(|| panic!("{family:?} balancer: no {direction} bytes of {backend}"))
        };
        assert!(
            bytes("to_backend") > 0.0,
            "{family:?}: no request reached {backend}"
        );
        assert_eq!(
            bytes("to_client"),
            0.0,
            "{family:?}: the balancer relayed replies"
        );
    }
}

/// The replicas' `trickles_server_direct_replies_total{source}`, summed.
fn direct_replies(network: &DsrNetwork, source: &str) -> Vec<f64> {
    (0..network.replica_count())
        .map(|i| {
            sample(
                &network.replica_metrics(i),
                "trickles_server_direct_replies_total",
                &[("source", source)],
            )
            .expect("direct_replies_total")
        })
        .collect()
}

#[test]
fn replicas_answer_from_the_vip_and_the_data_bypasses_the_balancer() {
    netns::require_root("replicas_answer_from_the_vip_and_the_data_bypasses_the_balancer");
    let mut network = DsrNetwork::build(support::binaries_with_network_functions(), "vip", 2);
    network.start_replicas(true);
    let mut seen_at_client = 0;
    for family in [Family::V4, Family::V6] {
        network.start_balancer(family);
        let tally = network.download(family);
        let vip = SocketAddr::new(family.vip(), PORT);
        let sources: Vec<SocketAddr> = tally.by_source.keys().copied().collect();
        assert_eq!(
            sources,
            vec![vip],
            "{family:?}: sources of the datagrams at the client"
        );
        assert_eq!(tally.kernel_drops, 0, "the packet count missed packets");
        let from_vip = tally.by_source[&vip];
        assert!(
            from_vip.payload_bytes >= SIZE,
            "{family:?}: only {} bytes came from the VIP",
            from_vip.payload_bytes
        );
        seen_at_client += from_vip.datagrams;
        assert_data_bypassed_the_balancer(&network, family);
    }
    let from_vip = direct_replies(&network, "vip");
    eprintln!("direct replies from the VIP per replica: {from_vip:?}");
    assert!(
        from_vip.iter().all(|n| *n > 0.0),
        "a replica served nothing"
    );
    assert!(from_vip.iter().sum::<f64>() >= seen_at_client as f64);
    assert!(direct_replies(&network, "own_address")
        .iter()
        .all(|n| *n == 0.0));
}

#[test]
fn without_dsr_vip_replies_come_from_the_replicas_own_addresses() {
    netns::require_root("without_dsr_vip_replies_come_from_the_replicas_own_addresses");
    let mut network = DsrNetwork::build(support::binaries_with_network_functions(), "own", 2);
    network.start_replicas(false);
    network.start_balancer(Family::V4);
    let tally = network.download(Family::V4);
    let own: Vec<SocketAddr> = (0..network.replica_count())
        .map(|i| SocketAddr::new(Family::V4.ip(replica_subnet(i), 2), PORT))
        .collect();
    let sources: Vec<SocketAddr> = tally.by_source.keys().copied().collect();
    assert_eq!(sources, own, "sources of the datagrams at the client");
    assert_data_bypassed_the_balancer(&network, Family::V4);
    assert!(direct_replies(&network, "own_address")
        .iter()
        .all(|n| *n > 0.0));
    assert!(direct_replies(&network, "vip").iter().all(|n| *n == 0.0));
}
