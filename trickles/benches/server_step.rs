//! Micro-benchmarks of the server's per-packet path on one core:
//! - `continuation/seal+open`: sealing a typical continuation and opening it again (the MAC work
//!   every request costs; target ≤ 100 ns);
//! - `server/request`: a whole `handle_datagram` for a valid request (parse, MAC, freshness,
//!   proof nonces, replay filter, closed-form step, building and sealing the released packets,
//!   reading their data), as requests per second;
//! - baseline `udp-echo-work/copy`: copying a request and a response-sized buffer, the floor any
//!   userspace responder pays, measured in the same run so the ratio means something.
//!
//! The requests are captured from a real (simulated, lossless) transfer, then replayed against
//! fresh endpoints that share the key: exactly what a replica pool does.

use std::net::SocketAddr;
use std::time::Instant as WallInstant;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use trickles::app::MemoryApplication;
use trickles::client::{ClientConfig, ClientConnection, ClientStatus};
use trickles::crypto::{Key, KeyRing};
use trickles::server::seal::{open, pseudo_header, seal};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::continuation::{Continuation, SealedContinuation};
use trickles::wire::ContState;

const T0: Instant = Instant(1_700_000_000_000_000);

fn app(len: usize) -> MemoryApplication {
    let mut app = MemoryApplication::new();
    app.insert("/bench.bin", (0..len).map(|i| i as u8).collect());
    app
}

fn endpoint(len: usize) -> ServerEndpoint<MemoryApplication> {
    ServerEndpoint::new(
        ServerConfig::default(),
        KeyRing::new(Key::from_secret(1, &[5u8; 32])),
        app(len),
        1,
    )
}

/// Every request datagram a client sends during a lossless transfer of `len` bytes.
fn capture_requests(len: usize) -> Vec<Vec<u8>> {
    let client_addr: SocketAddr = "198.18.0.2:40000".parse().unwrap();
    let server_addr: SocketAddr = "198.18.0.1:4433".parse().unwrap();
    let mut server = endpoint(len);
    let mut client = ClientConnection::new(
        T0,
        server_addr,
        b"/bench.bin".to_vec(),
        ClientConfig::default(),
        1,
    );
    let mut requests = Vec::new();
    let mut now = T0;
    let mut buf = vec![0u8; 1 << 16];
    for _ in 0..10_000_000 {
        now = now + Duration(1);
        let mut to_server = Vec::new();
        while let Some(t) = client.poll_transmit(now) {
            to_server.push(t.payload);
        }
        if to_server.is_empty() {
            break;
        }
        for d in to_server {
            let mut out = Vec::new();
            let _ = server.handle_datagram(now, client_addr, &d, &mut out);
            requests.push(d);
            for t in out {
                client.handle_datagram(now, server_addr, &t.payload);
            }
        }
        while client.read(&mut buf) > 0 {}
    }
    assert_eq!(client.status(), ClientStatus::Done);
    requests.remove(0); // the HELLO
    requests
}

fn bench_seal_open(c: &mut Criterion) {
    let key = Key::from_secret(1, &[5u8; 32]);
    let keys = KeyRing::new(key.clone());
    let client: SocketAddr = "198.18.0.2:40000".parse().unwrap();
    let pseudo = pseudo_header(9, client);
    let cont = Continuation {
        epoch: 1,
        state: ContState::Normal,
        seq: 1234,
        timestamp: T0.micros(),
        mrtt: 20_000,
        tcp_base: 1000,
        start_cwnd: 10,
        ssthresh: 10,
        first_loss: 0,
        first_bootstrap_seq: 0,
        token_base: 77,
        data_base: 1,
        start_offset: 0,
        total_len: 1 << 30,
        mss: 1200,
        window_cap: 8191,
        ucont: b"/static/index.html",
    };
    let mut body = Vec::with_capacity(160);
    cont.emit_body(&mut body);
    let tag = seal(&key, &pseudo, &body);
    let mut sealed_bytes = body.clone();
    sealed_bytes.extend_from_slice(&tag);
    let mut g = c.benchmark_group("continuation");
    g.bench_function("seal+open", |b| {
        b.iter(|| {
            let t = seal(&key, &pseudo, black_box(&body));
            let sealed = SealedContinuation::parse(black_box(&sealed_bytes)).unwrap();
            black_box(t);
            open(&keys, Instant(0), &pseudo, &sealed).unwrap();
        })
    });
    g.finish();
}

fn bench_server_requests(c: &mut Criterion) {
    let len = 16 << 20;
    let requests = capture_requests(len);
    let client_addr: SocketAddr = "198.18.0.2:40000".parse().unwrap();
    let mut g = c.benchmark_group("server");
    g.throughput(Throughput::Elements(requests.len() as u64));
    g.sample_size(10);
    g.bench_function("request", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let mut server = endpoint(len);
                let mut out = Vec::with_capacity(8);
                let start = WallInstant::now();
                for r in &requests {
                    out.clear();
                    let _ = black_box(server.handle_datagram(
                        T0 + Duration(5_000),
                        client_addr,
                        r,
                        &mut out,
                    ));
                }
                total += start.elapsed();
            }
            total
        })
    });
    // Baseline: the unavoidable copy work of a userspace responder (read a request, write a
    // full-size response), same count.
    let response = vec![0u8; 1347];
    g.bench_function("udp-echo-work/copy", |b| {
        b.iter(|| {
            let mut sink = 0u64;
            for r in &requests {
                let mut copy = Vec::with_capacity(r.len() + response.len());
                copy.extend_from_slice(black_box(r));
                copy.extend_from_slice(black_box(&response));
                sink = sink.wrapping_add(copy[copy.len() - 1] as u64);
            }
            black_box(sink)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_seal_open, bench_server_requests);
criterion_main!(benches);
