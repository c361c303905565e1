//! [`fetch_with_core`]: a transfer driven by hand with the core's `ClientConnection` over a
//! real UDP socket (poll the transmits, send them along a [`ClientPath`], read the body,
//! feed the answers and the timeouts), for tests that look below the client driver: which
//! address answered, which replica got which datagram, what the mirror did.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use trickles::client::{ClientConfig, ClientConnection, ClientStats, ClientStatus};

use crate::clock::wall_clock;

/// The longest a receive waits before the connection's timers are looked at again.
const MAX_WAIT_MICROS: u64 = 50_000;

/// How the client's datagrams travel.
#[derive(Clone, Debug)]
pub enum ClientPath {
    /// To the address the connection gives (the server).
    Direct,
    /// The n-th datagram to `targets[n % targets.len()]`: replicas resuming each other's
    /// connection datagram by datagram.
    Alternating(Vec<SocketAddr>),
    /// Through the packet mirror: wrapped to it, unwrapped from it.
    #[cfg(feature = "mirror-relay")]
    Mirror(trickles_mirror::MirrorRoute),
}

/// How a hand-driven transfer ended.
#[derive(Debug)]
pub struct CoreTransfer {
    /// The body received (all of it when `status` is `Done`).
    pub body: Vec<u8>,
    /// `Done`, `Failed`, or where it stood when the time limit passed.
    pub status: ClientStatus,
    /// The connection's statistics.
    pub stats: ClientStats,
    /// The sender of every datagram that reached the client, in order (for the mirror: the
    /// sender it named).
    pub sources: Vec<SocketAddr>,
    /// How long it took.
    pub elapsed: Duration,
}

impl CoreTransfer {
    /// The body of a finished transfer, or why it did not finish.
    pub fn into_body(self) -> Result<Vec<u8>, String> {
        match self.status {
            ClientStatus::Done => Ok(self.body),
            ClientStatus::Failed(e) => Err(e.to_string()),
            other => Err(format!("no completion ({other:?}); {:?}", self.stats)),
        }
    }
}

/// Fetches `request` from `server` over `socket` along `path`, giving up after `limit`.
pub fn fetch_with_core(
    socket: &UdpSocket,
    server: SocketAddr,
    request: &str,
    path: &ClientPath,
    limit: Duration,
) -> CoreTransfer {
    let started = Instant::now();
    let mut connection = ClientConnection::new(
        wall_clock(),
        server,
        request.as_bytes().to_vec(),
        ClientConfig::default(),
        conn_id(),
    );
    let (mut body, mut sources, mut sent) = (Vec::new(), Vec::new(), 0usize);
    let (mut datagram, mut chunk) = (vec![0u8; 65_536], vec![0u8; 65_536]);
    loop {
        let now = wall_clock();
        while let Some(transmit) = connection.poll_transmit(now) {
            let _ = send(socket, path, sent, transmit.destination, &transmit.payload);
            sent += 1;
        }
        loop {
            let n = connection.read(&mut chunk);
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let status = connection.status();
        if matches!(status, ClientStatus::Done | ClientStatus::Failed(_))
            || started.elapsed() > limit
        {
            return CoreTransfer {
                body,
                status,
                stats: connection.stats(),
                sources,
                elapsed: started.elapsed(),
            };
        }
        let wait = connection
            .poll_timeout()
            .map_or(MAX_WAIT_MICROS, |due| {
                due.micros().saturating_sub(now.micros())
            })
            .clamp(100, MAX_WAIT_MICROS);
        let _ = socket.set_read_timeout(Some(Duration::from_micros(wait)));
        if let Ok((n, from)) = socket.recv_from(&mut datagram) {
            if let Some((sender, inner)) = receive(path, from, &datagram[..n]) {
                sources.push(sender);
                connection.handle_datagram(wall_clock(), sender, inner);
            }
        }
        let now = wall_clock();
        if connection.poll_timeout().is_some_and(|due| due <= now) {
            connection.handle_timeout(now);
        }
    }
}

/// Sends the `index`-th datagram `payload` for `destination` along `path`.
fn send(
    socket: &UdpSocket,
    path: &ClientPath,
    index: usize,
    destination: SocketAddr,
    payload: &[u8],
) -> std::io::Result<usize> {
    match path {
        ClientPath::Direct => socket.send_to(payload, destination),
        ClientPath::Alternating(targets) => socket.send_to(payload, targets[index % targets.len()]),
        #[cfg(feature = "mirror-relay")]
        ClientPath::Mirror(route) => {
            socket.send_to(&route.wrap(destination, payload, 0), route.mirror())
        }
    }
}

/// The sender and the Trickles datagram of `datagram`, received from `from`.
#[cfg_attr(not(feature = "mirror-relay"), allow(clippy::unnecessary_wraps))]
fn receive<'a>(
    path: &ClientPath,
    from: SocketAddr,
    datagram: &'a [u8],
) -> Option<(SocketAddr, &'a [u8])> {
    match path {
        #[cfg(feature = "mirror-relay")]
        ClientPath::Mirror(route) => route.unwrap(from, datagram).ok(),
        _ => Some((from, datagram)),
    }
}

/// A connection id that differs between transfers (time and a counter).
fn conn_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    wall_clock().micros() ^ COUNT.fetch_add(1, Ordering::Relaxed).rotate_left(32)
}
