//! Tests of the generic simulator with toy nodes (no protocol code involved).

use std::net::SocketAddr;

use super::*;
use crate::time::{Duration, Instant};
use crate::Transmit;

/// Records every datagram it receives.
#[derive(Default)]
struct Sink {
    arrivals: Vec<(Instant, SocketAddr, Vec<u8>)>,
}

impl Node for Sink {
    fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
        _: &mut Vec<Transmit>,
    ) {
        self.arrivals.push((now, from, payload.to_vec()));
    }
}

/// Sends every datagram back to where it came from.
struct Echo;

impl Node for Echo {
    fn on_datagram(
        &mut self,
        _: Instant,
        from: SocketAddr,
        payload: &[u8],
        out: &mut Vec<Transmit>,
    ) {
        out.push(Transmit {
            destination: from,
            payload: payload.to_vec(),
        });
    }
}

/// Sends `total` numbered datagrams of `size` bytes to `to`, one every `interval` (all at
/// start when the interval is zero), and records what comes back.
struct Sender {
    to: SocketAddr,
    total: u32,
    size: usize,
    interval: Duration,
    sent: u32,
    next: Option<Instant>,
    replies: Vec<(Instant, SocketAddr, Vec<u8>)>,
}

impl Sender {
    fn new(to: SocketAddr, total: u32, size: usize, interval: Duration) -> Self {
        Self {
            to,
            total,
            size,
            interval,
            sent: 0,
            next: None,
            replies: Vec::new(),
        }
    }

    fn send_one(&mut self, out: &mut Vec<Transmit>) {
        let mut payload = self.sent.to_be_bytes().to_vec();
        payload.resize(self.size.max(4), 0);
        out.push(Transmit {
            destination: self.to,
            payload,
        });
        self.sent += 1;
    }
}

impl Node for Sender {
    fn on_start(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        if self.interval == Duration::ZERO {
            while self.sent < self.total {
                self.send_one(out);
            }
        } else if self.total > 0 {
            self.send_one(out);
            self.next = Some(now + self.interval);
        }
    }

    fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
        _: &mut Vec<Transmit>,
    ) {
        self.replies.push((now, from, payload.to_vec()));
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next.filter(|_| self.sent < self.total)
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        self.send_one(out);
        self.next = Some(now + self.interval);
    }
}

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], port))
}

const CLIENT: u8 = 1;
const SERVICE: u8 = 100;

fn sink_at(net: &Network, at: SocketAddr) -> &Sink {
    net.node::<Sink>(at).expect("sink node")
}

#[test]
fn one_way_delay_is_exact_in_both_directions() {
    let mut net = Network::new(1);
    let (client, server) = (addr(CLIENT, 1), addr(2, 2));
    net.set_link(
        client,
        server,
        LinkConfig::with_delay(Duration::from_millis(30)),
    );
    net.set_link(
        server,
        client,
        LinkConfig::with_delay(Duration::from_millis(12)),
    );
    net.add_node(server, Echo).unwrap();
    net.add_node(client, Sender::new(server, 1, 100, Duration::ZERO))
        .unwrap();
    net.run_until(Instant(1_000_000));
    let replies = &net.node::<Sender>(client).unwrap().replies;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, Instant(42_000));
    assert_eq!(replies[0].1, server);
}

#[test]
fn rate_limit_spaces_arrivals_by_serialization_time() {
    let mut net = Network::new(1);
    let (client, server) = (addr(CLIENT, 1), addr(2, 2));
    net.set_link(
        client,
        server,
        LinkConfig {
            delay: Duration::from_millis(5),
            rate_bps: Some(8_000_000), // 1000 bytes per millisecond
            ..LinkConfig::default()
        },
    );
    net.add_node(server, Sink::default()).unwrap();
    net.add_node(client, Sender::new(server, 5, 1000, Duration::ZERO))
        .unwrap();
    net.run_until(Instant(1_000_000));
    let times: Vec<u64> = sink_at(&net, server)
        .arrivals
        .iter()
        .map(|a| a.0.micros())
        .collect();
    assert_eq!(times, vec![6_000, 7_000, 8_000, 9_000, 10_000]);
}

