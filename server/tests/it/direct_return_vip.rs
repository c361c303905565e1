//! Claims about direct server return on loopback (no privilege needed: every 127.0.0.0/8
//! address is local): with `--dsr-vip`, every reply to a DIRECT_RETURN request leaves from the
//! VIP's address and port, and a file crosses byte-exact; without it, the replies leave from
//! the listen address as before. A small relay plays the balancer in `mode: direct_return`:
//! it puts the header (peer = client, DIRECT_RETURN) in front of each client datagram and
//! counts anything the server sends back to it (nothing, in direct return).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::ServedFile;
use trickles_netfn::encap::{EncapRepr, FLAG_DIRECT_RETURN};
use trickles_server::cli::RunArgs;
use trickles_server::service::RunningServer;
use trickles_testkit::ports::free_udp_addr_on;
use trickles_testkit::{fetch_with_core, ClientPath};

/// Bytes of the test file.
const FILE_LEN: usize = 200_000;

/// `/file.bin` and a key.
fn fixture() -> ServedFile {
    ServedFile::new((0..FILE_LEN).map(|i| (i * 37 % 251) as u8).collect())
}

/// Flags for a server on 127.0.0.1 trusting `balancer`, replying from `dsr_vips`.
fn args(fixture: &ServedFile, balancer: SocketAddr, dsr_vips: Vec<SocketAddr>) -> RunArgs {
    RunArgs {
        balancers: vec![balancer],
        dsr_vips,
        ..fixture.args(vec!["127.0.0.1:0".parse().expect("addr")])
    }
}

/// The balancer's part in direct return: encapsulate each client datagram with the
/// DIRECT_RETURN flag and forward it to the server; count datagrams the server sends here.
struct DirectReturnRelay {
    from_server: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DirectReturnRelay {
    /// The relay's socket: bound before the server starts, which must trust its address.
    fn bind() -> UdpSocket {
        UdpSocket::bind("127.0.0.3:0").expect("relay socket")
    }

    fn start(socket: UdpSocket, server: SocketAddr) -> Self {
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let from_server = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counter, stopping) = (from_server.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stopping.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if from == server {
                    counter.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let header = EncapRepr {
                    peer: from,
                    flags: FLAG_DIRECT_RETURN,
                };
                let _ = socket.send_to(&header.encapsulate(&buf[..n]), server);
            }
        });
        DirectReturnRelay {
            from_server,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DirectReturnRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Fetch `/file.bin` through `relay` with the core's client; the body and the source address
/// of every datagram that reached the client.
fn fetch_through(relay: SocketAddr) -> (Vec<u8>, Vec<SocketAddr>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    let limit = Duration::from_secs(20);
    let transfer = fetch_with_core(&socket, relay, "/file.bin", &ClientPath::Direct, limit);
    let sources = transfer.sources.clone();
    let body = transfer
        .into_body()
        .unwrap_or_else(|e| panic!("transfer failed: {e}"));
    (body, sources)
}

/// Serve through a relay (the server trusting it, with `dsr_vips`), fetch the file; the
/// sources of the client's datagrams, the datagrams the relay got back, and the server's
/// `direct_replies_total` by source (`vip`, `own_address`).
async fn serve_and_fetch(
    dsr_vips: Vec<SocketAddr>,
) -> (Vec<SocketAddr>, u64, [u64; 2], SocketAddr) {
    let fixture = fixture();
    let relay_socket = DirectReturnRelay::bind();
    let relay_addr = relay_socket.local_addr().expect("addr");
    let server = RunningServer::start(args(&fixture, relay_addr, dsr_vips))
        .await
        .expect("start");
    let listen = server.udp_addrs()[0];
    let relay = DirectReturnRelay::start(relay_socket, listen);

    let (body, sources) = tokio::task::spawn_blocking(move || fetch_through(relay_addr))
        .await
        .expect("client");

    assert!(body == fixture.body, "body differs from the served file");
    assert!(!sources.is_empty());
    let direct = &server.metrics().udp.direct_replies;
    let by_source = ["vip", "own_address"].map(|s| direct.with_label_values(&[s]).get());
    let relayed = relay.from_server.load(Ordering::Relaxed);
    server.shutdown().await;
    (sources, relayed, by_source, listen)
}

/// The distinct addresses among `sources`.
fn distinct(sources: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut seen: Vec<SocketAddr> = sources.to_vec();
    seen.sort();
    seen.dedup();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_dsr_vip_every_direct_reply_leaves_from_the_vip() {
    let vip = free_udp_addr_on([127, 0, 0, 2].into()).expect("127.0.0.2 is loopback");
    let (sources, relayed, [from_vip, from_own], _) = serve_and_fetch(vec![vip]).await;
    assert_eq!(distinct(&sources), vec![vip], "sources of the replies");
    assert_eq!(relayed, 0, "direct return sends nothing to the balancer");
    assert!(from_vip >= sources.len() as u64, "{from_vip} counted");
    assert_eq!(from_own, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dsr_vip_direct_replies_leave_from_the_listen_address() {
    let (sources, relayed, [from_vip, from_own], listen) = serve_and_fetch(Vec::new()).await;
    assert_eq!(distinct(&sources), vec![listen], "sources of the replies");
    assert_eq!(relayed, 0);
    assert_eq!(from_vip, 0);
    assert!(from_own >= sources.len() as u64, "{from_own} counted");
}
