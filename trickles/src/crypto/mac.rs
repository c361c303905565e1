//! The continuation MAC primitive: SipHash-2-4 with 128-bit output, and a constant-time tag
//! comparison.
//!
//! SipHash-2-4 is a PRF with a 128-bit key; its 128-bit-output variant gives a 16-byte tag.
//! It was the fastest real MAC on a ~100-byte continuation in our benchmark (see
//! `docs/MAC-CHOICE.md`), ahead of AES-128-CMAC, keyed BLAKE3 and HMAC-SHA256.
//!
//! The MAC is over the plain concatenation of the parts: the caller's encoding must make that
//! concatenation unambiguous (fixed-size fields, explicit lengths for variable ones).

use core::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher24};

use super::kdf::SUBKEY_LEN;
use super::TAG_LEN;

/// A SipHash-2-4-128 key, as the two little-endian 64-bit halves of a 16-byte subkey.
#[derive(Clone, Copy)]
pub(super) struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    pub(super) fn from_bytes(bytes: &[u8; SUBKEY_LEN]) -> Self {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&bytes[..8]);
        k1.copy_from_slice(&bytes[8..]);
        SipKey {
            k0: u64::from_le_bytes(k0),
            k1: u64::from_le_bytes(k1),
        }
    }

    /// A fresh SipHash-2-4-128 state under this key.
    pub(super) fn hasher(self) -> SipHasher24 {
        SipHasher24::new_with_keys(self.k0, self.k1)
    }
}

/// SipHash-2-4-128 of the concatenation of `parts`, as 16 bytes (two little-endian u64).
pub(super) fn tag(key: SipKey, parts: &[&[u8]]) -> [u8; TAG_LEN] {
    MacPrefix::new(key, parts).tag(&[])
}

/// A MAC state with a common prefix already absorbed: sealing several continuations that share
/// most of their bytes (the packets of one response) absorbs the shared part once.
#[derive(Clone)]
pub struct MacPrefix {
    state: SipHasher24,
}

impl MacPrefix {
    pub(super) fn new(key: SipKey, prefix: &[&[u8]]) -> Self {
        let mut state = key.hasher();
        for part in prefix {
            state.write(part);
        }
        MacPrefix { state }
    }

    /// The tag of `prefix || suffix`: equal to `Key::tag` over all the parts in order.
    pub fn tag(&self, suffix: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut state = self.state;
        for part in suffix {
            state.write(part);
        }
        state.finish128().as_bytes()
    }

    /// Constant-time check of `tag` against the tag of `prefix || suffix`.
    pub fn verify(&self, suffix: &[&[u8]], tag: &[u8]) -> bool {
        tags_equal(&self.tag(suffix), tag)
    }
}

impl core::fmt::Debug for MacPrefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MacPrefix").finish_non_exhaustive()
    }
}

/// Compares `expected` with `received` without a data-dependent branch or early exit.
/// A `received` of the wrong length is simply unequal (lengths are public).
pub(super) fn tags_equal(expected: &[u8; TAG_LEN], received: &[u8]) -> bool {
    let Ok(received) = <&[u8; TAG_LEN]>::try_from(received) else {
        return false;
    };
    let difference = u128::from_le_bytes(*expected) ^ u128::from_le_bytes(*received);
    core::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_matches_siphash128_reference_vector() {
        // First SipHash-2-4-128 vector of the authors' reference (vectors.h): key 00..0f,
        // empty message.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let expected: [u8; 16] = [
            0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55,
            0x02, 0x93,
        ];
        assert_eq!(tag(SipKey::from_bytes(&key), &[]), expected);
        assert_eq!(tag(SipKey::from_bytes(&key), &[&[], &[]]), expected);
    }

    #[test]
    fn tag_is_over_the_concatenation_of_parts() {
        let key = SipKey::from_bytes(&[3u8; 16]);
        let message: [u8; 96] = core::array::from_fn(|i| i as u8);
        let whole = tag(key, &[&message]);
        let split = tag(key, &[&message[..3], &[], &message[3..50], &message[50..]]);
        assert_eq!(whole, split);
    }

    #[test]
    fn prefix_then_suffix_equals_the_whole() {
        let key = SipKey::from_bytes(&[5u8; 16]);
        let message: [u8; 96] = core::array::from_fn(|i| (i * 3) as u8);
        for cut in [0, 1, 7, 8, 9, 80, 95, 96] {
            let prefix = MacPrefix::new(key, &[&message[..cut]]);
            assert_eq!(
                prefix.tag(&[&message[cut..]]),
                tag(key, &[&message]),
                "cut {cut}"
            );
        }
        let prefix = MacPrefix::new(key, &[&message[..50]]);
        let sealed = prefix.tag(&[&message[50..]]);
        assert!(prefix.verify(&[&message[50..]], &sealed));
        assert!(!prefix.verify(&[&message[51..]], &sealed));
        assert!(!format!("{prefix:?}").contains(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn tags_of_wrong_length_are_unequal() {
        let t = [9u8; TAG_LEN];
        assert!(tags_equal(&t, &t));
        assert!(!tags_equal(&t, &t[..15]));
        assert!(!tags_equal(&t, &[9u8; 17]));
        assert!(!tags_equal(&t, &[]));
    }
}
