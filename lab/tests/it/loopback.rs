//! Real processes on loopback (no root): byte-exact transfers over 127.0.0.1 and [::1] (if IPv6
//! loopback is missing these fail rather than skip), a replica killed and replaced under a
//! running client (DESIGN.md decision 3: "killing it and starting another replica with the same
//! key must be invisible to the client except as delay"), a balanced pool losing the serving
//! replica, one connection served packet by packet by two replicas, the chain under kills, and
//! the README's demo.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use trickles_lab::chain::{run_chain, ChainOptions};
use trickles_lab::demo::{default_front_end, run_demo, DemoOptions, DEFAULT_REPLICAS};
use trickles_lab::demo_report::report;
use trickles_lab::pool::failover::{fetch_through_failover, FailoverRun};
use trickles_lab::pool::{FrontEnd, Pool, PoolSpec};
use trickles_lab::schedule::FailureSchedule;
use trickles_lab::service::balancer::{ModeFile, PolicyFile};
use trickles_lab::service::client::{ClientProcess, ClientSpec};
use trickles_lab::service::mirror::EmulatedWan;
use trickles_lab::test_file::{sha256_file, write_seeded};
use trickles_lab::topology::Topology;

use super::kit::{binaries, fixture_with};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn assert_byte_exact_fetch(ip: IpAddr, size: u64) {
    let (fixture, digests) = fixture_with(&[("file", size, size ^ 0x5eed)]);
    let topology = Topology::loopback(ip).expect("loopback");
    let spec = PoolSpec {
        workers: Some(1),
        ..PoolSpec::new(1, FrontEnd::Direct)
    };
    let pool = Pool::start(binaries(), &topology, &fixture, spec).expect("pool");
    let download = fixture.path().join("download");
    let client = ClientSpec::single(
        pool.trickles_url("file"),
        download.clone(),
        fixture.path(),
        "client",
    );
    let stats = ClientProcess::start(binaries(), &topology.host("client"), client)
        .and_then(|client| client.finish(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("fetching {size} bytes over {ip}: {e}"));
    assert_eq!((stats.protocol.as_str(), stats.bytes), ("trickles", size));
    assert_eq!(stats.sha256, digests[0], "client's digest");
    assert_eq!(sha256_file(&download).expect("hash"), digests[0]);
}

#[test]
fn empty_file_is_byte_exact_over_ipv4() {
    assert_byte_exact_fetch(V4, 0);
}

#[test]
fn one_byte_file_is_byte_exact_over_ipv4() {
    assert_byte_exact_fetch(V4, 1);
}

#[test]
fn one_mebibyte_file_is_byte_exact_over_ipv4() {
    assert_byte_exact_fetch(V4, 1 << 20);
}

#[test]
fn empty_file_is_byte_exact_over_ipv6() {
    assert_byte_exact_fetch(V6, 0);
}

#[test]
fn one_byte_file_is_byte_exact_over_ipv6() {
    assert_byte_exact_fetch(V6, 1);
}

#[test]
fn one_mebibyte_file_is_byte_exact_over_ipv6() {
    assert_byte_exact_fetch(V6, 1 << 20);
}

/// One transfer of `size` bytes from a loopback pool while `schedule` runs; byte-exact, and
/// the failure came during the transfer; then `check` looks at what happened.
fn failover(
    ip: IpAddr,
    size: u64,
    replicas: usize,
    front_end: FrontEnd,
    schedule: &str,
    check: impl FnOnce(&FailoverRun, &Pool<'_>),
) {
    let (fixture, digests) = fixture_with(&[("file", size, 11)]);
    let topology = Topology::loopback(ip).expect("loopback");
    let spec = PoolSpec {
        workers: Some(1),
        ..PoolSpec::new(replicas, front_end)
    };
    let mut pool = Pool::start(binaries(), &topology, &fixture, spec).expect("pool");
    let download = fixture.path().join("download");
    let mut client = ClientSpec::single(
        pool.trickles_url("file"),
        download,
        fixture.path(),
        "client",
    );
    client.via = pool.via();
    let schedule: FailureSchedule = schedule.parse().expect("schedule");
    let limit = Duration::from_secs(50);
    let client_host = topology.host("client");
    let run = fetch_through_failover(
        binaries(),
        &mut pool,
        &client_host,
        client,
        &schedule,
        limit,
        &digests[0],
    )
    .unwrap_or_else(|e| {
        panic!(
            "transfer through `{schedule}`: {e}\n{}",
            pool.metrics_summary()
        )
    });
    let stats = &run.transfer.stats;
    eprintln!(
        "failed at {:.3} s, repaired at {:.3?} s, done in {:.3} s, stall {:.0} ms; {:?}",
        run.failed_at,
        run.repaired_at,
        stats.seconds,
        stats.longest_stall_ms,
        run.transfer.trace.events()
    );
    assert!(run.byte_exact, "{stats:?}");
    assert!(
        run.transfer.trace.bytes_at(run.failed_at) < size,
        "the failure came after the end"
    );
    check(&run, &pool);
}

#[test]
fn killed_server_is_replaced_and_transfer_finishes_byte_exact() {
    let schedule = "at 5MiB kill r0; after 1s restart r0";
    failover(V4, 16 << 20, 1, FrontEnd::Direct, schedule, |run, _| {
        let stall = run.transfer.stats.longest_stall_ms;
        assert!(
            stall >= 500.0,
            "the kill should stall at least half the 1 s delay: {stall} ms"
        );
    });
}

#[test]
fn a_paused_server_resumes_and_transfer_finishes_byte_exact_over_ipv6() {
    let schedule = "at 2MiB pause r0; after 0.5s resume r0";
    failover(V6, 8 << 20, 1, FrontEnd::Direct, schedule, |run, _| {
        assert!(
            run.recovery.outage.is_some(),
            "a hung server sends nothing: {:?}",
            run.recovery
        );
    });
}

#[test]
fn balanced_pool_loses_the_serving_replica_and_transfer_finishes_byte_exact() {
    let front_end = FrontEnd::Balancer(PolicyFile::Maglev, ModeFile::Relay);
    failover(
        V4,
        12 << 20,
        3,
        front_end,
        "at 4MiB kill serving",
        |run, pool| {
            let victim = run.victim.expect("a replica was killed");
            let events = run.transfer.trace.events();
            assert!(
                run.left_table_at.is_some_and(|t| t >= run.failed_at),
                "{events:?}"
            );
            assert!(
                run.took_over.is_some_and(|r| r != victim),
                "{:?}",
                run.took_over
            );
            let table = pool.balancer().and_then(|b| b.backends_in_table());
            assert_eq!(
                table,
                Some((2, 3)),
                "the killed replica left the balancer's table"
            );
        },
    );
}

#[test]
fn two_servers_one_key_alternating_packets_byte_exact() {
    failover(V4, 4 << 20, 2, FrontEnd::AlternatingRelay, "", |_, pool| {
        let relay = pool.relay().expect("the pool has a relay").counters();
        let to = [relay.to_server(0), relay.to_server(1)];
        let from = [relay.from_server(0), relay.from_server(1)];
        assert!(
            to[0].abs_diff(to[1]) <= 1,
            "requests alternate between the replicas: {to:?}"
        );
        assert!(
            from[0] > 0 && from[1] > 0,
            "both replicas answered: {from:?}"
        );
    });
}

/// The chain reduced to fit a debug test: client → mirror (10 ms each way, 1 % loss) →
/// balancer → three replicas, ten concurrent 1 MiB downloads while a random replica is
/// SIGKILLed every second and restarted half a second later.
#[test]
fn ten_downloads_through_mirror_and_balancer_are_byte_exact_under_replica_kills() {
    let wan = EmulatedWan {
        delay_ms: 10.0,
        loss: 0.01,
        seed: 7,
    };
    let options = ChainOptions {
        ip: V4,
        clients: 10,
        size: 1 << 20,
        seed: 7,
        wan,
        kill_every: Duration::from_secs(1),
        restart_after: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(20),
        limit: Duration::from_secs(50),
        keep_temp: false,
    };
    let report = run_chain(binaries(), &options).expect("chain run");
    eprint!("{report}");
    assert_eq!(
        (report.ok, report.failed),
        (10, 0),
        "every transfer byte-exact: {report}"
    );
    assert!(
        report.kills >= 1,
        "at least one replica was killed: {report}"
    );
}

/// `demo --observe`: a real Prometheus scrapes every component through the failover, and the
/// failover overview is drawn from its answers: the client's delivery, the killed replica's
/// health and every replica's traffic are in the data.
#[test]
fn the_observed_demo_draws_the_failover_overview_from_prometheus() {
    let out = tempfile::tempdir().expect("temp dir");
    let options = DemoOptions {
        size: 8 << 20,
        seed: 7,
        kill_at: 0.333,
        restart_after: Duration::from_millis(500),
        front_end: default_front_end(7),
        replicas: DEFAULT_REPLICAS,
        ip: V4,
        port: None,
        out_dir: out.path().to_path_buf(),
        keep_temp: false,
        limit: Duration::from_secs(60),
        observe: true,
    };
    let outcome = run_demo(binaries(), &options).expect("observed demo run");
    let dashboard = outcome.dashboard.expect("the dashboard was drawn");
    for file in [&dashboard.files.png, &dashboard.files.svg] {
        assert!(
            std::fs::metadata(file).is_ok_and(|m| m.len() > 0),
            "{}",
            file.display()
        );
    }
    for panel in [
        "Client delivery rate",
        "Replica health (balancer)",
        "Served per replica",
    ] {
        assert!(
            dashboard.series_of(panel) > 0,
            "{panel}: no data in {:?}",
            dashboard.panels
        );
    }
}

/// The README's demo in its default scenario, reduced: the serving replica is SIGKILLed at a
/// third and replaced half a second later; the balancer takes it out of its table; the CSV and
/// plots are written.
#[test]
fn default_demo_kills_the_serving_replica_and_the_client_finishes_byte_exact() {
    const SIZE: u64 = 8 << 20;
    let out = tempfile::tempdir().expect("temp dir");
    let expected = write_seeded(&out.path().join("expected"), SIZE, 2005).expect("reference");
    let options = DemoOptions {
        size: SIZE,
        seed: 2005,
        kill_at: 0.333,
        restart_after: Duration::from_millis(500),
        front_end: default_front_end(2005),
        replicas: DEFAULT_REPLICAS,
        ip: V4,
        port: None,
        out_dir: out.path().join("demo"),
        keep_temp: false,
        limit: Duration::from_secs(60),
        observe: false,
    };
    let outcome = run_demo(binaries(), &options).expect("demo run");
    eprint!("{}", report(&outcome));
    let run = &outcome.run;
    assert_eq!(run.transfer.stats.bytes, SIZE);
    assert_eq!(
        (run.transfer.stats.sha256.as_str(), outcome.sha256.as_str()),
        (expected.as_str(), expected.as_str())
    );
    let victim = run.victim.expect("a replica was killed");
    let events = run.transfer.trace.events();
    assert!(
        events.iter().any(|e| e
            .label
            .starts_with(&format!("r{victim} (serving) SIGKILLed"))),
        "{events:?}"
    );
    assert!(
        run.left_table_at.is_some_and(|t| t >= run.failed_at),
        "out of the table after the kill"
    );
    for file in [&outcome.plots.png, &outcome.plots.svg]
        .into_iter()
        .chain(&outcome.csv)
    {
        assert!(
            std::fs::metadata(file).is_ok_and(|m| m.len() > 0),
            "{} written",
            file.display()
        );
    }
}
