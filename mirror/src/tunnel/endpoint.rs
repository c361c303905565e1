//! [`TunnelEndpoint`]: one thread moving packets between a TUN device and a UDP socket.
//!
//! It waits in `poll(2)` on both descriptors; IP packets read from the device (up to a batch)
//! are wrapped ([`TunnelCodec::outbound`]) and sent to the mirror in one `sendmmsg`; datagrams
//! received from the mirror (one `recvmmsg`) are unwrapped and their packets written to the
//! device. It keeps counters and stops when asked.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use trickles_netfn::udp::{Outgoing, RecvBatch, SendBatch, BATCH_LEN};

use super::codec::TunnelCodec;
use super::tun_device::TunDevice;

/// Largest IP packet read from the device.
const MAX_PACKET: usize = 65_535;

/// Counts of a running endpoint.
#[derive(Debug, Default)]
pub struct TunnelCounters {
    /// Packets read from the device and sent to the mirror.
    pub to_mirror: AtomicU64,
    /// Packets received from the mirror and written to the device.
    pub from_mirror: AtomicU64,
    /// Datagrams received that were not a packet from the remote endpoint via the mirror.
    pub rejected: AtomicU64,
}

/// A running tunnel endpoint.
pub struct TunnelEndpoint {
    stop: Arc<AtomicBool>,
    counters: Arc<TunnelCounters>,
    thread: Option<JoinHandle<()>>,
}

impl TunnelEndpoint {
    /// Move packets between `device` and `socket` (bound, any family the mirror speaks)
    /// through `codec` until stopped.
    pub fn start(
        device: TunDevice,
        socket: UdpSocket,
        codec: TunnelCodec,
    ) -> std::io::Result<Self> {
        socket.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(TunnelCounters::default());
        let (stopping, counting) = (stop.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name(format!("tunnel-{}", device.name()))
            .spawn(move || run(&device, &socket, &codec, &stopping, &counting))?;
        Ok(TunnelEndpoint {
            stop,
            counters,
            thread: Some(thread),
        })
    }

    /// The endpoint's counters.
    pub fn counters(&self) -> &TunnelCounters {
        &self.counters
    }

    /// Stop the thread and wait for it (at most one poll interval).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TunnelEndpoint {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// `(device readable, socket readable)` after waiting at most 100 ms.
fn wait(device: &TunDevice, socket: &UdpSocket) -> (bool, bool) {
    let mut fds = [
        libc::pollfd {
            fd: device.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two valid pollfds that live for the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
    if ready <= 0 {
        return (false, false);
    }
    (fds[0].revents != 0, fds[1].revents != 0)
}

fn run(
    device: &TunDevice,
    socket: &UdpSocket,
    codec: &TunnelCodec,
    stop: &AtomicBool,
    counters: &TunnelCounters,
) {
    let mirror: SocketAddr = codec.mirror();
    let mut packet = vec![0u8; MAX_PACKET];
    let mut wrapped: Vec<Vec<u8>> = Vec::with_capacity(BATCH_LEN);
    let mut receive = RecvBatch::with_slot_len(MAX_PACKET);
    let mut send = SendBatch::new();
    while !stop.load(Ordering::Relaxed) {
        let (device_ready, socket_ready) = wait(device, socket);
        if device_ready {
            let now_secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            wrapped.clear();
            while wrapped.len() < BATCH_LEN {
                let Ok(n) = device.recv(&mut packet) else {
                    break;
                };
                let mut datagram = Vec::with_capacity(n + codec.overhead());
                codec.outbound(&packet[..n], now_secs, &mut datagram);
                wrapped.push(datagram);
            }
            let sent = send.send_each(socket, &wrapped, |d| Outgoing::new(mirror, d));
            counters
                .to_mirror
                .fetch_add(sent.packets, Ordering::Relaxed);
        }
        if socket_ready {
            if let Ok(received) = receive.recv(socket) {
                for datagram in receive.iter().take(received) {
                    let inner = datagram
                        .from
                        .filter(|_| !datagram.truncated)
                        .and_then(|from| codec.inbound(from, datagram.payload));
                    match inner.map(|packet| device.send(packet)) {
                        Some(Ok(_)) => counters.from_mirror.fetch_add(1, Ordering::Relaxed),
                        _ => counters.rejected.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        }
    }
}
