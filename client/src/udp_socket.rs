//! The client's UDP socket: one per fetch (shared by all `--parallel` transfers), bound to the
//! wildcard address of the server's family on an ephemeral port, with large kernel buffers so
//! a burst of a whole window is not dropped before the driver drains it; and its batched I/O.
//!
//! Datagrams move in batches of up to [`BATCH_LEN`] per system call, inside tokio's readiness
//! (the socket is a non-blocking [`AsyncFd`], so the driver's single-threaded runtime still
//! waits on it alongside its timers):
//! - receive: [`ClientSocket::try_recv_batch`] is one `recvmmsg(2)` into a [`RecvBatch`],
//!   [`ClientSocket::readable`] waits for the next datagram;
//! - send: [`ClientSocket::send_all`] sends a whole queue, one `sendmmsg(2)` per batch, and
//!   waits for writability when the send buffer is full, so no request is dropped by us;
//! - errors: the socket asks for ICMP errors ([`error_queue`]); [`ClientSocket::incoming`]
//!   wakes for them too and [`ClientSocket::try_recv_unreachable`] reads them. A pending error
//!   also fails the next send or receive once (`ECONNREFUSED`, `EHOSTUNREACH`): that call is
//!   simply made again, the error itself is read from the queue.
//!
//! **Which batch code, and why.** Receiving reuses `trickles-netfn`'s [`RecvBatch`] as is: it
//! takes any `std::net::UdpSocket`, returns `WouldBlock` on an empty non-blocking socket (what
//! tokio's `try_io` needs to clear readiness), flags truncated datagrams and reuses its buffers
//! (slots of [`DEFAULT_SLOT_LEN`](trickles_netfn::udp::batch::DEFAULT_SLOT_LEN) = 9216 bytes:
//! a jumbo data packet fits, a larger datagram is truncated and the driver drops it). Sending
//! uses netfn's single `sendmmsg` step (`SendBatch::send_once`), not its blocking-socket loop,
//! which counts `EAGAIN` as a refused datagram and skips it: a full send buffer would turn into
//! lost requests. [`send_batch`] only views transmits as netfn datagrams.

mod send_batch;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use trickles::Transmit;

pub use send_batch::SendBatch;
pub use trickles_netfn::udp::error_queue::{self, is_pending_icmp_error, Unreachable};
pub use trickles_netfn::udp::{Received, RecvBatch, BATCH_LEN};

/// A non-blocking UDP socket registered with the tokio runtime it was made in.
pub struct ClientSocket {
    io: AsyncFd<UdpSocket>,
}

/// A [`ClientSocket`] able to talk to `server`, with SO_RCVBUF/SO_SNDBUF asked to be
/// `buffer_bytes` (the kernel caps them at its `rmem_max`/`wmem_max`; failure only costs
/// speed, so it is logged, not returned). Must be called inside a tokio runtime.
pub fn bind_for(server: SocketAddr, buffer_bytes: usize) -> io::Result<ClientSocket> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(buffer_bytes) {
        tracing::warn!(%error, buffer_bytes, "could not enlarge SO_RCVBUF");
    }
    if let Err(error) = socket.set_send_buffer_size(buffer_bytes) {
        tracing::warn!(%error, buffer_bytes, "could not enlarge SO_SNDBUF");
    }
    let wildcard = match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    socket.bind(&wildcard.into())?;
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from(socket);
    if let Err(error) = error_queue::enable(&socket, server.is_ipv6()) {
        tracing::warn!(%error, "could not ask for ICMP errors; a dead server is noticed by timer only");
    }
    let interest = Interest::READABLE | Interest::WRITABLE | Interest::ERROR;
    // SAFETY: a `std::net::UdpSocket` owns its descriptor, which stays open and unchanged
    // until the socket is dropped, and the `AsyncFd` owns the socket.
    let registered = unsafe { AsyncFd::register_with_interest(socket, interest) };
    match registered {
        Ok(io) => Ok(ClientSocket { io }),
        Err(error) => Err(error.into_parts().1),
    }
}

impl ClientSocket {
    /// The socket itself (for its address and options).
    pub fn socket(&self) -> &UdpSocket {
        self.io.get_ref()
    }