#[test]
fn loss_rate_converges_to_configuration() {
    let mut net = Network::new(99);
    let (client, server) = (addr(CLIENT, 1), addr(2, 2));
    net.set_default_link(LinkConfig {
        loss: 0.1,
        ..LinkConfig::default()
    });
    net.add_node(server, Sink::default()).unwrap();
    net.add_node(client, Sender::new(server, 20_000, 10, Duration(10)))
        .unwrap();
    net.run_until(Instant(1_000_000));
    let received = sink_at(&net, server).arrivals.len();
    let loss = 1.0 - received as f64 / 20_000.0;
    assert!((loss - 0.1).abs() < 0.01, "observed loss {loss}");
    let stats = net.link_stats(client, server).unwrap();
    assert_eq!(stats.sent, 20_000);
    assert_eq!(stats.dropped_random as usize, 20_000 - received);
}

/// A lossy, jittery, reordering, duplicating exchange through a 3-replica service.
fn noisy_run(seed: u64) -> Network {
    let mut net = Network::new(seed);
    net.set_default_link(LinkConfig {
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(3),
        rate_bps: Some(50_000_000),
        loss: 0.05,
        burst_loss: Some(GilbertElliott::with_mean_loss(0.05, 3.0)),
        reorder: 0.05,
        reorder_delay: Duration::from_millis(4),
        duplicate: 0.02,
        ..LinkConfig::default()
    });
    let service = addr(SERVICE, 80);
    net.add_service(service, ServiceConfig::new(ReplicaPolicy::Random))
        .unwrap();
    for i in 0..3 {
        net.add_replica(service, addr(10 + i, 80), |_| Echo)
            .unwrap();
    }
    let client = addr(CLIENT, 1);
    net.add_node(client, Sender::new(service, 500, 200, Duration(700)))
        .unwrap();
    net.record_trace();
    net.run_until(Instant(2_000_000));
    net
}

#[test]
fn same_seed_gives_an_identical_trace() {
    let (first, second) = (noisy_run(7), noisy_run(7));
    assert_eq!(first.trace_digest(), second.trace_digest());
    assert_eq!(first.trace_records(), second.trace_records());
    assert!(first.trace_event_count() > 1_000);
}

#[test]
fn different_seeds_give_different_traces() {
    let digests: Vec<u64> = (0..4).map(|seed| noisy_run(seed).trace_digest()).collect();
    for i in 0..digests.len() {
        for j in i + 1..digests.len() {
            assert_ne!(digests[i], digests[j], "seeds {i} and {j} collide");
        }
    }
}

#[test]
fn round_robin_alternates_replicas() {
    let mut net = Network::new(3);
    let service = addr(SERVICE, 80);
    net.add_service(service, ServiceConfig::new(ReplicaPolicy::RoundRobin))
        .unwrap();
    let replicas = [addr(11, 80), addr(12, 80)];
    for replica in replicas {
        net.add_replica(service, replica, |_| Echo).unwrap();
    }
    let client = addr(CLIENT, 1);
    net.add_node(client, Sender::new(service, 6, 10, Duration(100)))
        .unwrap();
    net.run_until(Instant(1_000_000));
    let sources: Vec<SocketAddr> = net
        .node::<Sender>(client)
        .unwrap()
        .replies
        .iter()
        .map(|r| r.1)
        .collect();
    let expected: Vec<SocketAddr> = replicas.iter().copied().cycle().take(6).collect();
    assert_eq!(
        sources, expected,
        "replies must come from each replica's own address in turn"
    );
}

