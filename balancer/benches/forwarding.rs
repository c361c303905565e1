//! Balancer throughput on one core against a plain UDP forwarder, measured in the same run.
//!
//! `cargo bench -p trickles-balancer --bench forwarding [-- SECONDS]` (per run; 5 pairs of runs)
//!
//! Both forwarders use the same batched I/O of `trickles-netfn` (recvmmsg/sendmmsg, 32 per call)
//! on one thread pinned to CPU 0; a load generator and the three backend sinks run pinned to
//! the other CPU. The plain forwarder sends each datagram as is to the backends in turn; the
//! balancer runs its whole datapath (table subscription, `decide` with Maglev on the connection
//! id, encapsulation header, per-backend counters flushed to Prometheus). The figure is
//! datagrams delivered to the sinks per second; the ratio (median over five back-to-back pairs)
//! is the balancer's cost over plain forwarding. It also prints the pure decision cost (ns per datagram), the cost of
//! writing and of checking a hop tag (a pool key, `docs/NETWORK-FUNCTIONS.md` §2.4) and the
//! Maglev build time for 100 and 1000 backends.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles_balancer::core::{
    decide, ForwardingMode, ForwardingTable, MaglevBackend, MaglevTable, Policy, Spray,
    TableBackend,
};
use trickles_balancer::datapath;
use trickles_balancer::metrics::BalancerMetrics;
use trickles_netfn::udp::{receive, Outgoing, RecvBatch, SendBatch, WorkerGroup};
use trickles_netfn::Published;

/// Size of the generated datagrams: about a Trickles REQUEST (continuation + one SACK block).
const DATAGRAM_LEN: usize = 160;
/// Distinct connection ids the generator cycles through.
const CONNECTIONS: u64 = 4096;

fn pin_to_cpu(cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn table(backends: &[SocketAddr]) -> ForwardingTable {
    let backends = backends
        .iter()
        .enumerate()
        .map(|(i, address)| TableBackend {
            name: format!("r{i}"),
            address: *address,
            weight: 1,
            up: true,
            drained: false,
        })
        .collect();
    ForwardingTable::build(backends, Policy::Maglev, ForwardingMode::Relay, 65_537).expect("table")
}

fn datagram(conn_id: u64) -> Vec<u8> {
    let mut d = vec![0u8; DATAGRAM_LEN];
    d[0] = 1;
    d[1] = 2;
    d[2..10].copy_from_slice(&conn_id.to_be_bytes());
    d
}

/// Nanoseconds per `decide` call, without I/O.
fn decision_cost() -> f64 {
    let backends: Vec<SocketAddr> = (0..3)
        .map(|i| format!("127.0.0.1:{}", 7000 + i).parse().expect("addr"))
        .collect();
    let table = table(&backends);
    let mut spray = Spray::new(&table);
    let from: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let datagrams: Vec<Vec<u8>> = (0..CONNECTIONS).map(datagram).collect();
    let rounds = 2_000_000u64;
    let started = Instant::now();
    let mut checksum = 0u64;
    for i in 0..rounds {
        let d = &datagrams[(i % CONNECTIONS) as usize];
        if let trickles_balancer::core::Verdict::Forward { backend, .. } =
            decide(std::hint::black_box(d), from, &table, &mut spray)
        {
            checksum = checksum.wrapping_add(u64::from(backend));
        }
    }
    std::hint::black_box(checksum);
    started.elapsed().as_nanos() as f64 / rounds as f64
}

/// Nanoseconds to write a tagged header (IPv6 client, the worst case) and to check it.
fn hop_tag_cost() -> (f64, f64) {
    use trickles_netfn::encap::{EncapPacket, EncapRepr};
    use trickles_netfn::hop_auth::{self, Direction, TAGGED_HEADER_MAX};
    let key = trickles_netfn::PoolKey(
        trickles_netfn::AuthKey::from_hex(1, "000102030405060708090a0b0c0d0e0f").expect("key"),
    );
    let vip: SocketAddr = "[2001:2::1]:4433".parse().expect("addr");
    let repr = EncapRepr::new("[2001:2::7]:40000".parse().expect("addr"));
    let rounds = 1_000_000u32;
    let mut head = [0u8; TAGGED_HEADER_MAX];
    let started = Instant::now();
    for i in 0..rounds {
        let len = hop_auth::sign_header(
            std::hint::black_box(&repr),
            None,
            vip,
            Direction::ToReplica,
            &key,
            1_764_806_400 + (i & 1),
            &mut head,
        );
        std::hint::black_box(len);
    }
    let sign = started.elapsed().as_nanos() as f64 / f64::from(rounds);
    let len = hop_auth::sign_header(
        &repr,
        None,
        vip,
        Direction::ToReplica,
        &key,
        1_764_806_400,
        &mut head,
    )
    .expect("fits");
    let started = Instant::now();
    let mut accepted = 0u32;
    for _ in 0..rounds {
        let wire = std::hint::black_box(&head[..len]);
        let packet = EncapPacket::new_checked(wire).expect("header");
        let (parsed, via, _) = EncapRepr::parse_with_via(wire).expect("parse");
        if hop_auth::check(
            &packet,
            &parsed,
            via,
            vip,
            Direction::ToReplica,
            &key,
            1_764_806_400,
        )
        .is_ok()
        {
            accepted += 1;
        }
    }
    let check = started.elapsed().as_nanos() as f64 / f64::from(rounds);
    assert_eq!(accepted, rounds);
    (sign, check)
}

fn maglev_build(backends: usize) -> Duration {
    let pool: Vec<MaglevBackend> = (0..backends)
        .map(|i| MaglevBackend {
            name: format!("replica-{i:04}"),
            weight: 1,
        })
        .collect();
    let runs = 5;
    let started = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(MaglevTable::build(&pool, 65_537).expect("build"));
    }
    started.elapsed() / runs
}