    /// Waits until the socket may have a datagram to receive.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await.map(drop)
    }

    /// Waits until the socket may have a datagram or an ICMP error to read.
    pub async fn incoming(&self) -> io::Result<Incoming> {
        let guard = self.io.ready(Interest::READABLE | Interest::ERROR).await?;
        let ready = guard.ready();
        Ok(Incoming {
            datagrams: ready.is_readable() || ready.is_read_closed(),
            errors: ready.is_error(),
        })
    }

    /// Reads one entry of the error queue without waiting (see
    /// [`error_queue::recv_error`]): an unreachable with its quoted datagram in `quoted`,
    /// `None` for an entry of another kind, `WouldBlock` when the queue is empty.
    pub fn try_recv_unreachable(&self, quoted: &mut [u8]) -> io::Result<Option<Unreachable>> {
        self.io.try_io(Interest::ERROR, |socket| {
            error_queue::recv_error(socket, quoted)
        })
    }

    /// One `recvmmsg` into `batch`, without waiting: how many datagrams it now holds (at least
    /// one), or `WouldBlock` when none is queued.
    pub fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.io
            .try_io(Interest::READABLE, |socket| batch.recv(socket))
    }

    /// Sends every transmit, one `sendmmsg` per [`BATCH_LEN`], waiting for writability
    /// whenever the send buffer is full. A datagram the kernel refuses otherwise is a lost
    /// datagram (logged; the connection's timers recover from it) and sending goes on.
    pub async fn send_all(&self, batch: &mut SendBatch, transmits: &[Transmit]) {
        let mut rest = transmits;
        let mut pending_errors = 0;
        while let Some(first) = rest.first() {
            match self
                .io
                .try_io(Interest::WRITABLE, |socket| batch.send_once(socket, rest))
            {
                Ok(sent) => rest = &rest[sent..],
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(error) = self.io.writable().await {
                        tracing::debug!(%error, unsent = rest.len(), "udp socket unusable");
                        return;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // A queued ICMP error, reported (and cleared) by this call: not this datagram's.
                Err(error) if is_pending_icmp_error(&error) && pending_errors < MAX_PENDING => {
                    pending_errors += 1;
                }
                Err(error) => {
                    tracing::debug!(%error, destination = %first.destination, "udp send error");
                    rest = &rest[1..];
                }
            }
        }
    }
}

/// What [`ClientSocket::incoming`] found ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Datagrams may be queued.
    pub datagrams: bool,
    /// ICMP errors may be queued.
    pub errors: bool,
}

/// Calls in a row that may fail on queued ICMP errors before one is taken for the datagram's.
const MAX_PENDING: u32 = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    async fn receive(socket: &ClientSocket, batch: &mut RecvBatch, want: usize) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        while seen.len() < want {
            tokio::time::timeout(Duration::from_secs(2), socket.readable())
                .await
                .expect("a datagram in time")
                .expect("readable");
            match socket.try_recv_batch(batch) {
                Ok(_) => seen.extend(batch.iter().map(|d| d.payload.to_vec())),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => panic!("receive failed: {error}"),
            }
        }
        seen
    }

    #[test]
    fn queue_longer_than_a_batch_arrives_whole_and_in_order() {
        runtime().block_on(async {
            let server: SocketAddr = "127.0.0.1:9".parse().expect("addr");
            let (a, b) = (
                bind_for(server, 1 << 20).expect("a"),
                bind_for(server, 1 << 20).expect("b"),
            );
            let to = SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                b.socket().local_addr().expect("addr").port(),
            ));
            let transmits: Vec<Transmit> = (0..100u8)
                .map(|i| Transmit {
                    destination: to,
                    payload: vec![i; 20 + usize::from(i)],
                })
                .collect();
            a.send_all(&mut SendBatch::new(), &transmits).await;
            let seen = receive(&b, &mut RecvBatch::new(), transmits.len()).await;
            let sent: Vec<Vec<u8>> = transmits.into_iter().map(|t| t.payload).collect();
            assert_eq!(seen, sent);
        });
    }

    #[test]
    fn refused_datagram_is_skipped_and_the_rest_sent() {
        runtime().block_on(async {
            let server: SocketAddr = "127.0.0.1:9".parse().expect("addr");
            let (a, b) = (
                bind_for(server, 1 << 20).expect("a"),
                bind_for(server, 1 << 20).expect("b"),
            );
            let to = SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                b.socket().local_addr().expect("addr").port(),
            ));
            let transmits = vec![
                Transmit {
                    destination: to,
                    payload: vec![1],
                },
                // Larger than any UDP datagram: EMSGSIZE.
                Transmit {
                    destination: to,
                    payload: vec![2; 70_000],
                },
                Transmit {
                    destination: to,
                    payload: vec![3],
                },
            ];
            a.send_all(&mut SendBatch::new(), &transmits).await;
            let seen = receive(&b, &mut RecvBatch::new(), 2).await;
            assert_eq!(seen, vec![vec![1], vec![3]]);
        });
    }

    #[test]
    fn drained_socket_is_would_block_not_a_wait() {
        runtime().block_on(async {
            let server: SocketAddr = "127.0.0.1:9".parse().expect("addr");
            let (a, b) = (
                bind_for(server, 1 << 16).expect("a"),
                bind_for(server, 1 << 16).expect("b"),
            );
            let to = SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                b.socket().local_addr().expect("addr").port(),
            ));
            let transmit = Transmit {
                destination: to,
                payload: vec![7; 10],
            };
            a.send_all(&mut SendBatch::new(), &[transmit]).await;
            let mut batch = RecvBatch::new();
            assert_eq!(receive(&b, &mut batch, 1).await, vec![vec![7; 10]]);
            let error = b.try_recv_batch(&mut batch).expect_err("nothing queued");
            assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        });
    }
}