#[test]
fn crashed_replica_drops_and_restart_loses_its_state() {
    let mut net = Network::new(4);
    let service = addr(SERVICE, 80);
    let replica = addr(11, 80);
    net.add_service(service, ServiceConfig::new(ReplicaPolicy::Fixed(0)))
        .unwrap();
    net.add_replica(service, replica, |_| Sink::default())
        .unwrap();
    let client = addr(CLIENT, 1);
    // One packet every 10 ms at t = 0, 10, ..., 90 ms.
    net.add_node(
        client,
        Sender::new(service, 10, 10, Duration::from_millis(10)),
    )
    .unwrap();
    net.schedule_crash(replica, Instant(25_000)).unwrap();
    net.schedule_restart(replica, Instant(55_000)).unwrap();
    net.run_until(Instant(1_000_000));
    // Packets at 60, 70, 80, 90 ms reach the fresh replica; 0..20 ms were lost with the old one.
    let seen: Vec<u64> = sink_at(&net, replica)
        .arrivals
        .iter()
        .map(|a| a.0.micros())
        .collect();
    assert_eq!(seen, vec![60_000, 70_000, 80_000, 90_000]);
    let stats = net.stats();
    assert_eq!(stats.dropped_at_down_node, 3);
    assert_eq!((stats.crashes, stats.restarts), (1, 1));
}

#[test]
fn health_aware_service_avoids_a_crashed_replica() {
    let mut net = Network::new(5);
    let service = addr(SERVICE, 80);
    let config = ServiceConfig {
        policy: ReplicaPolicy::RoundRobin,
        skip_down_replicas: true,
    };
    net.add_service(service, config).unwrap();
    let (alive, dead) = (addr(11, 80), addr(12, 80));
    net.add_replica(service, alive, |_| Sink::default())
        .unwrap();
    net.add_replica(service, dead, |_| Sink::default()).unwrap();
    net.schedule_crash(dead, Instant(0)).unwrap();
    let client = addr(CLIENT, 1);
    net.add_node(client, Sender::new(service, 8, 10, Duration(50)))
        .unwrap();
    net.run_until(Instant(1_000_000));
    assert_eq!(sink_at(&net, alive).arrivals.len(), 8);
    assert_eq!(net.stats().dropped_at_down_node, 0);
}

#[test]
fn crashed_node_timers_stop_and_restart_starts_a_fresh_node() {
    let mut net = Network::new(6);
    let (ticker, sink) = (addr(1, 1), addr(2, 2));
    net.add_node(sink, Sink::default()).unwrap();
    net.add_restartable_node(ticker, move |_| {
        Sender::new(sink, 3, 10, Duration::from_millis(10))
    })
    .unwrap();
    net.schedule_crash(ticker, Instant(15_000)).unwrap();
    net.schedule_restart(ticker, Instant(100_000)).unwrap();
    net.run_until(Instant(1_000_000));
    let times: Vec<u64> = sink_at(&net, sink)
        .arrivals
        .iter()
        .map(|a| a.0.micros())
        .collect();
    // Incarnation 1 sent at 0 and 10 ms, then crashed; incarnation 2 sent three from 100 ms.
    assert_eq!(times, vec![0, 10_000, 100_000, 110_000, 120_000]);
    assert!(
        net.add_node(ticker, Echo).is_err(),
        "address must stay taken"
    );
}

#[test]
fn duplicated_packets_arrive_twice() {
    let mut net = Network::new(8);
    let (client, server) = (addr(CLIENT, 1), addr(2, 2));
    net.set_default_link(LinkConfig {
        duplicate: 1.0,
        ..LinkConfig::default()
    });
    net.add_node(server, Sink::default()).unwrap();
    net.add_node(client, Sender::new(server, 3, 10, Duration::ZERO))
        .unwrap();
    net.run_until(Instant(1_000));
    assert_eq!(sink_at(&net, server).arrivals.len(), 6);
    assert_eq!(net.link_stats(client, server).unwrap().duplicated, 3);
}

