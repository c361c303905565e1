//! Creating the workers' UDP sockets: one per worker, all bound to the same address with
//! `SO_REUSEPORT` so the kernel spreads incoming datagrams over them by flow hash.
//!
//! IPv6 sockets are `IPV6_V6ONLY`, so `[::]:4433` and `0.0.0.0:4433` can both be listened on
//! (list both to serve both families). Socket buffers are raised to [`SOCKET_BUFFER_LEN`]; the
//! kernel may clamp that (`net.core.rmem_max`), which is logged, not fatal. A read timeout lets a
//! blocked worker notice shutdown and key reloads.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::ServerError;

/// Requested SO_RCVBUF and SO_SNDBUF.
pub const SOCKET_BUFFER_LEN: usize = 4 << 20;
/// Longest a worker blocks in receive before looking at its flags.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Bind `count` sockets sharing `addr`. With port 0 the first socket picks the port and the
/// others join it.
pub fn bind_group(addr: SocketAddr, count: usize) -> Result<Vec<UdpSocket>, ServerError> {
    let mut sockets = Vec::with_capacity(count);
    let mut target = addr;
    for _ in 0..count.max(1) {
        let socket = bind_one(target)?;
        if target.port() == 0 {
            target = socket
                .local_addr()
                .map_err(|source| ServerError::Bind { addr, source })?;
        }
        sockets.push(socket);
    }
    Ok(sockets)
}

/// One `SO_REUSEPORT` socket bound to `addr`.
pub fn bind_one(addr: SocketAddr) -> Result<UdpSocket, ServerError> {
    let bind_error = |source| ServerError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_error)?;
    socket.set_reuse_port(true).map_err(bind_error)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    for (what, result) in [
        ("SO_RCVBUF", socket.set_recv_buffer_size(SOCKET_BUFFER_LEN)),
        ("SO_SNDBUF", socket.set_send_buffer_size(SOCKET_BUFFER_LEN)),
    ] {
        if let Err(e) = result {
            tracing::warn!(%addr, option = what, error = %e, "cannot enlarge socket buffer");
        }
    }
    if let Ok(granted) = socket.recv_buffer_size() {
        // Linux reports twice the usable size.
        if granted < SOCKET_BUFFER_LEN {
            tracing::info!(%addr, granted, "receive buffer clamped by net.core.rmem_max");
        }
    }
    socket
        .set_read_timeout(Some(POLL_INTERVAL))
        .map_err(bind_error)?;
    socket.bind(&addr.into()).map_err(bind_error)?;
    Ok(socket.into())
}
