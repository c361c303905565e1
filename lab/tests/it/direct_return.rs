//! Direct server return from the VIP, end to end in network namespaces (needs root):
//!
//! ```text
//!   client ── router ── balancer (VIP on lo; trickles-balancer, mode: direct_return)
//!               ├──── replica r0 (VIP on lo; dsr_vips: [VIP:4433])
//!               └──── replica r1 (VIP on lo; dsr_vips: [VIP:4433])
//! ```
//!
//! The router sends the VIP to the balancer; the balancer forwards each request (round robin,
//! so both replicas serve the connection) to a replica's own address with the DIRECT_RETURN
//! flag; the replica answers the client straight through the router. Claims, for IPv4 and
//! IPv6: the `trickles-client` executable downloads a 1 MiB file through the VIP byte-exact;
//! every UDP datagram reaching the client's interface (counted with a packet socket) came from
//! VIP:4433 and together they carry at least the file's bytes; the balancer relayed nothing
//! towards the client; the replicas counted every direct reply as sent from the VIP. The
//! control: replicas reconfigured without `dsr_vips` answer from their own addresses, and the
//! packet count shows exactly that, so the first test fails if a replica answers from anywhere
//! but the VIP.

use std::net::SocketAddr;
use std::time::Duration;

use trickles_lab::http_probe::labelled_metric_value;
use trickles_lab::pool::{FrontEnd, Pool, PoolSpec};
use trickles_lab::service::balancer::{ModeFile, PolicyFile};
use trickles_lab::service::client::{ClientProcess, ClientSpec};
use trickles_lab::topology::{Family, Topology, HOST_INTERFACE};

use super::kit::{binaries, fixture_with, root};
use super::udp_sources::{Tally, UdpSources};

const SIZE: u64 = 1 << 20;

/// Builds the network for `family`, lets `prepare` change the pool, downloads through the VIP
/// counting what reaches the client, and hands the count and the pool to `check`.
fn download_through_vip(
    family: Family,
    prepare: impl FnOnce(&mut Pool<'_>),
    check: impl FnOnce(Tally, &Pool<'_>),
) {
    let (fixture, digests) = fixture_with(&[("file", SIZE, 3)]);
    let topology = Topology::star(
        "the direct-return test",
        &["client", "balancer", "r0", "r1"],
        family,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let front_end = FrontEnd::Balancer(PolicyFile::RoundRobin, ModeFile::DirectReturn);
    let spec = PoolSpec {
        workers: Some(1),
        ..PoolSpec::new(2, front_end)
    };
    let mut pool = Pool::start(binaries(), &topology, &fixture, spec).expect("pool");
    prepare(&mut pool);
    let client_host = topology.host("client");
    let download = fixture.path().join("download");
    let client = ClientSpec::single(
        pool.trickles_url("file"),
        download,
        fixture.path(),
        "client",
    );
    let sniffer = UdpSources::start(&client_host, HOST_INTERFACE, Duration::from_secs(60));
    let stats = ClientProcess::start(binaries(), &client_host, client)
        .and_then(|client| client.finish(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{family:?}: {e}\n{}", pool.metrics_summary()));
    let tally = sniffer.finish();
    eprintln!("{family:?}: datagrams by source: {:?}", tally.by_source);
    assert_eq!(stats.sha256, digests[0], "{family:?}: client's digest");
    assert_eq!(tally.kernel_drops, 0, "the packet count missed packets");
    let metrics = pool
        .balancer()
        .and_then(|b| b.metrics())
        .expect("balancer metrics");
    for backend in ["r0", "r1"] {
        let bytes = |direction| {
            labelled_metric_value(
                &metrics,
                "trickles_balancer_bytes_total",
                &[("backend", backend), ("direction", direction)],
            )
            .unwrap_or(0.0)
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
    check(tally, &pool);
}

/// Every replica's `trickles_server_direct_replies_total{source}`.
fn direct_replies(pool: &Pool<'_>, source: &str) -> Vec<f64> {
    (0..pool.replica_count())
        .map(|i| {
            let metrics = pool
                .replica(i)
                .and_then(|r| r.metrics())
                .expect("replica metrics");
            labelled_metric_value(
                &metrics,
                "trickles_server_direct_replies_total",
                &[("source", source)],
            )
            .expect("direct_replies_total")
        })
        .collect()
}

#[test]
fn replicas_answer_from_the_vip_and_the_data_bypasses_the_balancer() {
    root("the direct-return test");
    for family in [Family::V4, Family::V6] {
        download_through_vip(
            family,
            |_| {},
            |tally, pool| {
                let vip = pool.service_addr();
                let sources: Vec<SocketAddr> = tally.by_source.keys().copied().collect();
                assert_eq!(
                    sources,
                    vec![vip],
                    "{family:?}: sources of the datagrams at the client"
                );
                let from_vip = tally.by_source[&vip];
                assert!(
                    from_vip.payload_bytes >= SIZE,
                    "{family:?}: {} bytes from the VIP",
                    from_vip.payload_bytes
                );
                let replies = direct_replies(pool, "vip");
                assert!(
                    replies.iter().all(|n| *n > 0.0),
                    "a replica served nothing: {replies:?}"
                );
                assert!(replies.iter().sum::<f64>() >= from_vip.datagrams as f64);
                assert!(direct_replies(pool, "own_address")
                    .iter()
                    .all(|n| *n == 0.0));
            },
        );
    }
}

#[test]
fn without_dsr_vip_replies_come_from_the_replicas_own_addresses() {
    root("the direct-return test");
    let answer_from_own_address = |pool: &mut Pool<'_>| {
        for i in 0..pool.replica_count() {
            let replica = pool.replica_mut(i).expect("replica");
            replica.spec_mut().config.dsr_vips.clear();
            replica.restart().expect("restart without dsr_vips");
        }
        pool.wait_balanced()
            .expect("both replicas back in the balancer's table");
    };
    download_through_vip(Family::V4, answer_from_own_address, |tally, pool| {
        let own: Vec<SocketAddr> = (0..pool.replica_count())
            .map(|i| pool.replica(i).expect("replica").spec().config.listen[0])
            .collect();
        let sources: Vec<SocketAddr> = tally.by_source.keys().copied().collect();
        assert_eq!(sources, own, "sources of the datagrams at the client");
        assert!(direct_replies(pool, "own_address").iter().all(|n| *n > 0.0));
        assert!(direct_replies(pool, "vip").iter().all(|n| *n == 0.0));
    });
}
