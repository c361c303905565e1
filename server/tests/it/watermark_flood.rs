//! Claims about a flood of watermark HELLOs (each asking for a new rendering, as spoofed ones
//! would) against a running server with two UDP workers, over 127.0.0.1 and ::1: the workers
//! never render, so a static file's first byte still comes at once (it used to wait seconds
//! behind renderings on the workers), and the watermark itself is still served to a client of
//! another network (each source prefix has a budget of renderings).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::dir_with_root_and_keys;
use trickles::wire::{Header, HelloRepr, PacketType};
use trickles_server::cli::RunArgs;
use trickles_server::service::RunningServer;
use trickles_server::watermark::sample_image;
use trickles_testkit::{fetch_with_core, ClientPath};

/// First-byte bound for the static file during the flood: far above the few milliseconds it
/// takes on an idle debug build, far below the seconds a worker busy rendering took.
const FIRST_BYTE_LIMIT: Duration = Duration::from_millis(750);

fn loopbacks() -> Vec<SocketAddr> {
    let mut addrs = vec!["127.0.0.1:0".parse().expect("v4")];
    if UdpSocket::bind("[::1]:0").is_ok() {
        addrs.push("[::1]:0".parse().expect("v6"));
    }
    addrs
}

fn socket_for(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind(if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    })
    .expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    socket
}

fn hello(conn_id: u64, request: &str) -> Vec<u8> {
    HelloRepr {
        conn_id,
        resume_offset: 0,
        receive_window: 1 << 20,
        request: request.as_bytes(),
    }
    .emit(1400)
}

/// Time from a HELLO for `/file.bin` to the first RESPONSE (bounded by 10 s).
fn static_first_byte(server: SocketAddr, conn_id: u64) -> Duration {
    let socket = socket_for(server);
    let started = Instant::now();
    socket
        .send_to(&hello(conn_id, "/file.bin"), server)
        .expect("send");
    let mut buf = vec![0u8; 65_536];
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            if matches!(Header::parse(&buf[..n]), Ok((h, _)) if h.packet_type == PacketType::Response)
            {
                return started.elapsed();
            }
        }
    }
    Duration::from_secs(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_first_byte_stays_fast_while_watermark_hellos_flood_the_server() {
    let dir = dir_with_root_and_keys();
    std::fs::write(dir.path().join("www/file.bin"), vec![9u8; 100_000]).expect("file");
    std::fs::create_dir(dir.path().join("images")).expect("mkdir");
    sample_image::write_jpeg(&dir.path().join("images/photo.jpg"), 1600, 1200, 48, 7)
        .expect("source image");
    let args = RunArgs {
        listen: loopbacks(),
        root: Some(dir.path().join("www")),
        key_file: Some(dir.path().join("keys.yaml")),
        watermark_root: Some(dir.path().join("images")),
        workers: Some(2),
        ..RunArgs::default()
    };
    let server = RunningServer::start(args).await.expect("start");
    let addrs = server.udp_addrs().to_vec();

    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let (addrs, flooding) = (addrs.clone(), flooding.clone());
        std::thread::spawn(move || {
            let sockets: Vec<_> = (0..8).map(|i| socket_for(addrs[i % addrs.len()])).collect();
            // 50 HELLOs a second, each for a rendering nobody asked for before; bounded.
            for i in 0..1_000u64 {
                if !flooding.load(Ordering::Relaxed) {
                    break;
                }
                let target = addrs[i as usize % addrs.len()];
                let socket = &sockets[i as usize % sockets.len()];
                let request = format!("/wm/photo.jpg?text=flood+{i}");
                let _ = socket.send_to(&hello(1_000_000 + i, &request), target);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // Let the flood start renderings first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let probes = tokio::task::spawn_blocking(move || {
        (0..10u64)
            .map(|i| {
                let server = addrs[i as usize % addrs.len()];
                let first_byte = static_first_byte(server, 7_000 + i);
                std::thread::sleep(Duration::from_millis(100));
                (server, first_byte)
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    // A legitimate watermark request from another network (127.0.1.0/24: the flood's prefix
    // has spent its rendering budget) is still served; its client resends its HELLO until the
    // image is ready.
    let watermark_addr = server.udp_addrs()[0];
    let watermark = tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind("127.0.1.1:0").expect("bind another /24 of loopback");
        fetch_with_core(
            &socket,
            watermark_addr,
            "/wm/photo.jpg?text=legit",
            &ClientPath::Direct,
            Duration::from_secs(120),
        )
        .into_body()
    })
    .await
    .expect("join");
    flooding.store(false, Ordering::Relaxed);
    flood.join().expect("flood");
    let busy = server
        .metrics()
        .udp
        .continuations_rejected
        .with_label_values(&["busy"])
        .get();
    server.shutdown().await;

    eprintln!("static first byte during the flood: {probes:?}; busy drops {busy}");
    for (addr, first_byte) in &probes {
        assert!(
            *first_byte < FIRST_BYTE_LIMIT,
            "first byte of a static file over {addr} took {first_byte:?} during the flood"
        );
    }
    assert!(busy > 0, "the flood never met a busy server");
    let jpeg = watermark.expect("the watermark is served during the flood");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
}
