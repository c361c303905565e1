//! Mirror throughput on one core against a plain UDP forwarder, measured in the same run.
//!
//! `cargo bench -p trickles-mirror --bench forwarding [-- SECONDS] [--decision-only]`
//!
//! Each forwarder is one datapath thread pinned to CPU 0, with the same batched I/O
//! (`trickles-netfn`: recvmmsg/sendmmsg, 32 per call). A load generator pinned to CPU 1 sends
//! 160-byte datagrams (about a Trickles request) as fast as it can; the destination is a bound
//! socket nobody reads (the kernel drops what overflows it, so no sink competes for a CPU).
//!
//! - **plain**: receive a batch, send every datagram as is to the destination;
//! - **mirror**: the whole `trickles-mirror` datapath on a perfect path — parse the
//!   encapsulation header, authenticate the source, per-source token buckets and byte credit,
//!   rewrite the header, release queue, per-peer counters flushed to Prometheus;
//! - **mirror-wan**: the same on the demo's path (40 ms one-way delay, 1 % loss), so every
//!   datagram is copied into the release queue and held.
//!
//! Figures: datagrams forwarded per wall-clock second with the thread on its own core, and per
//! CPU-second of the forwarding thread (from `/proc/self/task/TID/schedstat`), which does not
//! depend on whether the generator saturates the forwarder. The ratios are mirror over plain.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles_link::LinkConfig;
use trickles_mirror::auth::{AddressPattern, Peer, PeerTable, Reach, Side};
use trickles_mirror::datapath::MirrorDatapath;
use trickles_mirror::guard::{BucketRate, GuardLimits};
use trickles_mirror::metrics::MirrorMetrics;
use trickles_mirror::wan::{QueueLimits, WanProfile};
use trickles_mirror::{Mirror, MirrorRoute, MirrorRules};
use trickles_netfn::udp::{receive, Outgoing, RecvBatch, SendBatch, WorkerGroup};
use trickles_netfn::Published;

/// Bytes of the carried datagram.
const INNER_LEN: usize = 160;

/// Pin the thread `tid` (0: the caller) to `cpu`.
fn pin(tid: libc::pid_t, cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The id of this process's thread named `name`.
fn thread_id(name: &str) -> Option<libc::pid_t> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .find_map(|entry| {
            let entry = entry.ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (comm.trim() == name)
                .then(|| entry.file_name().to_str()?.parse().ok())
                .flatten()
        })
}

