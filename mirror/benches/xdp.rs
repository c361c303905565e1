//! The mirror's XDP program, ns per packet (not a test; root, and a binary built with clang).
//!
//! `cargo bench -p trickles-mirror --bench xdp`
//!
//! A few frames (a client's datagram to a server peer, the same tagged with a 1,200-byte
//! datagram, a refused one) through the program by program test-run, the median of 5,000 single
//! runs each, next to the empty program (`pass_xdp`), whose time is the timer's floor: a
//! program's own cost is its time minus the floor. The tagged frame shows what verifying a
//! SipHash-2-4 tag over the whole datagram costs in XDP.

use std::net::SocketAddr;

use trickles_mirror::xdp::program::PASS_PROGRAM;
use trickles_mirror::xdp::XdpMirror;
use trickles_mirror::MirrorSettings;
use trickles_netfn::encap::EncapRepr;
use trickles_netfn::mirror_auth::{AuthKey, AuthOption};
use trickles_netfn::ConfigSource;
use trickles_testkit::frames::{frame, GATEWAY_MAC};
use trickles_xdp::privileges::check_this_process;

const RUNS: usize = 5_000;

/// Builds the `i`-th frame of a case.
type FrameMaker<'a> = Box<dyn Fn(usize) -> Vec<u8> + 'a>;

const CONFIG: &str = "\
listen: [\"198.18.5.1:7000\"]
peers:
  - name: clients
    addresses: [\"198.18.1.0/24\"]
    side: client
  - name: vip
    addresses: [\"198.18.0.1:4433\"]
    side: server
  - name: laptop
    addresses: [\"198.18.9.0/24\"]
    keys: [{ id: 1, secret: \"000102030405060708090a0b0c0d0e0f\" }]
    side: client
";

fn sa(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if let Err(e) = check_this_process() {
        println!("skipped: the XDP benchmark needs root: {e}");
        return;
    }
    let mut xdp = match XdpMirror::load() {
        Ok(xdp) => xdp,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let settings = MirrorSettings::from_source(&ConfigSource::from_text("mirror.yaml", CONFIG))
        .expect("config");
    xdp.set_locals(&settings.listen).expect("locals");
    xdp.set_gateway(Some(GATEWAY_MAC)).expect("gateway");
    xdp.publish(&settings.rules).expect("publish");
    let (mirror, vip) = (sa("198.18.5.1:7000"), sa("198.18.0.1:4433"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let key = AuthKey::from_hex(1, "000102030405060708090a0b0c0d0e0f").expect("key");
    let tagged = |inner: &[u8]| {
        let mut bytes = EncapRepr::new(vip).encapsulate(inner);
        let base = bytes[5] as usize;
        let option = AuthOption::sign(&key, now as u32, 0, vip, inner).to_bytes();
        bytes.splice(base..base, option);
        bytes[5] += option.len() as u8;
        bytes
    };
    let inner = vec![0x5Au8; 1200];
    // Each source sends one datagram per run: its guard slot would refuse after the burst, so
    // every run uses the next source of the prefix.
    let cases: Vec<(&str, FrameMaker)> = vec![
        (
            "client → server, 1,200 bytes",
            Box::new(|i| {
                frame(
                    sa(&format!("198.18.1.{}:{}", 1 + i % 250, 40000 + i / 250)),
                    mirror,
                    &EncapRepr::new(vip).encapsulate(&inner),
                )
            }),
        ),
        (
            "tagged, 1,200 bytes (SipHash-2-4)",
            Box::new(|i| {
                frame(
                    sa(&format!("198.18.9.{}:{}", 1 + i % 250, 40000 + i / 250)),
                    mirror,
                    &tagged(&inner),
                )
            }),
        ),
        (
            "unknown source (refused)",
            Box::new(|_| {
                frame(
                    sa("198.18.7.7:40000"),
                    mirror,
                    &EncapRepr::new(vip).encapsulate(&inner),
                )
            }),
        ),
    ];
    println!("ns per packet by program test-run (median of {RUNS} single runs)");
    println!("{:<40} {:>10} {:>8}", "frame", "mirror", "empty");
    let mut out = vec![0u8; 4096];
    for (name, make) in &cases {
        let frames: Vec<Vec<u8>> = (0..RUNS).map(make).collect();
        let mut time = |program: Option<&str>| {
            let samples: Vec<f64> = frames
                .iter()
                .map(|f| {
                    let run = match program {
                        None => xdp.test_run(f, &mut out),
                        Some(p) => xdp.test_run_program(p, f, &mut out),
                    }
                    .expect("test run");
                    run.duration.as_secs_f64() * 1e9
                })
                .collect();
            median(samples)
        };
        let ns = time(None);
        let floor = time(Some(PASS_PROGRAM));
        println!("{name:<40} {ns:>7.0} ns {floor:>5.0} ns");
    }
}
