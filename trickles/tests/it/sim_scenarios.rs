//! End-to-end transfers through the deterministic simulator: 1,000 seeded scenarios and named
//! scenarios for the claims of the protocol (any replica resumes any connection, crashes are
//! survived, heavy bursty loss is survived).
//!
//! Replay one seed with a full trace:
//! `TRICKLES_SIM_SEED=<n> cargo test -p trickles --test it sim_scenarios::replay -- --nocapture`.
//! Run another range of seeds: `TRICKLES_SIM_FIRST=<first> TRICKLES_SIM_COUNT=<count> cargo test
//! -p trickles --test it sim_scenarios::`.

use std::net::SocketAddr;

use trickles::client::ClientStatus;
use trickles::sim::{
    GilbertElliott, LinkConfig, ReplicaCrash, ReplicaPolicy, Scenario, ScenarioOutcome,
};
use trickles::time::{Duration, Instant};

/// Seeds checked by `seeded_scenarios_all_complete_byte_exact` unless overridden.
const SEEDED_SCENARIOS: u64 = 1_000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn replay_hint(seed: u64) -> String {
    format!("replay: TRICKLES_SIM_SEED={seed} cargo test -p trickles --test it sim_scenarios::replay -- --nocapture")
}

fn assert_succeeded(scenario: &Scenario, outcome: &ScenarioOutcome) {
    assert!(
        outcome.succeeded(),
        "scenario failed\n  {scenario}\n  {outcome}\n  {}",
        replay_hint(scenario.seed)
    );
}