/// CPU time consumed so far by thread `tid`.
fn cpu_time(tid: libc::pid_t) -> Duration {
    let stat =
        std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap_or_default();
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

/// Send `datagram` to `target` as fast as one thread on CPU 1 can, until stopped.
fn generator(
    socket: UdpSocket,
    target: SocketAddr,
    datagram: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        pin(0, 1);
        let mut send = SendBatch::new();
        let out: Vec<Outgoing<'_>> = (0..32).map(|_| Outgoing::new(target, &datagram)).collect();
        while !stop.load(Ordering::Relaxed) {
            send.send(&socket, &out);
        }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forwarder {
    Plain,
    Mirror,
    MirrorWan,
}

/// A running forwarder: how to stop it and how to read its count.
enum Running {
    Plain(WorkerGroup, Arc<AtomicU64>),
    Mirror(MirrorDatapath, MirrorMetrics),
}

impl Running {
    fn forwarded(&self) -> u64 {
        match self {
            Running::Plain(_, count) => count.load(Ordering::Relaxed),
            Running::Mirror(_, metrics) => trickles_netfn::render(&metrics.registry)
                .lines()
                .filter(|l| l.starts_with("trickles_mirror_forwarded_packets_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum(),
        }
    }

    fn stop(self) {
        match self {
            Running::Plain(group, _) => group.stop(),
            Running::Mirror(datapath, _) => datapath.stop(),
        }
    }
}

fn mirror_rules(source: SocketAddr, sink: SocketAddr, wan: bool) -> MirrorRules {
    let peer = |name: &str, addr, side| Peer {
        name: String::from(name),
        addresses: vec![AddressPattern::Exact(addr)],
        keys: vec![],
        side,
        reach: Reach::Peers,
    };
    let peers = PeerTable::new(vec![
        peer("generator", source, Side::Client),
        peer("sink", sink, Side::Server),
    ])
    .expect("peers");
    let path = if wan {
        LinkConfig {
            delay: trickles_link::time::Duration::from_millis(40),
            loss: 0.01,
            ..LinkConfig::default()
        }
    } else {
        LinkConfig::default()
    };
    MirrorRules {
        wan: WanProfile::symmetric(path),
        delay_queue: QueueLimits {
            packets: 1 << 20,
            bytes: 1 << 30,
        },
        // Limits high enough never to bite, so that their bookkeeping is measured too.
        guard: GuardLimits {
            packets: Some(BucketRate {
                per_second: 1 << 40,
                burst: 1 << 30,
            }),
            bytes: Some(BucketRate {
                per_second: 1 << 50,
                burst: 1 << 40,
            }),
            ..GuardLimits::default()
        },
        ..MirrorRules::new(peers)
    }
}

/// Forwarded datagrams per wall second and per CPU-second of the forwarding thread.
fn measure(forwarder: Forwarder, seconds: f64) -> (f64, f64) {
    let sink = trickles_netfn::udp::bind_one("127.0.0.1:0".parse().expect("addr")).expect("sink");
    let sink_addr = sink.local_addr().expect("addr");
    let source = UdpSocket::bind("127.0.0.1:0").expect("generator socket");
    let source_addr = source.local_addr().expect("addr");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let inner = vec![0x5A; INNER_LEN];
    let (running, target, datagram, thread_name) = match forwarder {
        Forwarder::Plain => {
            let count = Arc::new(AtomicU64::new(0));
            let counted = count.clone();
            let group = WorkerGroup::start("plain", any, 1, move |ctx| {
                let mut batch = RecvBatch::new();
                let mut send = SendBatch::new();
                while !ctx.stopping() {
                    if receive(&mut batch, &ctx.socket) == 0 {
                        continue;
                    }
                    let out: Vec<Outgoing<'_>> = batch
                        .iter()
                        .map(|d| Outgoing::new(sink_addr, d.payload))
                        .collect();
                    let sent = send.send(&ctx.socket, &out);
                    counted.fetch_add(sent.packets, Ordering::Relaxed);
                }
            })
            .expect("plain forwarder");
            let target = group.local_addr();
            (Running::Plain(group, count), target, inner, "plain-0")
        }
        Forwarder::Mirror | Forwarder::MirrorWan => {
            let rules = mirror_rules(source_addr, sink_addr, forwarder == Forwarder::MirrorWan);
            let metrics = MirrorMetrics::new().expect("metrics");
            let datapath = MirrorDatapath::start(
                &[any],
                1,
                Some(1),
                Arc::new(Published::new(rules)),
                &metrics,
            )
            .expect("mirror");
            let target = datapath.local_addrs()[0];
            let wrapped = MirrorRoute::new(target).wrap(sink_addr, &inner, 0);
            (
                Running::Mirror(datapath, metrics),
                target,
                wrapped,
                "mirror-0",
            )
        }
    };
    // A new thread names itself as it starts: wait for it.
    let tid = (0..100)
        .find_map(|_| {
            thread_id(thread_name).or_else(|| {
                std::thread::sleep(Duration::from_millis(10));
                None
            })
        })
        .expect("forwarding thread");
    pin(tid, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let load = generator(source, target, datagram, stop.clone());
    // Warm up (and, for the WAN path, fill the 40 ms pipeline).
    std::thread::sleep(Duration::from_millis(300));
    let (before, cpu_before, started) = (running.forwarded(), cpu_time(tid), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let forwarded = running.forwarded() - before;
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(tid) - cpu_before).as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = load.join();
    running.stop();
    drop(sink);
    (forwarded as f64 / wall, forwarded as f64 / cpu.max(1e-9))
}

/// Nanoseconds per datagram through the sans-IO [`Mirror`] (decide, hold, release, recycle),
/// without I/O, on the perfect path and on the 40 ms / 1 % path.
fn decision_cost(wan: bool) -> f64 {
    let source: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let sink: SocketAddr = "127.0.0.1:4433".parse().expect("addr");
    let mirror_addr: SocketAddr = "127.0.0.1:7000".parse().expect("addr");
    let rules = Arc::new(mirror_rules(source, sink, wan));
    let mut mirror = Mirror::new(rules, vec![mirror_addr], 1);
    let datagram = MirrorRoute::new(mirror_addr).wrap(sink, &[0x5A; INNER_LEN], 0);
    let mut released = Vec::new();
    let rounds = 2_000_000u64;
    let started = Instant::now();
    for i in 0..rounds {
        // One datagram per microsecond of virtual time.
        let now = trickles_link::time::Instant(i);
        let _ = mirror.on_datagram(now, 0, source, std::hint::black_box(&datagram));
        mirror.release_due(now, &mut released);
        for sent in released.drain(..) {
            mirror.recycle(sent.datagram);
        }
        if i % 32 == 0 {
            std::hint::black_box(mirror.take_counters());
        }
    }
    started.elapsed().as_nanos() as f64 / rounds as f64
}

fn main() {
    // `cargo bench` passes `--bench`; a number sets the seconds per measurement.
    let seconds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(3.0);
    println!(
        "Mirror::on_datagram + release: {:.0} ns per datagram (perfect path), {:.0} ns (40 ms, 1 % loss)",
        decision_cost(false),
        decision_cost(true)
    );
    if std::env::args().any(|a| a == "--decision-only") {
        return;
    }
    let kinds = [Forwarder::Plain, Forwarder::Mirror, Forwarder::MirrorWan];
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); kinds.len()];
    // Alternate, so that drift (other load on the machine) hits every forwarder alike.
    for _ in 0..2 {
        for (i, kind) in kinds.iter().enumerate() {
            results[i].push(measure(*kind, seconds));
        }
    }
    let best = |runs: &[(f64, f64)]| {
        runs.iter()
            .fold((0.0f64, 0.0f64), |(w, c), &(rw, rc)| (w.max(rw), c.max(rc)))
    };
    let (plain_wall, plain_cpu) = best(&results[0]);
    let names = [
        "plain UDP forwarder",
        "trickles-mirror (perfect path)",
        "trickles-mirror (40 ms, 1 % loss)",
    ];
    println!("{INNER_LEN}-byte datagrams, one forwarding thread on its own core, batches of 32");
    for (name, runs) in names.iter().zip(&results) {
        let (wall, cpu) = best(runs);
        println!(
            "{name:<34} {wall:>10.0} datagrams/s  {cpu:>10.0} per CPU-second  \
             ratio to plain {:.2} (wall) {:.2} (CPU)",
            wall / plain_wall.max(1.0),
            cpu / plain_cpu.max(1.0),
        );
    }
}
