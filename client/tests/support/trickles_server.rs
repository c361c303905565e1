//! An in-test Trickles server: the core's `ServerEndpoint` over a real UDP socket on its own
//! thread, serving a `MemoryApplication`, with scripted misbehaviour (lost packets, answers
//! from another address, a crash and restart) to test the client driver end to end.
//! Set `TRICKLES_TEST_TRACE=1` to print the server's verdict on every datagram.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trickles::app::MemoryApplication;
use trickles::crypto::{Key, KeyRing};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::Instant;

/// How the test server misbehaves.
#[derive(Clone, Debug, Default)]
pub struct UdpScript {
    /// Drop every n-th datagram the server would send (n ≥ 2), as a lossy path.
    pub drop_every: Option<u64>,
    /// Drop the sent datagrams numbered `start .. start + len` (1-based): a loss burst.
    pub drop_burst: Option<(u64, u64)>,
    /// Send answers from a second socket (another port): a "replica" answering.
    pub answer_from_other_socket: bool,
    /// After this many received datagrams, play dead (drop everything) for `dead_for`, then
    /// come back as a fresh endpoint (empty replay filter) with the same key: a restart.
    pub crash_after: Option<u64>,
    /// How long the crashed server stays silent.
    pub dead_for: Duration,
}

/// A running in-test Trickles server; stops when dropped.
pub struct TricklesTestServer {
    /// The address clients send to.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    sources: Arc<Mutex<BTreeSet<SocketAddr>>>,
}

impl TricklesTestServer {
    /// Serves `objects` (path → body) on `bind` following `script`.
    pub fn start(bind: &str, objects: Vec<(String, Vec<u8>)>, script: UdpScript) -> Self {
        let socket = UdpSocket::bind(bind).expect("bind udp test server");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let addr = socket.local_addr().expect("local addr");
        let reply = if script.answer_from_other_socket {
            let other = SocketAddr::new(addr.ip(), 0);
            UdpSocket::bind(other).expect("bind reply socket")
        } else {
            socket.try_clone().expect("clone socket")
        };
        let mut app = MemoryApplication::new();
        for (path, body) in objects {
            app.insert(path.into_bytes(), body);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let sources = Arc::new(Mutex::new(BTreeSet::new()));
        let seen = Seen {
            stop: stop.clone(),
            received: received.clone(),
            sources: sources.clone(),
        };
        std::thread::spawn(move || serve(socket, reply, app, script, &seen));
        TricklesTestServer {
            addr,
            stop,
            received,
            sources,
        }
    }

    /// `trickles://ADDR/path` (IPv6 bracketed).
    pub fn url(&self, path: &str) -> String {
        format!("trickles://{}{}", self.addr, path)
    }

    /// The distinct client addresses (ip, port) that sent datagrams.
    pub fn sources(&self) -> BTreeSet<SocketAddr> {
        self.sources.lock().expect("lock").clone()
    }

    /// Datagrams received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for TricklesTestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What the server thread shares with the test.
struct Seen {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    sources: Arc<Mutex<BTreeSet<SocketAddr>>>,
}

fn endpoint(app: &MemoryApplication, seed: u64) -> ServerEndpoint<MemoryApplication> {
    let config = ServerConfig {
        replay_capacity: 1 << 14,
        ..ServerConfig::default()
    };
    let keys = KeyRing::new(Key::from_secret(1, &[0x5a; 32]));
    ServerEndpoint::new(config, keys, app.clone(), seed)
}

fn wall_clock() -> Instant {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros();
    Instant(micros as u64)
}

fn serve(
    socket: UdpSocket,
    reply: UdpSocket,
    app: MemoryApplication,
    script: UdpScript,
    seen: &Seen,
) {
    let mut server = endpoint(&app, 1);
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    let mut sent = 0u64;
    let mut dead_until: Option<std::time::Instant> = None;
    while !seen.stop.load(Ordering::SeqCst) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let count = seen.received.fetch_add(1, Ordering::SeqCst) + 1;
        seen.sources.lock().expect("lock").insert(from);
        if script.crash_after == Some(count) {
            dead_until = Some(std::time::Instant::now() + script.dead_for);
        }
        if let Some(until) = dead_until {
            if std::time::Instant::now() < until {
                continue;
            }
            dead_until = None;
            server = endpoint(&app, 2); // the restarted process: same key, no soft state
        }
        out.clear();
        let verdict = server.handle_datagram(wall_clock(), from, &buf[..len], &mut out);
        if std::env::var_os("TRICKLES_TEST_TRACE").is_some() {
            eprintln!("srv #{count} len {len} -> {verdict:?}");
        }
        for transmit in &out {
            sent += 1;
            let in_burst = script
                .drop_burst
                .is_some_and(|(start, len)| (start..start + len).contains(&sent));
            if in_burst || script.drop_every.is_some_and(|n| sent.is_multiple_of(n)) {
                continue;
            }
            let _ = reply.send_to(&transmit.payload, transmit.destination);
        }
    }
}