#[test]
fn seeded_scenarios_all_complete_byte_exact() {
    let first = env_u64("TRICKLES_SIM_FIRST").unwrap_or(0);
    let count = env_u64("TRICKLES_SIM_COUNT").unwrap_or(SEEDED_SCENARIOS);
    let mut failures = Vec::new();
    let mut completions: Vec<(u64, u64)> = Vec::new();
    let mut bytes = 0usize;
    for seed in first..first + count {
        let scenario = Scenario::from_seed(seed);
        let outcome = scenario.run();
        match outcome.completion_time() {
            Some(time) => {
                completions.push((time.micros() / 1000, seed));
                bytes += outcome.expected_len;
            }
            None => failures.push(format!(
                "  {scenario}\n  {outcome}\n  {}",
                replay_hint(seed)
            )),
        }
    }
    completions.sort_unstable();
    if let Some(&(median, _)) = completions.get(completions.len() / 2) {
        let slowest: Vec<String> = completions
            .iter()
            .rev()
            .take(5)
            .map(|(ms, seed)| format!("seed {seed}: {ms} ms"))
            .collect();
        println!(
            "{} of {count} scenarios byte-exact, {bytes} B in total; virtual completion time: \
             median {median} ms; slowest: {}",
            completions.len(),
            slowest.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {count} scenarios failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn replay() {
    let requested = env_u64("TRICKLES_SIM_SEED");
    let scenario = Scenario::from_seed(requested.unwrap_or(0));
    let (outcome, trace) = scenario.run_traced();
    if requested.is_some() {
        println!("{scenario}");
        for record in &trace {
            println!("{record}");
        }
        println!("{outcome}");
    }
    assert!(!trace.is_empty(), "a traced run records its events");
    assert_succeeded(&scenario, &outcome);
}

#[test]
fn same_seed_gives_an_identical_trace_twice() {
    // A seed with loss, replicas and (for most seeds) more than a handful of packets.
    let scenario = Scenario::from_seed(42);
    let (first, first_trace) = scenario.run_traced();
    let (second, second_trace) = scenario.run_traced();
    assert!(first.events > 10, "too small a run to compare: {first}");
    assert_eq!(first.trace_digest, second.trace_digest);
    assert_eq!(first_trace, second_trace);
    assert_eq!(
        scenario.run().trace_digest,
        first.trace_digest,
        "recording changes nothing"
    );
}

#[test]
fn different_seeds_give_different_traces() {
    let digests: Vec<u64> = (0..5)
        .map(|seed| Scenario::from_seed(seed).run().trace_digest)
        .collect();
    for (i, a) in digests.iter().enumerate() {
        for b in &digests[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

fn lossy_link(loss: f64, delay_ms: u64) -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(delay_ms),
        loss,
        ..LinkConfig::default()
    }
}

#[test]
fn any_replica_resumes_any_connection() {
    let mut scenario = Scenario::new(1).with_links(lossy_link(0.02, 20));
    scenario.object_len = 150_000;
    scenario.replicas = 3;
    scenario.policy = ReplicaPolicy::RoundRobin;
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    let replicas: Vec<SocketAddr> = (0..3).map(|i| scenario.replica_addr(i)).collect();
    assert_eq!(
        outcome.answered_by, replicas,
        "every replica answered from its own address"
    );
    for (index, server) in outcome.servers.iter().enumerate() {
        assert!(
            server.accepted > 20,
            "replica {index} served little: {server:?}"
        );
    }
}

#[test]
fn transfer_survives_replica_crash_and_restart() {
    let mut scenario = Scenario::new(2).with_links(LinkConfig {
        delay: Duration::from_millis(10),
        rate_bps: Some(2_000_000),
        queue_limit_packets: Some(50),
        ..LinkConfig::default()
    });
    // 200 KB at 2 Mbit/s take about 0.8 s: the only replica dies in the middle for 0.5 s.
    scenario.object_len = 200_000;
    scenario.crashes.push(ReplicaCrash {
        replica: 0,
        at: Instant(300_000),
        down_for: Some(Duration::from_millis(500)),
    });
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    assert_eq!((outcome.network.crashes, outcome.network.restarts), (1, 1));
    assert!(
        outcome.network.dropped_at_down_node > 0,
        "the crash lost packets"
    );
    let before_crash = outcome
        .progress
        .iter()
        .filter(|p| p.at < Instant(300_000))
        .map(|p| p.bytes)
        .max()
        .unwrap_or(0);
    assert!(
        before_crash > 0 && before_crash < scenario.object_len as u64,
        "the crash must hit mid-transfer (had {before_crash} B)"
    );
}

#[test]
fn transfer_survives_a_whole_pool_outage() {
    let mut scenario = Scenario::new(3).with_links(lossy_link(0.0, 15));
    scenario.object_len = 120_000;
    scenario.replicas = 2;
    scenario.policy = ReplicaPolicy::Random;
    for replica in 0..2 {
        scenario.crashes.push(ReplicaCrash {
            replica,
            at: Instant(100_000),
            down_for: Some(Duration::from_millis(1_500)),
        });
    }
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    assert!(
        outcome.client.timeouts > 0,
        "an outage is only detected by timeout: {outcome}"
    );
}

#[test]
fn transfer_completes_under_20_percent_bursty_loss() {
    let mut scenario = Scenario::new(4).with_links(LinkConfig {
        delay: Duration::from_millis(25),
        burst_loss: Some(
            GilbertElliott::with_mean_loss(0.2, 3.0).stepping_when_idle(Duration::from_millis(10)),
        ),
        ..LinkConfig::default()
    });
    scenario.object_len = 100_000;
    scenario.replicas = 2;
    scenario.policy = ReplicaPolicy::RoundRobin;
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    let lost = outcome.links.dropped_burst as f64 / outcome.links.sent as f64;
    assert!(
        lost > 0.1,
        "the links must really have lost ~20% (lost {lost:.3})"
    );
}

#[test]
fn transfer_completes_through_a_slow_bottleneck_with_tail_drops() {
    let mut scenario = Scenario::new(5).with_links(LinkConfig {
        delay: Duration::from_millis(40),
        rate_bps: Some(1_000_000),
        queue_limit_packets: Some(10),
        ..LinkConfig::default()
    });
    scenario.object_len = 300_000;
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    assert!(
        outcome.links.dropped_queue_full > 0,
        "the window must overflow a 10-packet queue"
    );
}

#[test]
fn empty_object_completes() {
    let mut scenario = Scenario::new(6);
    scenario.object_len = 0;
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
}

#[test]
fn ipv6_transfer_completes_with_reordering_and_duplication() {
    let mut scenario = Scenario::new(7).with_links(LinkConfig {
        delay: Duration::from_millis(30),
        jitter: Duration::from_millis(5),
        reorder: 0.05,
        reorder_delay: Duration::from_millis(20),
        duplicate: 0.03,
        ..LinkConfig::default()
    });
    scenario.ipv6 = true;
    scenario.object_len = 80_000;
    scenario.replicas = 3;
    scenario.policy = ReplicaPolicy::Random;
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    assert!(outcome.answered_by.iter().all(SocketAddr::is_ipv6));
}

#[test]
fn unknown_object_is_refused_not_retried() {
    // Build the scenario's network but ask for an object nobody serves.
    let scenario = Scenario::new(8);
    let mut net = scenario.build().expect("network");
    let client: SocketAddr = "198.18.0.2:40000".parse().expect("address");
    let connection = trickles::client::ClientConnection::new(
        net.now(),
        scenario.service_addr(),
        b"/missing".to_vec(),
        scenario.client.clone(),
        99,
    );
    net.add_node(client, trickles::sim::ClientNode::new(connection))
        .expect("client node");
    net.run_until(Instant(10_000_000));
    let node = net
        .node::<trickles::sim::ClientNode>(client)
        .expect("client node");
    assert!(
        matches!(node.connection().status(), ClientStatus::Failed(_)),
        "status {:?}",
        node.connection().status()
    );
    assert_eq!(node.sent(), 1, "a refusal ends the connection at once");
}

#[test]
fn losing_the_first_data_packet_costs_one_timeout_not_the_freshness_window() {
    let mut scenario =
        Scenario::new(9).with_links(LinkConfig::with_delay(Duration::from_millis(20)));
    scenario.object_len = 20_000;
    // The first packet the replica sends is DATA seq 1.
    scenario.replica_to_client.drop_packets = vec![0];
    let outcome = scenario.run();
    assert_succeeded(&scenario, &outcome);
    assert_eq!(outcome.links.dropped_scripted, 1);
    let took = outcome
        .completion_time()
        .unwrap_or(Duration::from_secs(u64::MAX / 1_000_000));
    assert!(
        took < Duration::from_secs(5),
        "one lost packet took {} ms to recover: {outcome}",
        took.millis()
    );
}
