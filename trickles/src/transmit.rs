//! A datagram the core wants sent: where to, and the bytes.

use std::net::SocketAddr;

/// One outgoing UDP datagram produced by the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address (IPv4 or IPv6).
    pub destination: SocketAddr,
    /// UDP payload.
    pub payload: Vec<u8>,
}
