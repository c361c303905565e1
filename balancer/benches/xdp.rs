//! The XDP datapath's benchmarks (not tests; root, and a binary built with clang).
//!
//! `cargo bench -p trickles-balancer --bench xdp [-- [FRAMES] [veth|fixtures]]` (FRAMES per
//! round, default 2,000,000; nine rounds; `veth` or `fixtures` runs only that part)
//!
//! 1. **ns per packet, per fixture**: every frame of the fixture table
//!    (`tests/it/support/xdp_fixtures.rs`) through the balancer's program by program test-run
//!    (`BPF_PROG_TEST_RUN`), next to the forward-only program (swap the MACs, `XDP_TX`) and
//!    the empty program (`XDP_PASS`) on the same frame: the median of single runs, because a
//!    run repeated within one call sees the frame the previous run rewrote. Each single run's
//!    time includes the kernel's two clock reads, which the empty program's time shows.
//! 2. **packets per second through a veth pair**, three datapaths in the same run: the
//!    forward-only program, the balancer's program, and the userspace datapath (one worker
//!    thread, pinned to the other CPU; `pass_xdp` on the balancer's veth hands it the frames).
//!    The generator is the kernel's own: the program `generate_xdp` run by program test-run in
//!    live-frames mode on the other veth of the pair rewrites each frame from a template and
//!    sends it (`XDP_TX`) into the balancer's veth; what the datapath under test sends back is
//!    counted where `drop_xdp`, attached to the generator's veth, drops it. The rate is frames
//!    back over the injection time, median over the rounds (all of it runs in the generating
//!    CPU's softirq, generator and sink included, as on any veth); the ratios are the figures:
//!    balancer XDP / forward-only (goal ≥ 0.8) and balancer XDP / userspace.
//!
//! Addresses from 198.18.0.0/15; the two namespaces are deleted at the end (and on a panic).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../tests/it/support/xdp_fixtures/mod.rs"]
mod xdp_fixtures;

use aya::programs::XdpMode;
use trickles_balancer::core::{ForwardingMode, ForwardingTable, Policy, TableBackend};
use trickles_balancer::datapath;
use trickles_balancer::metrics::BalancerMetrics;
use trickles_balancer::xdp::object::{
    BALANCER_PROGRAM, DROP_PROGRAM, FORWARD_ONLY_PROGRAM, GENERATE_PROGRAM, PASS_PROGRAM,
};
use trickles_balancer::xdp::privileges::check_this_process;
use trickles_balancer::xdp::XdpBalancer;
use trickles_netfn::{Published, WorkerGroup};
use trickles_testkit::namespace::Namespace;
use xdp_fixtures::{fixtures, frame, request, table, Family, GATEWAY_MAC, OUR_MAC};

/// Single runs per fixture and program: the kernel times each; the median is reported (a run
/// repeated in one call would see the frame it rewrote the time before).
const RUNS: usize = 5_000;
const ROUNDS: usize = 9;

fn main() {
    let frames: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    if let Err(e) = check_this_process() {
        println!("skipped: the XDP benchmarks need root: {e}");
        return;
    }
    let xdp = match XdpBalancer::load() {
        Ok(xdp) => xdp,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let only = |part: &str| {
        let parts: Vec<String> = std::env::args().skip(1).collect();
        !parts.iter().any(|p| p == "veth" || p == "fixtures") || parts.iter().any(|p| p == part)
    };
    if only("fixtures") {
        per_fixture(xdp);
    }
    if only("veth") {
        through_veth(frames);
    }
}

fn action_name(action: u32) -> &'static str {
    ["aborted", "drop", "pass", "tx", "redirect"]
        .get(action as usize)
        .copied()
        .unwrap_or("?")
}

fn per_fixture(mut xdp: XdpBalancer) {
    let vips = [Family::V4.addresses().vip, Family::V6.addresses().vip];
    xdp.set_vips(&vips).expect("vips");
    xdp.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
    println!(
        "ns per packet by program test-run (median of {RUNS} single runs; relay mode, 3 backends)"
    );
    println!(
        "(each single run is timed by the kernel with its own clock reads: the empty program's \
         time is that floor; a program's own cost is its time minus the floor)"
    );
    println!(
        "{:<60} {:>8} {:>10} {:>13} {:>11}",
        "fixture", "verdict", "balancer", "forward-only", "empty"
    );
    let mut out = vec![0u8; 4096];
    for family in [Family::V4, Family::V6] {
        xdp.publish(&table(family, ForwardingMode::Relay, [true; 3]))
            .expect("publish");
        for fixture in fixtures(family) {
            let mut time = |program: &str| {
                let mut action = 0;
                let samples: Vec<f64> = (0..RUNS)
                    .map(|_| {
                        let run = xdp
                            .test_run_program(program, &fixture.frame, &mut out, 1)
                            .expect("test run");
                        action = run.action;
                        run.duration.as_secs_f64() * 1e9
                    })
                    .collect();
                (action, median(samples))
            };
            let (action, ns) = time(BALANCER_PROGRAM);
            let (_, base) = time(FORWARD_ONLY_PROGRAM);
            let (_, floor) = time(PASS_PROGRAM);
            println!(
                "{:<60} {:>8} {:>7.0} ns {:>10.0} ns {:>8.0} ns",
                fixture.name,
                action_name(action),
                ns,
                base,
                floor
            );
        }
    }
    println!();
}

