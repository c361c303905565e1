//! Shared keys and the tag they compute: SipHash-2-4 (64-bit output) over what a sender asks
//! the mirror to do.
//!
//! A host that cannot be recognised by its address (a laptop behind NAT, a roaming client)
//! shares a 128-bit key with the mirror and tags every datagram it sends there. The tag covers
//! the key id, a timestamp, the encapsulation header's flags (`DIRECT_RETURN` would take the
//! answers off the mirror's path), the destination the mirror is asked to forward to, and the
//! carried datagram — everything the mirror acts on except the sender's own address, which NAT
//! may rewrite. A forged or altered datagram fails the tag; a captured one can be replayed only
//! within the accepted clock skew, and only to the destination its sender chose.
//!
//! SipHash-2-4 is the MAC the core already uses for continuations (`siphasher`), fast on short
//! inputs and simple enough for an XDP datapath to compute the same tag. 64 bits suffice for
//! authenticating a datagram online: a forger gets one try per datagram the mirror receives.

use std::fmt;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

/// Length of a key's secret.
pub const SECRET_LEN: usize = 16;

/// A key shared between the mirror and one peer, named on the wire by its id.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// Which key this is (carried in the option, so the mirror finds it without a lookup
    /// by address; distinct across all peers of a configuration).
    pub id: u8,
    secret: [u8; SECRET_LEN],
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("AuthKey").field("id", &self.id).finish()
    }
}

/// Why text is not a key secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a key secret is {} hex digits (16 bytes)", SECRET_LEN * 2)]
pub struct KeySecretError;

impl AuthKey {
    /// A key from its id and secret bytes.
    pub fn new(id: u8, secret: [u8; SECRET_LEN]) -> Self {
        AuthKey { id, secret }
    }

    /// The SipHash-2-4 key words of the secret (little-endian halves, as `SipHasher24`
    /// takes them): what an XDP datapath verifying tags is given.
    pub fn sip_keys(&self) -> (u64, u64) {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&self.secret[..8]);
        k1.copy_from_slice(&self.secret[8..]);
        (u64::from_le_bytes(k0), u64::from_le_bytes(k1))
    }

    /// A key from its id and the secret in hex.
    pub fn from_hex(id: u8, hex_secret: &str) -> Result<Self, KeySecretError> {
        let bytes = hex::decode(hex_secret.trim()).map_err(|_| KeySecretError)?;
        let secret: [u8; SECRET_LEN] = bytes.try_into().map_err(|_| KeySecretError)?;
        Ok(AuthKey { id, secret })
    }

    /// A key written as `ID:HEX`, the key id and the 16-byte secret the mirror knows (the form
    /// of the client's `--via-key` and the tunnel endpoint's `--key`).
    pub fn from_flag(text: &str) -> Result<Self, String> {
        let (id, secret) = text
            .split_once(':')
            .ok_or_else(|| "expected ID:HEX (e.g. 1:000102...0f)".to_owned())?;
        let id: u8 = id
            .trim()
            .parse()
            .map_err(|_| format!("key id `{id}` is not 0 to 255"))?;
        AuthKey::from_hex(id, secret).map_err(|e| e.to_string())
    }

    /// The tag over (key id, timestamp, header flags, destination, carried datagram).
    pub fn tag(&self, timestamp: u32, flags: u8, destination: SocketAddr, inner: &[u8]) -> u64 {
        let mut hasher = SipHasher24::new_with_key(&self.secret);
        hasher.write(&[self.id]);
        hasher.write(&timestamp.to_be_bytes());
        hasher.write(&[flags]);
        hasher.write(&destination.port().to_be_bytes());
        match destination.ip() {
            IpAddr::V4(ip) => {
                hasher.write(&[4]);
                hasher.write(&ip.octets());
            }
            IpAddr::V6(ip) => {
                hasher.write(&[6]);
                hasher.write(&ip.octets());
            }
        }
        hasher.write(inner);
        hasher.finish()
    }

    /// Whether `tag` is this key's tag over the same inputs (constant time in the tag).
    pub fn verify(
        &self,
        tag: u64,
        timestamp: u32,
        flags: u8,
        destination: SocketAddr,
        inner: &[u8],
    ) -> bool {
        let expected = self.tag(timestamp, flags, destination, inner);
        // XOR-and-compare does not stop at the first differing byte.
        (expected ^ tag) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuthKey {
        AuthKey::from_hex(7, "000102030405060708090a0b0c0d0e0f").expect("key")
    }

    fn server() -> SocketAddr {
        "198.18.0.1:4433".parse().expect("addr")
    }

    #[test]
    fn tag_verifies_and_changes_with_every_covered_input() {
        let k = key();
        let tag = k.tag(1_000, 0, server(), b"payload");
        assert!(k.verify(tag, 1_000, 0, server(), b"payload"));
        assert!(!k.verify(tag, 1_001, 0, server(), b"payload"));
        assert!(!k.verify(
            tag,
            1_000,
            0,
            "198.18.0.1:4434".parse().expect("addr"),
            b"payload"
        ));
        assert!(!k.verify(tag, 1_000, 0, server(), b"payloae"));
        let other_id = AuthKey::from_hex(8, "000102030405060708090a0b0c0d0e0f").expect("key");
        assert!(!other_id.verify(tag, 1_000, 0, server(), b"payload"));
    }

    #[test]
    fn tag_covers_the_header_flags() {
        let k = key();
        let tag = k.tag(1_000, 0, server(), b"payload");
        let direct_return = crate::encap::FLAG_DIRECT_RETURN;
        assert!(!k.verify(tag, 1_000, direct_return, server(), b"payload"));
    }

    #[test]
    fn key_flag_is_id_colon_hex() {
        assert_eq!(
            AuthKey::from_flag("3:000102030405060708090a0b0c0d0e0f").map(|k| k.id),
            Ok(3)
        );
        assert!(AuthKey::from_flag("000102030405060708090a0b0c0d0e0f").is_err());
        assert!(AuthKey::from_flag("300:000102030405060708090a0b0c0d0e0f").is_err());
        assert!(AuthKey::from_flag("3:0001").is_err());
    }

    #[test]
    fn secret_must_be_sixteen_hex_bytes_and_is_never_printed() {
        assert_eq!(AuthKey::from_hex(1, "00"), Err(KeySecretError));
        assert_eq!(
            AuthKey::from_hex(1, "zz0102030405060708090a0b0c0d0e0f"),
            Err(KeySecretError)
        );
        assert!(!format!("{:?}", key()).contains("0102"));
    }
}
