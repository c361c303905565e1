//! [`ConnHashKey`]: the secret that keys the hash of a connection id before Maglev reduces it
//! to a slot.
//!
//! The connection id is chosen by the client. Hashed with public constants (the splitmix64
//! finalizer), anyone can compute offline which ids land on which slot, and so aim a flood of
//! connections at one replica of the pool. Keyed with a secret (SipHash-1-3, 128-bit key, as the
//! backend permutations already use SipHash), the mapping is unknown outside the balancers.
//!
//! Balancers of one pool should share the key (`hash_key` in the configuration), so that they
//! map a connection to the same replica; without one each process draws a random key at start
//! (Trickles replicas serve any connection, so two balancers disagreeing only costs the
//! stickiness that keeps a connection's packets on one replica's caches). Every other datapath
//! of the balancer (XDP) must hash the same way.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// The key of the connection-id hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConnHashKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for ConnHashKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnHashKey(..)")
    }
}

/// Why text is not a hash key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("hash_key is 32 hex digits (16 bytes)")]
pub struct ConnHashKeyError;

impl ConnHashKey {
    /// The key of these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let (k0, k1) = bytes.split_at(8);
        ConnHashKey {
            k0: u64::from_le_bytes(k0.try_into().unwrap_or([0; 8])),
            k1: u64::from_le_bytes(k1.try_into().unwrap_or([0; 8])),
        }
    }

    /// The key written as 32 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, ConnHashKeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| ConnHashKeyError)?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| ConnHashKeyError)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from the operating system's random generator.
    pub fn random() -> Self {
        Self::from_bytes(rand::random())
    }

    /// A fixed, public key: for tests and benchmarks only.
    pub const fn public() -> Self {
        ConnHashKey {
            k0: 0x636f_6e6e_2d69_642d,
            k1: 0x6861_7368_2d6b_6579,
        }
    }

    /// The key's two words, as SipHash takes them (the XDP datapath hashes with them too).
    pub fn words(&self) -> (u64, u64) {
        (self.k0, self.k1)
    }

    /// The keyed hash of a connection id (uniform 64 bits: Maglev reduces its high bits).
    pub fn hash(&self, conn_id: u64) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.k0, self.k1);
        hasher.write_u64(conn_id);
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_key_maps_connection_ids_elsewhere() {
        let a = ConnHashKey::from_bytes([1; 16]);
        let b = ConnHashKey::from_bytes([2; 16]);
        let differ = (0..1_000u64).filter(|&id| a.hash(id) != b.hash(id)).count();
        assert_eq!(differ, 1_000);
        assert_eq!(a.hash(7), ConnHashKey::from_bytes([1; 16]).hash(7));
    }

    #[test]
    fn hex_key_is_sixteen_bytes_and_never_printed() {
        let key = ConnHashKey::from_hex("000102030405060708090a0b0c0d0e0f").expect("key");
        assert_eq!(
            key,
            ConnHashKey::from_bytes(core::array::from_fn(|i| i as u8))
        );
        assert!(ConnHashKey::from_hex("0001").is_err());
        assert!(ConnHashKey::from_hex("zz0102030405060708090a0b0c0d0e0f").is_err());
        assert_eq!(format!("{key:?}"), "ConnHashKey(..)");
    }
}
