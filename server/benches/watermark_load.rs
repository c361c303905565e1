//! Load figures of the watermarking application in a running server on 127.0.0.1:
//!
//! - `goodput`: sequential fetches of one ~2 MB watermarked image over Trickles (UDP, the
//!   core's client) and over the HTTP/TCP baseline, when the rendering is cached (the same
//!   request again) and when it is not (a new caption each time, so each request renders),
//!   with a static file of the same length over both as the transports' reference;
//! - `memory`: 1,000 distinct clients (each from its own 127.x.y.z address, so each gets its
//!   own overlay and its own rendering) fetch an image over Trickles; the process's resident
//!   memory is reported every 100 clients, against the render cache budget.
//!
//! Run (release build; both parts when none is named):
//! `cargo bench -p trickles-server --bench watermark_load -- goodput memory`.
//! Results: `docs/WATERMARK.md`.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trickles::client::{ClientConfig, ClientConnection, ClientStatus};
use trickles_server::cli::{KeygenArgs, RunArgs};
use trickles_server::keygen::keygen;
use trickles_server::service::RunningServer;
use trickles_server::udp::worker::wall_clock;
use trickles_server::watermark::sample_image;

/// Fetches per goodput case.
const FETCHES: usize = 8;
/// Distinct clients of the memory run.
const CLIENTS: u32 = 1_000;
/// Render cache budget of the memory run, MiB.
const MEMORY_CACHE_MB: u64 = 64;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let named = |part: &str| args.iter().any(|a| a == part);
    let all = !named("goodput") && !named("memory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if all || named("goodput") {
        runtime.block_on(goodput());
    }
    if all || named("memory") {
        runtime.block_on(memory());
    }
}

/// A directory with `www/`, `images/photo.jpg` (generated) and `keys.yaml`.
fn fixture(width: u32, height: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("www")).expect("mkdir");
    std::fs::create_dir(dir.path().join("images")).expect("mkdir");
    sample_image::write_jpeg(&dir.path().join("images/photo.jpg"), width, height, 48, 7)
        .expect("source image");
    keygen(&KeygenArgs {
        output: dir.path().join("keys.yaml"),
        epoch: None,
        rotate: false,
        stage: false,
        promote: false,
        force: false,
        retire: false,
        accept_previous_for: None,
    })
    .expect("keygen");
    dir
}

fn server_args(dir: &Path, cache_mb: u64) -> RunArgs {
    let at = |name: &str| -> PathBuf { dir.join(name) };
    RunArgs {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        tcp_listen: Some("127.0.0.1:0".parse().expect("addr")),
        root: Some(at("www")),
        key_file: Some(at("keys.yaml")),
        watermark_root: Some(at("images")),
        watermark_cache_mb: Some(cache_mb),
        workers: Some(1),
        ..RunArgs::default()
    }
}

/// Fetch `request` from `server` over Trickles from a socket bound to `local`.
fn fetch_trickles(local: IpAddr, server: SocketAddr, request: &str) -> Vec<u8> {
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).expect("bind client");
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .expect("timeout");
    let mut connection = ClientConnection::new(
        wall_clock(),
        server,
        request.as_bytes().to_vec(),
        ClientConfig::default(),
        rand::random(),
    );
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut body = Vec::new();
    let (mut datagram, mut chunk) = (vec![0u8; 65_536], vec![0u8; 65_536]);
    loop {
        while let Some(transmit) = connection.poll_transmit(wall_clock()) {
            socket
                .send_to(&transmit.payload, transmit.destination)
                .expect("send");
        }
        loop {
            let n = connection.read(&mut chunk);
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        match connection.status() {
            ClientStatus::Done => return body,
            ClientStatus::Failed(e) => panic!("fetch failed: {e}"),
            _ => {}
        }
        assert!(Instant::now() < give_up, "fetch did not complete");
        if let Ok((n, from)) = socket.recv_from(&mut datagram) {
            connection.handle_datagram(wall_clock(), from, &datagram[..n]);
        }
        if connection.poll_timeout().is_some_and(|t| wall_clock() >= t) {
            connection.handle_timeout(wall_clock());
        }
    }
}

