//! The client's UDP socket: one per fetch (shared by all `--parallel` transfers), bound to the
//! wildcard address of the server's family on an ephemeral port, with large kernel buffers so
//! a burst of a whole window is not dropped before the driver drains it.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// A non-blocking tokio UDP socket able to talk to `server`, with SO_RCVBUF/SO_SNDBUF asked to
/// be `buffer_bytes` (the kernel caps them at its `rmem_max`/`wmem_max`; failure only costs
/// speed, so it is logged, not returned).
pub fn bind_for(server: SocketAddr, buffer_bytes: usize) -> io::Result<tokio::net::UdpSocket> {
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
    tokio::net::UdpSocket::from_std(socket.into())
}
