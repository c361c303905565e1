//! End to end on loopback: the real `trickles-client` fetches through an in-process balancer
//! from replicas that are the protocol core's `ServerEndpoint` on real sockets.
//!
//! Claims: per-packet spraying serves one connection from every replica, byte-exact, with
//! roughly equal load; a replica killed mid-transfer leaves the table within one health-check
//! interval and the transfer still completes byte-exact; direct server return sends no reply
//! through the balancer; a reload (drain + weights) mid-transfer drops nothing; a bad reload is
//! refused with its line and the running table keeps serving.

use std::time::{Duration, Instant};

use crate::support::*;
use trickles_balancer::core::DropReason;
use trickles_balancer::metrics::{TO_BACKEND, TO_CLIENT};
use trickles_testkit::free_udp_addr;
use trickles_testkit::ports::{free_udp_addr_on, LOOPBACK_V6};

fn counts(balancer: &trickles_balancer::service::RunningBalancer, direction: &str) -> Vec<u64> {
    balancer
        .table()
        .backends
        .iter()
        .map(|b| balancer.metrics().packets(&b.name, direction))
        .collect()
}

/// The replica serving the transfer, once it has relayed 2,000 replies (Maglev keeps a
/// connection on one replica); fails after 10 s.
fn serving_replica(balancer: &trickles_balancer::service::RunningBalancer) -> usize {
    let started = Instant::now();
    loop {
        let replies = counts(balancer, TO_CLIENT);
        if let Some(i) = replies.iter().position(|&n| n > 2_000) {
            return i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "transfer never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn total_drops(balancer: &trickles_balancer::service::RunningBalancer) -> u64 {
    DropReason::ALL
        .iter()
        .map(|r| balancer.metrics().drops(*r))
        .sum()
}

#[test]
fn spraying_serves_one_connection_from_three_replicas_byte_exact() {
    let body = body(3 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let (_replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    let balancer = start_balancer(
        &runtime,
        config(&balancer_yaml(vip, &addrs, "policy: round_robin\n")),
    );
    assert_eq!(
        active_within_10_s(&balancer, 3),
        3,
        "all replicas up at start"
    );

    let stats = fetch_through(vip);
    assert_eq!(stats.bytes, body.len() as u64);
    assert_eq!(stats.sha256, sha256(&body), "byte-exact");

    let requests = counts(&balancer, TO_BACKEND);
    let replies = counts(&balancer, TO_CLIENT);
    println!(
        "one connection, 3 MiB, round robin over 3 replicas: requests per replica {requests:?} \
         (spread {:.1} %), data packets per replica {replies:?} (spread {:.1} %), \
         client retransmission requests {}",
        spread_percent(&requests),
        spread_percent(&replies),
        stats.retransmissions
    );
    assert!(requests.iter().all(|&n| n > 0) && replies.iter().all(|&n| n > 0));
    assert!(spread_percent(&requests) < 5.0, "{requests:?}");
    assert!(spread_percent(&replies) < 25.0, "{replies:?}");
    assert_eq!(total_drops(&balancer), 0);
    runtime.block_on(balancer.shutdown());
}

#[test]
fn a_killed_replica_leaves_the_table_within_one_interval_and_the_transfer_completes() {
    let body = body(24 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let (mut replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    let balancer = start_balancer(&runtime, config(&balancer_yaml(vip, &addrs, "")));
    let interval = Duration::from_millis(200);

    let transfer = std::thread::spawn(move || fetch_through(vip));
    // Wait until the transfer is well under way, then kill the replica serving it (Maglev
    // keeps the connection on one replica).
    let serving = serving_replica(&balancer);
    assert!(!transfer.is_finished(), "killed mid-transfer");
    replicas[serving].kill();
    let killed_at = Instant::now();
    let name = format!("r{serving}");
    while balancer.table().active().contains(&(serving as u32)) {
        assert!(
            killed_at.elapsed() < 3 * interval,
            "replica never left the table"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let left_after = killed_at.elapsed();
    let stats = transfer.join().expect("client thread");
    println!(
        "replica {name} killed mid-transfer: out of the table after {:.0} ms (interval {} ms); \
         transfer finished byte-exact in {:.2} s, longest stall {:.0} ms",
        left_after.as_secs_f64() * 1e3,
        interval.as_millis(),
        stats.seconds,
        stats.longest_stall_ms
    );
    assert!(
        left_after <= interval + Duration::from_millis(50),
        "{left_after:?}"
    );
    assert_eq!(stats.sha256, sha256(&body), "byte-exact after failover");
    let metrics = trickles_netfn::render(&balancer.metrics().registry);
    assert!(
        metrics.contains(&format!(
            "trickles_balancer_backend_up{{backend=\"{name}\"}} 0"
        )),
        "metrics show the replica down"
    );
    let others: u64 = (0..3)
        .filter(|&i| i != serving)
        .map(|i| balancer.metrics().packets(&format!("r{i}"), TO_CLIENT))
        .sum();
    assert!(others > 0, "another replica resumed the connection");
    runtime.block_on(balancer.shutdown());
}

#[test]
fn direct_server_return_sends_no_reply_through_the_balancer() {
    let body = body(1 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let (_replicas, addrs) = replicas(&app, vip, 2);
    let runtime = runtime();
    let balancer = start_balancer(
        &runtime,
        config(&balancer_yaml(
            vip,
            &addrs,
            "mode: direct_return\npolicy: round_robin\n",
        )),
    );
    assert_eq!(active_within_10_s(&balancer, 2), 2, "both replicas up");
    let stats = fetch_through(vip);
    assert_eq!(stats.sha256, sha256(&body));
    assert!(counts(&balancer, TO_BACKEND).iter().all(|&n| n > 0));
    assert_eq!(
        counts(&balancer, TO_CLIENT),
        [0, 0],
        "replies bypass the balancer"
    );
    runtime.block_on(balancer.shutdown());
}

#[test]
fn reloading_mid_transfer_drops_nothing_and_a_bad_file_keeps_the_table() {
    let body = body(8 << 20);
    let app = application(body.clone());
    let vip = free_udp_addr();
    let (_replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    let yaml = balancer_yaml(vip, &addrs, "policy: round_robin\n");
    let balancer = start_balancer(&runtime, config(&yaml));

    let transfer = std::thread::spawn(move || fetch_through(vip));
    while counts(&balancer, TO_CLIENT).iter().sum::<u64>() < 500 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Drain r0 and switch policy, mid-transfer.
    let drained = yaml
        .replace("policy: round_robin", "policy: least_loaded")
        .replace(
            &format!("  - name: r0\n    address: \"{}\"\n", addrs[0]),
            &format!(
                "  - name: r0\n    address: \"{}\"\n    drain: true\n",
                addrs[0]
            ),
        );
    balancer.apply(config(&drained));
    let deadline = Instant::now() + Duration::from_secs(2);
    while balancer.table().active().contains(&0) {
        assert!(Instant::now() < deadline, "drain never applied");
        std::thread::sleep(Duration::from_millis(1));
    }
    // A worker that took its batch before the drain was published finishes that batch with the
    // old table (it picks up a new table between batches), so r0 may still get what those batches
    // carried: one batch per worker at most. Nothing after.
    let to_r0_at_drain = balancer.metrics().packets("r0", TO_BACKEND);
    let others_at_drain =
        balancer.metrics().packets("r1", TO_BACKEND) + balancer.metrics().packets("r2", TO_BACKEND);

    // A bad file: refused with its line, the table in force keeps serving.
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        drained.replace("interval_ms: 200", "interval_ms: often"),
    )
    .expect("write");
    let error = balancer.reload_from(&bad).expect_err("bad file refused");
    assert_eq!(error.line, Some(3), "{error}");
    assert!(error.to_string().contains("bad.yaml:3:"), "{error}");

    // Settled: the other replicas got more than a batch per worker since, so (one worker here,
    // whose batches are counted in order) the batch in flight at the drain is counted; or the
    // transfer is over.
    let workers = config(&drained).workers * config(&drained).listen.len();
    let in_flight = (workers * trickles_netfn::udp::BATCH_LEN) as u64;
    let others = |b: &trickles_balancer::service::RunningBalancer| {
        b.metrics().packets("r1", TO_BACKEND) + b.metrics().packets("r2", TO_BACKEND)
    };
    let settle_deadline = Instant::now() + Duration::from_secs(20);
    while others(&balancer) <= others_at_drain + in_flight && !transfer.is_finished() {
        assert!(
            Instant::now() < settle_deadline,
            "the transfer stopped after the drain"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let to_r0_settled = balancer.metrics().packets("r0", TO_BACKEND);
    assert!(
        to_r0_settled - to_r0_at_drain <= in_flight,
        "r0 got {} datagrams after the drain was published; batches in flight hold at most {in_flight}",
        to_r0_settled - to_r0_at_drain
    );

    let stats = transfer.join().expect("client thread");
    assert_eq!(stats.sha256, sha256(&body), "byte-exact across the reload");
    assert_eq!(total_drops(&balancer), 0, "no datagram dropped");
    assert_eq!(
        balancer.metrics().packets("r0", TO_BACKEND),
        to_r0_settled,
        "a drained replica gets nothing new"
    );
    assert_eq!(balancer.table().active(), [1, 2]);
    runtime.block_on(balancer.shutdown());
}

#[test]
fn ipv6_clients_and_replicas_are_balanced_alike() {
    let Some(vip) = free_udp_addr_on(LOOPBACK_V6) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let body = body(256 << 10);
    let app = application(body.clone());
    let (_replicas, addrs) = replicas(&app, vip, 2);
    let runtime = runtime();
    let balancer = start_balancer(
        &runtime,
        config(&balancer_yaml(vip, &addrs, "policy: round_robin\n")),
    );
    let stats = fetch_through(vip);
    assert_eq!(stats.sha256, sha256(&body));
    assert!(counts(&balancer, TO_CLIENT).iter().all(|&n| n > 0));
    runtime.block_on(balancer.shutdown());
}

#[test]
fn a_restarted_replica_returns_after_rise_successes() {
    let app = application(body(1024));
    let vip = free_udp_addr();
    let (mut replicas, addrs) = replicas(&app, vip, 2);
    let runtime = runtime();
    // rise 2: back after two answered probes.
    let yaml = balancer_yaml(vip, &addrs, "").replace("rise: 1", "rise: 2");
    let balancer = start_balancer(&runtime, config(&yaml));
    assert_eq!(active_within_10_s(&balancer, 2), 2, "both replicas up");
    assert_eq!(balancer.table().active(), [0, 1]);
    let wait_for = |wanted: &[u32], limit: Duration| {
        let started = Instant::now();
        while balancer.table().active() != wanted {
            assert!(started.elapsed() < limit, "table never became {wanted:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
        started.elapsed()
    };
    replicas[1].kill();
    let out = wait_for(&[0], Duration::from_millis(400));
    replicas[1] = replica_on(&app, vip, addrs[1]);
    let back = wait_for(&[0, 1], Duration::from_millis(1_000));
    println!(
        "replica killed: out after {:.0} ms; restarted: back after {:.0} ms (interval 200 ms, rise 2)",
        out.as_secs_f64() * 1e3,
        back.as_secs_f64() * 1e3
    );
    // Two successes need at least one full interval between them.
    assert!(back >= Duration::from_millis(150), "{back:?}");
    runtime.block_on(balancer.shutdown());
}

/// With a 30 s probe interval (the first probe at start, the next 30 s later), a killed replica can leave the table sooner only because its
/// host's "port unreachable" for the forwarded requests made the balancer probe it at once.
fn a_killed_replicas_unreachables_take_it_out_at_once(ip: &str) {
    let body = body(24 << 20);
    let app = application(body.clone());
    let vip =
        trickles_testkit::ports::free_udp_addr_on(ip.parse().expect("ip")).expect("a free port");
    let (mut replicas, addrs) = replicas(&app, vip, 3);
    let runtime = runtime();
    // A probe may take 2 s (a loaded machine must not fail the first round: the next is 30 s
    // away).
    let yaml = balancer_yaml(vip, &addrs, "")
        .replace("interval_ms: 200", "interval_ms: 30000")
        .replace("timeout_ms: 100", "timeout_ms: 2000");
    let balancer = start_balancer(&runtime, config(&yaml));
    assert_eq!(active_within_10_s(&balancer, 3), 3, "every replica up");
    let transfer = std::thread::spawn(move || fetch_through(vip));
    let serving = serving_replica(&balancer);
    replicas[serving].kill();
    let killed_at = Instant::now();
    while balancer.table().active().contains(&(serving as u32)) {
        assert!(
            killed_at.elapsed() < Duration::from_millis(2_500),
            "the replica stayed in the table: its unreachables were not acted on"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let left_after = killed_at.elapsed();
    let stats = transfer.join().expect("client thread");
    let metrics = trickles_netfn::render(&balancer.metrics().registry);
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    println!(
        "over {ip}: out of the table {:.0} ms after the kill (interval 30 s), {} unreachables, \
         {} passed on to the client, which acted on {}; longest stall {:.0} ms",
        left_after.as_secs_f64() * 1e3,
        value("trickles_balancer_backend_unreachables_total "),
        value("trickles_balancer_unreachable_notices_total "),
        stats.unreachables,
        stats.longest_stall_ms
    );
    assert_eq!(stats.sha256, sha256(&body), "byte-exact after failover");
    assert!(value("trickles_balancer_backend_unreachables_total ") >= 1.0);
    // The client hears the dead replica's unreachables only through the balancer's notices.
    assert!(value("trickles_balancer_unreachable_notices_total ") >= 1.0);
    assert!(stats.unreachables >= 1, "the client acted on a notice");
    runtime.block_on(balancer.shutdown());
}

#[test]
fn a_killed_replicas_unreachables_take_it_out_at_once_over_ipv4() {
    a_killed_replicas_unreachables_take_it_out_at_once("127.0.0.1");
}

#[test]
fn a_killed_replicas_unreachables_take_it_out_at_once_over_ipv6() {
    a_killed_replicas_unreachables_take_it_out_at_once("::1");
}
