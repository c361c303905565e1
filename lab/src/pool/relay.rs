//! [`AlternatingRelay`]: a UDP relay that sends each datagram of its client to the next server
//! of a list in turn, and every server datagram back to the client.
//!
//! It stands in for per-packet load balancing (the balancer's job, not built yet) so the lab
//! can show a single Trickles connection served by several replicas at once, packet by packet.
//! The servers all see the relay's one socket address as the client, so the continuations
//! (whose MAC binds the client address) are valid at every replica.
//!
//! It serves one client at a time (the last address that is not a server): a test fixture, not
//! a network function. It runs on its own thread until dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{LabError, Result};

/// Datagrams and bytes the relay moved, per server (index = position in the server list).
#[derive(Debug, Default)]
pub struct RelayCounters {
    to_server: Vec<AtomicU64>,
    from_server: Vec<AtomicU64>,
}

impl RelayCounters {
    /// Client datagrams sent to server `i`.
    pub fn to_server(&self, i: usize) -> u64 {
        self.to_server
            .get(i)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Datagrams server `i` sent back to the client.
    pub fn from_server(&self, i: usize) -> u64 {
        self.from_server
            .get(i)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// A running relay; stops when dropped.
pub struct AlternatingRelay {
    addr: SocketAddr,
    counters: Arc<RelayCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AlternatingRelay {
    /// Binds `listen` (port 0 for an ephemeral one) and relays to `servers` in turn.
    pub fn start(listen: SocketAddr, servers: Vec<SocketAddr>) -> Result<Self> {
        if servers.is_empty() {
            return Err(LabError::Usage(
                "the relay needs at least one server".to_owned(),
            ));
        }
        let socket = UdpSocket::bind(listen)
            .map_err(|e| LabError::process(format!("binding the relay on {listen}"), e))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| LabError::process("configuring the relay socket", e))?;
        let addr = socket
            .local_addr()
            .map_err(|e| LabError::process("reading the relay address", e))?;
        let counters = Arc::new(RelayCounters {
            to_server: servers.iter().map(|_| AtomicU64::new(0)).collect(),
            from_server: servers.iter().map(|_| AtomicU64::new(0)).collect(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counters, stop) = (counters.clone(), stop.clone());
            std::thread::Builder::new()
                .name("alternating-relay".to_owned())
                .spawn(move || relay_loop(&socket, &servers, &counters, &stop))
                .map_err(|e| LabError::process("starting the relay thread", e))?
        };
        Ok(AlternatingRelay {
            addr,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// The address clients send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What went where so far.
    pub fn counters(&self) -> &RelayCounters {
        &self.counters
    }
}

impl Drop for AlternatingRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn relay_loop(
    socket: &UdpSocket,
    servers: &[SocketAddr],
    counters: &RelayCounters,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65_536];
    let mut client: Option<SocketAddr> = None;
    let mut next = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            // Timeouts (to check `stop`) and ICMP errors from a dead server alike: go on.
            Err(_) => continue,
        };
        let datagram = &buf[..len];
        if let Some(index) = servers.iter().position(|s| *s == from) {
            if let Some(client) = client {
                if socket.send_to(datagram, client).is_ok() {
                    counters.from_server[index].fetch_add(1, Ordering::Relaxed);
                }
            }
        } else {
            client = Some(from);
            let index = next % servers.len();
            next = next.wrapping_add(1);
            if socket.send_to(datagram, servers[index]).is_ok() {
                counters.to_server[index].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
