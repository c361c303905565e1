//! Sealing and opening continuations: the MAC binds the continuation to its connection id and
//! to the client's address and port (the *pseudo-header*). The server address is left out on
//! purpose, so any replica behind any address honours it.

use std::net::{IpAddr, SocketAddr};

use crate::crypto::{Key, KeyRing, TAG_LEN};
use crate::time::Instant;
use crate::wire::continuation::SealedContinuation;

/// Length of the pseudo-header: connection id (8), client IP as IPv6 (16), client port (2).
pub const PSEUDO_HEADER_LEN: usize = 26;

/// Why a continuation failed to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under an epoch this replica does not hold.
    UnknownEpoch,
    /// The tag does not match: forged, altered, or sent from another address.
    BadMac,
}

/// The pseudo-header for `conn_id` and `client` (IPv4 addresses are IPv4-mapped, so a client
/// seen as `1.2.3.4` or as `::ffff:1.2.3.4` by a dual-stack socket is the same client).
pub fn pseudo_header(conn_id: u64, client: SocketAddr) -> [u8; PSEUDO_HEADER_LEN] {
    let mut p = [0u8; PSEUDO_HEADER_LEN];
    p[..8].copy_from_slice(&conn_id.to_be_bytes());
    let ip = match client.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    p[8..24].copy_from_slice(&ip.octets());
    p[24..].copy_from_slice(&client.port().to_be_bytes());
    p
}

/// The tag sealing `body` for the given pseudo-header.
pub fn seal(key: &Key, pseudo: &[u8; PSEUDO_HEADER_LEN], body: &[u8]) -> [u8; TAG_LEN] {
    key.tag(&[pseudo, body])
}

/// Check a parsed continuation against the key ring at `now` (a retired previous key opens
/// nothing: [`KeyRing::opener`]).
pub fn open(
    keys: &KeyRing,
    now: Instant,
    pseudo: &[u8; PSEUDO_HEADER_LEN],
    sealed: &SealedContinuation<'_>,
) -> Result<(), OpenError> {
    let key = keys
        .opener(sealed.fields.epoch, now)
        .ok_or(OpenError::UnknownEpoch)?;
    if key.verify(&[pseudo, sealed.body], sealed.tag) {
        Ok(())
    } else {
        Err(OpenError::BadMac)
    }
}