/// Backends that count what they receive, on one thread.
struct Sinks {
    addrs: Vec<SocketAddr>,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sinks {
    fn start(count: usize) -> Sinks {
        let sockets: Vec<UdpSocket> = (0..count)
            .map(|_| {
                let s = trickles_netfn::udp::bind_one("127.0.0.1:0".parse().expect("addr"))
                    .expect("sink");
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect();
        let addrs = sockets
            .iter()
            .map(|s| s.local_addr().expect("addr"))
            .collect();
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counter, flag) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            pin_to_cpu(1);
            let mut batch = RecvBatch::with_slot_len(2048);
            while !flag.load(Ordering::Relaxed) {
                let mut got = 0;
                for socket in &sockets {
                    if let Ok(n) = batch.recv(socket) {
                        got += n;
                    }
                }
                if got == 0 {
                    std::thread::yield_now();
                }
                counter.fetch_add(got as u64, Ordering::Relaxed);
            }
        });
        Sinks {
            addrs,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Send to `target` as fast as one thread can until stopped.
fn generator(target: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        pin_to_cpu(1);
        let socket = UdpSocket::bind("127.0.0.1:0").expect("generator");
        let datagrams: Vec<Vec<u8>> = (0..CONNECTIONS).map(datagram).collect();
        let mut send = SendBatch::new();
        let mut next = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let out: Vec<Outgoing<'_>> = (0..32)
                .map(|i| Outgoing::new(target, &datagrams[(next + i) % datagrams.len()]))
                .collect();
            next = (next + 32) % datagrams.len();
            send.send(&socket, &out);
        }
    })
}

#[derive(Clone, Copy, Debug)]
enum Forwarder {
    Plain,
    Balancer,
}

/// Datagrams per second delivered to the sinks through `forwarder`.
fn measure(forwarder: Forwarder, seconds: f64) -> f64 {
    let sinks = Sinks::start(3);
    let backends = sinks.addrs.clone();
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let group = match forwarder {
        Forwarder::Plain => WorkerGroup::start("plain", any, 1, move |ctx| {
            pin_to_cpu(0);
            let mut batch = RecvBatch::new();
            let mut send = SendBatch::new();
            let mut next = 0usize;
            while !ctx.stopping() {
                if receive(&mut batch, &ctx.socket) == 0 {
                    continue;
                }
                let out: Vec<Outgoing<'_>> = batch
                    .iter()
                    .map(|d| {
                        next = (next + 1) % backends.len();
                        Outgoing::new(backends[next], d.payload)
                    })
                    .collect();
                send.send(&ctx.socket, &out);
            }
        }),
        Forwarder::Balancer => {
            let published = Arc::new(Published::new(table(&backends)));
            let metrics = BalancerMetrics::new().expect("metrics");
            // No controller: what the datapath would tell it is dropped.
            let (control, _) = tokio::sync::mpsc::unbounded_channel();
            WorkerGroup::start("balancer", any, 1, move |ctx| {
                pin_to_cpu(0);
                datapath::run(ctx, published.clone(), metrics.clone(), control.clone())
            })
        }
    }
    .expect("forwarder");
    let stop = Arc::new(AtomicBool::new(false));
    let load = generator(group.local_addr(), stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    let before = sinks.received.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let delivered = sinks.received.load(Ordering::Relaxed) - before;
    let rate = delivered as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = load.join();
    group.stop();
    sinks.stop();
    rate
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    // `cargo bench` passes `--bench`; a number sets the seconds per measurement.
    let seconds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(2.0);
    println!(
        "decide(): {:.1} ns per datagram (Maglev, 3 backends)",
        decision_cost()
    );
    let (sign, check) = hop_tag_cost();
    println!(
        "hop tag (pool key), IPv6 client: {sign:.1} ns to write a tagged header, {check:.1} ns to parse and check one"
    );
    for n in [100, 1000] {
        println!(
            "Maglev build, M = 65537, {n} backends: {:.2} ms",
            maglev_build(n).as_secs_f64() * 1e3
        );
    }
    let pairs = 5;
    let mut plain = Vec::new();
    let mut balancer = Vec::new();
    let mut ratios = Vec::new();
    // Alternate the two, pair by pair, so drift (other load on the machine) hits both alike;
    // the ratio of each pair is taken before the median.
    for _ in 0..pairs {
        let p = measure(Forwarder::Plain, seconds);
        let b = measure(Forwarder::Balancer, seconds);
        plain.push(p);
        balancer.push(b);
        ratios.push(b / p.max(1.0));
    }
    let rounded = |v: &[f64]| v.iter().map(|r| r.round()).collect::<Vec<_>>();
    println!(
        "plain UDP forwarder: median {:.0} datagrams/s ({} B, one core, batches of 32; runs {:?})",
        median(&plain),
        DATAGRAM_LEN,
        rounded(&plain)
    );
    println!(
        "trickles-balancer datapath: median {:.0} datagrams/s (Maglev + encapsulation; runs {:?})",
        median(&balancer),
        rounded(&balancer)
    );
    println!(
        "balancer / plain, median of {pairs} paired runs = {:.2} (pairs {:?})",
        median(&ratios),
        ratios
            .iter()
            .map(|r| (r * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
}