/// Fetch `request` from `server` over HTTP/1.1; the body.
fn fetch_http(server: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(server).expect("connect");
    write!(
        stream,
        "GET {request} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    assert!(response.starts_with(b"HTTP/1.1 200"), "not a 200");
    response.split_off(split + 4)
}

/// Run `fetch` for each request; print and return goodput in MB/s (total bytes / total time).
fn measure(label: &str, requests: &[String], fetch: impl Fn(&str) -> Vec<u8>) {
    let mut bytes = 0usize;
    let mut times = Vec::new();
    for request in requests {
        let start = Instant::now();
        bytes += fetch(request).len();
        times.push(start.elapsed());
    }
    let total: Duration = times.iter().sum();
    times.sort();
    println!(
        "{label:<28} {:>3} fetches  {:>6.2} MB each  median {:>7.1} ms  goodput {:>7.1} MB/s",
        requests.len(),
        bytes as f64 / requests.len() as f64 / 1e6,
        times[times.len() / 2].as_secs_f64() * 1e3,
        bytes as f64 / total.as_secs_f64() / 1e6
    );
}

async fn goodput() {
    let dir = fixture(2048, 1536);
    let server = RunningServer::start(server_args(dir.path(), 256))
        .await
        .expect("start");
    let (udp, tcp) = (server.udp_addrs()[0], server.tcp_addr().expect("tcp"));
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    println!("== goodput: one 2048x1536 source, sequential fetches from 127.0.0.1");
    let cached: Vec<String> = vec!["/wm/photo.jpg?text=cached".to_owned(); FETCHES];
    let fresh = |tag: &str| -> Vec<String> {
        (0..FETCHES)
            .map(|i| format!("/wm/photo.jpg?text={tag}-{i}"))
            .collect()
    };
    let (uncached_trickles, uncached_http) = (fresh("trickles"), fresh("http"));
    let www = dir.path().join("www");
    tokio::task::spawn_blocking(move || {
        // Warm the cache; a static file of the same length is the transports' reference.
        let length = fetch_trickles(localhost, udp, &cached[0]).len();
        let body: Vec<u8> = (0..length).map(|i| (i * 131 % 251) as u8).collect();
        std::fs::write(www.join("same-size.bin"), body).expect("write");
        let file = vec!["/same-size.bin".to_owned(); FETCHES];
        measure("trickles static file", &file, |r| {
            fetch_trickles(localhost, udp, r)
        });
        measure("trickles cached", &cached, |r| {
            fetch_trickles(localhost, udp, r)
        });
        measure("trickles uncached", &uncached_trickles, |r| {
            fetch_trickles(localhost, udp, r)
        });
        measure("http static file", &file, |r| fetch_http(tcp, r));
        measure("http cached", &cached, |r| fetch_http(tcp, r));
        measure("http uncached", &uncached_http, |r| fetch_http(tcp, r));
    })
    .await
    .expect("join");
    server.shutdown().await;
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn resident_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn memory() {
    let dir = fixture(1024, 768);
    let server = RunningServer::start(server_args(dir.path(), MEMORY_CACHE_MB))
        .await
        .expect("start");
    let udp = server.udp_addrs()[0];
    let (rss, _) = resident_mib();
    println!(
        "== memory: {CLIENTS} distinct clients, 1024x768 source, render cache {MEMORY_CACHE_MB} MiB; \
         RSS at start {rss:.1} MiB"
    );
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut bytes = 0usize;
        for n in 0..CLIENTS {
            let client = IpAddr::V4(Ipv4Addr::new(127, 1 + (n / 250) as u8, 0, 1 + (n % 250) as u8));
            bytes += fetch_trickles(client, udp, "/wm/photo.jpg?text=memory").len();
            if (n + 1) % 100 == 0 {
                let (rss, peak) = resident_mib();
                println!(
                    "clients {:>5}  distinct renderings {:>7.1} MB  RSS {rss:>7.1} MiB  peak {peak:>7.1} MiB  elapsed {:>5.1} s",
                    n + 1,
                    bytes as f64 / 1e6,
                    start.elapsed().as_secs_f64()
                );
            }
        }
    })
    .await
    .expect("join");
    server.shutdown().await;
}