fn pin_to_cpu(cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

const VIP: &str = "198.18.0.1:4433";
/// The generator's address: the userspace datapath's backends are there, so its datagrams
/// come back to the generator's side too.
const SINK_IP: &str = "198.18.0.2";

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Backends on the generator's address.
fn veth_table() -> ForwardingTable {
    let backends = (0..3)
        .map(|i| TableBackend {
            name: format!("r{i}"),
            address: format!("{SINK_IP}:{}", 5001 + i).parse().expect("addr"),
            weight: 1,
            up: true,
            drained: false,
        })
        .collect();
    ForwardingTable::build(backends, Policy::Maglev, ForwardingMode::Relay, 65_537).expect("table")
}

/// Frames the generator's attached program has dropped so far (all receive queues).
fn sink_count(generator: &Namespace) -> u64 {
    let stats = generator
        .exec("ethtool", &["-S", "gen0"])
        .expect("ethtool -S");
    stats
        .lines()
        .filter(|l| l.trim_start().starts_with("rx_queue_") && l.contains("_xdp_drops:"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse::<u64>().ok())
        .sum()
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).expect("name");
    // SAFETY: a valid C string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn through_veth(frames: u32) {
    let lb = Namespace::create("xdpbench-lb").expect("namespace");
    let generator = Namespace::create("xdpbench-gen").expect("namespace");
    trickles_testkit::command_line::run(
        "ip",
        &[
            "link",
            "add",
            "lb0",
            "netns",
            lb.name(),
            "address",
            &mac(OUR_MAC),
            "type",
            "veth",
            "peer",
            "name",
            "gen0",
            "netns",
            generator.name(),
            "address",
            &mac(GATEWAY_MAC),
        ],
    )
    .expect("veth pair");
    lb.ip(&["address", "add", "198.18.0.1/24", "dev", "lb0"])
        .expect("ip");
    generator
        .ip(&["address", "add", "198.18.0.2/24", "dev", "gen0"])
        .expect("ip");
    lb.ip(&["link", "set", "lb0", "up"]).expect("ip");
    generator.ip(&["link", "set", "gen0", "up"]).expect("ip");
    // The generator's side drops everything, ARP included: its address is resolved statically.
    lb.ip(&[
        "neigh",
        "add",
        SINK_IP,
        "lladdr",
        &mac(GATEWAY_MAC),
        "dev",
        "lb0",
    ])
    .expect("ip");

    let vip: SocketAddr = VIP.parse().expect("vip");
    let frame = frame(
        Family::V4.addresses().client,
        vip,
        &request(0x1234_5678, 160),
    );
    let table = veth_table();
    // The generator: its program rewrites and sends the frame, its attached program counts
    // what comes back (as the veth's xdp_drops).
    let source = generator
        .handle()
        .run_inside(|| {
            let mut p = XdpBalancer::load().expect("load");
            p.attach_program(DROP_PROGRAM, "gen0", XdpMode::Driver)
                .expect("attach the sink");
            p.set_generated_frame(&frame).expect("template");
            p
        })
        .expect("generator namespace");
    let published = Arc::new(Published::new(table.clone()));
    let metrics = BalancerMetrics::new().expect("metrics");
    // No controller: what the datapath would tell it is dropped.
    let (control, _) = tokio::sync::mpsc::unbounded_channel();
    let group = lb
        .handle()
        .run_inside(|| {
            let (published, metrics) = (published.clone(), metrics.clone());
            WorkerGroup::start("balancer", vip, 1, move |ctx| {
                pin_to_cpu(1);
                datapath::run(ctx, published.clone(), metrics.clone(), control.clone())
            })
            .expect("userspace datapath")
        })
        .expect("balancer namespace");

    let names = ["forward-only XDP", "balancer XDP", "userspace balancer"];
    let programs = [FORWARD_ONLY_PROGRAM, BALANCER_PROGRAM, PASS_PROGRAM];
    let mut rates: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    pin_to_cpu(0);
    for _ in 0..ROUNDS {
        for (i, program) in programs.into_iter().enumerate() {
            // The datapath under test on the balancer's side of the pair.
            let _front = lb
                .handle()
                .run_inside(|| {
                    let mut p = XdpBalancer::load().expect("load");
                    p.set_vips(&[vip]).expect("vips");
                    p.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
                    p.publish(&table).expect("publish");
                    p.attach_program(program, "lb0", XdpMode::Driver)
                        .expect("attach");
                    p
                })
                .expect("balancer namespace");
            let (before, took) = generator
                .handle()
                .run_inside(|| {
                    pin_to_cpu(0);
                    let before = sink_count(&generator);
                    let took = source
                        .run_live(GENERATE_PROGRAM, &frame, ifindex("gen0"), frames)
                        .expect("live run");
                    (before, took)
                })
                .expect("generator namespace");
            if program == PASS_PROGRAM {
                // Let the worker drain its socket (bounded).
                std::thread::sleep(Duration::from_millis(300));
            }
            let delivered = sink_count(&generator) - before;
            rates[i].push(delivered as f64 / took.as_secs_f64());
        }
    }
    group.stop();
    drop(source);

    let medians: Vec<f64> = rates.iter().map(|r| median(r.clone())).collect();
    println!(
        "packets/s through a veth pair ({frames} frames of {} bytes injected per round, \
         median of {ROUNDS} rounds; frames counted back at the generator's side)",
        frame.len()
    );
    for (name, (m, all)) in names.iter().zip(medians.iter().zip(&rates)) {
        let all: Vec<String> = all.iter().map(|r| format!("{:.2}", r / 1e6)).collect();
        println!(
            "{name:<20} {:>8.3} Mpps   rounds: {}",
            m / 1e6,
            all.join(" ")
        );
    }
    println!(
        "balancer XDP / forward-only XDP = {:.2}; balancer XDP / userspace = {:.1}x",
        medians[1] / medians[0],
        medians[1] / medians[2]
    );
}