#[test]
fn ipv6_and_ipv4_nodes_share_a_network() {
    let mut net = Network::new(9);
    let server: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    let client = addr(CLIENT, 1);
    net.add_node(server, Echo).unwrap();
    net.add_node(client, Sender::new(server, 2, 10, Duration::ZERO))
        .unwrap();
    net.run_until(Instant(1_000));
    let replies = &net.node::<Sender>(client).unwrap().replies;
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|r| r.1 == server));
}

#[test]
fn unroutable_destinations_are_counted_not_delivered() {
    let mut net = Network::new(10);
    let client = addr(CLIENT, 1);
    net.add_node(client, Sender::new(addr(99, 9), 4, 10, Duration::ZERO))
        .unwrap();
    net.run_until(Instant(1_000));
    assert_eq!(net.stats().unroutable, 4);
    assert_eq!(net.stats().delivered, 0);
}

#[test]
fn setup_errors_name_their_cause() {
    let mut net = Network::new(11);
    let (node, service) = (addr(1, 1), addr(SERVICE, 80));
    net.add_node(node, Echo).unwrap();
    assert_eq!(net.add_node(node, Echo), Err(SimError::AddressInUse(node)));
    assert_eq!(
        net.add_replica(service, addr(2, 2), |_| Echo),
        Err(SimError::UnknownService(service))
    );
    assert_eq!(
        net.schedule_restart(node, Instant(1)),
        Err(SimError::NotRestartable(node))
    );
    assert_eq!(
        net.schedule_crash(addr(3, 3), Instant(1)),
        Err(SimError::UnknownNode(addr(3, 3)))
    );
}

#[test]
fn run_until_or_stops_as_soon_as_the_condition_holds() {
    let mut net = Network::new(12);
    let (client, server) = (addr(CLIENT, 1), addr(2, 2));
    net.set_default_link(LinkConfig::with_delay(Duration::from_millis(1)));
    net.add_node(server, Echo).unwrap();
    net.add_node(
        client,
        Sender::new(server, 10, 10, Duration::from_millis(5)),
    )
    .unwrap();
    let stopped = net.run_until_or(Instant(1_000_000), |net| {
        net.node::<Sender>(client)
            .is_some_and(|s| s.replies.len() == 3)
    });
    assert!(stopped);
    assert_eq!(net.now(), Instant(12_000));
}

#[test]
fn injected_packets_reach_a_replica_of_the_service() {
    let mut net = Network::new(13);
    let service = addr(SERVICE, 80);
    net.add_service(service, ServiceConfig::new(ReplicaPolicy::Fixed(0)))
        .unwrap();
    let replica = addr(11, 80);
    net.add_replica(service, replica, |_| Sink::default())
        .unwrap();
    net.run_until(Instant(1));
    net.inject(addr(CLIENT, 1), service, b"hello".to_vec());
    net.run_until(Instant(2));
    let arrivals = &sink_at(&net, replica).arrivals;
    assert_eq!(arrivals.len(), 1);
    assert_eq!(
        (arrivals[0].1, arrivals[0].2.as_slice()),
        (addr(CLIENT, 1), &b"hello"[..])
    );
}

#[test]
fn changing_the_service_policy_takes_effect_for_later_packets() {
    let mut net = Network::new(14);
    let service = addr(SERVICE, 80);
    net.add_service(service, ServiceConfig::new(ReplicaPolicy::Fixed(0)))
        .unwrap();
    let (first, second) = (addr(11, 80), addr(12, 80));
    net.add_replica(service, first, |_| Sink::default())
        .unwrap();
    net.add_replica(service, second, |_| Sink::default())
        .unwrap();
    net.inject(addr(CLIENT, 1), service, vec![1]);
    net.run_until(Instant(1));
    net.set_service_config(service, ServiceConfig::new(ReplicaPolicy::Fixed(1)))
        .unwrap();
    net.inject(addr(CLIENT, 1), service, vec![2]);
    net.run_until(Instant(2));
    assert_eq!(sink_at(&net, first).arrivals.len(), 1);
    assert_eq!(sink_at(&net, second).arrivals.len(), 1);
    assert_eq!(net.replicas(service), Some(&[first, second][..]));
}
