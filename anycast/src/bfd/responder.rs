//! The BFD responder: one thread per BFD address, a UDP socket on port 3784 of that address
//! (`SO_REUSEADDR`, as BIRD's own wildcard socket on the same port has it; TTL 255 as RFC 5881
//! requires of single-hop packets), a [`Session`] per peer, and the [`BfdGate`] deciding
//! whether sessions may be Up.
//!
//! Deviation from RFC 5881 §4: replies leave from port 3784 rather than an ephemeral port;
//! BIRD does not check the source port.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::gate::BfdGate;
use super::packet::{ControlRepr, State, CONTROL_PORT};
use super::session::Session;
use crate::config::BfdConfig;

/// Longest the thread sleeps between looks at the gate and the stop flag.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// A running responder thread.
#[derive(Debug)]
pub struct Responder {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Bind the control socket of `address` (`port` 0 in tests, [`CONTROL_PORT`] otherwise).
pub fn bind(address: IpAddr, port: u16) -> std::io::Result<UdpSocket> {
    let local = SocketAddr::new(address, port);
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    match address {
        IpAddr::V4(_) => socket.set_ttl(255)?,
        IpAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_unicast_hops_v6(255)?;
        }
    }
    socket.bind(&local.into())?;
    socket.set_read_timeout(Some(MAX_WAIT))?;
    Ok(socket.into())
}

impl Responder {
    /// Answer BFD on `socket` until stopped; `peer_port` is where replies go (3784).
    pub fn start(
        socket: UdpSocket,
        peer_port: u16,
        config: BfdConfig,
        gate: Arc<BfdGate>,
    ) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("bfd-{}", local.ip()))
            .spawn(move || run(socket, peer_port, config, &gate, &flag))?;
        Ok(Responder {
            local,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn run(socket: UdpSocket, peer_port: u16, config: BfdConfig, gate: &BfdGate, stop: &AtomicBool) {
    let local = socket
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let mut sessions: HashMap<IpAddr, Session> = HashMap::new();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let wait = sessions
            .values()
            .map(|s| s.poll_timeout().saturating_duration_since(now))
            .min()
            .unwrap_or(MAX_WAIT)
            .clamp(Duration::from_millis(1), MAX_WAIT);
        let _ = socket.set_read_timeout(Some(wait));
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let now = Instant::now();
            match ControlRepr::parse(&buf[..n]) {
                Ok(packet) => {
                    let session = sessions.entry(from.ip()).or_insert_with(|| {
                        tracing::info!(peer = %from.ip(), %local, "BFD session requested");
                        Session::new(config, rand::random::<u32>() | 1, now)
                    });
                    if packet.your_discr != 0 && packet.your_discr != session.local_discr() {
                        continue;
                    }
                    let before = session.state();
                    session.on_packet(now, &packet, gate.allows(local, now));
                    log_change(local, from.ip(), before, session.state());
                }
                Err(e) => tracing::debug!(from = %from, error = ?e, "BFD packet dropped"),
            }
        }
        let now = Instant::now();
        let allowed = gate.allows(local, now);
        sessions.retain(|peer, session| {
            let before = session.state();
            while let Some(packet) = session.poll_transmit(now, allowed, rand::random::<f64>()) {
                let to = SocketAddr::new(*peer, peer_port);
                if let Err(e) = socket.send_to(&packet.emit(), to) {
                    tracing::debug!(%to, error = %e, "BFD send failed");
                }
                if session.poll_timeout() > now {
                    break;
                }
            }
            log_change(local, *peer, before, session.state());
            !session.is_stale(now)
        });
    }
}

fn log_change(local: IpAddr, peer: IpAddr, before: State, after: State) {
    if before != after {
        tracing::info!(%local, %peer, from = ?before, to = ?after, "BFD session state");
    }
}

/// Bind [`CONTROL_PORT`] on `address`.
pub fn bind_control(address: IpAddr) -> std::io::Result<UdpSocket> {
    bind(address, CONTROL_PORT)
}
