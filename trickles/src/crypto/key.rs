//! One key epoch: the continuation MAC key and the nonce key, both derived from a 32-byte
//! secret shared by the replicas of a pool.

use core::fmt;

use rand::{CryptoRng, RngCore};

use super::kdf::{derive_subkey, Purpose};
use super::mac::{self, MacPrefix, SipKey};
use super::nonce;
use super::{SECRET_LEN, TAG_LEN};

/// One key epoch: a MAC key and a nonce key derived from a 32-byte secret.
///
/// The epoch number takes part in the derivation, so the same secret under two epoch numbers
/// gives unrelated keys. `Debug` shows the epoch only, never key material.
#[derive(Clone)]
pub struct Key {
    epoch: u8,
    mac_key: SipKey,
    nonce_key: SipKey,
}

impl Key {
    /// The key of epoch `epoch` derived from `secret`.
    pub fn from_secret(epoch: u8, secret: &[u8; SECRET_LEN]) -> Key {
        Key {
            epoch,
            mac_key: SipKey::from_bytes(&derive_subkey(secret, epoch, Purpose::ContinuationMac)),
            nonce_key: SipKey::from_bytes(&derive_subkey(secret, epoch, Purpose::PacketNonce)),
        }
    }

    /// A fresh random key of epoch `epoch`, with the secret to distribute to the other replicas.
    pub fn generate<R: RngCore + CryptoRng>(epoch: u8, rng: &mut R) -> (Key, [u8; SECRET_LEN]) {
        let mut secret = [0u8; SECRET_LEN];
        rng.fill_bytes(&mut secret);
        (Key::from_secret(epoch, &secret), secret)
    }

    /// The epoch this key seals under (carried in every continuation).
    pub fn epoch(&self) -> u8 {
        self.epoch
    }

    /// MAC over the concatenation of `parts` (no allocation).
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        mac::tag(self.mac_key, parts)
    }

    /// Constant-time check of `tag` against the MAC of `parts`.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        mac::tags_equal(&self.tag(parts), tag)
    }

    /// A MAC state with `prefix` absorbed, to seal several continuations that share it:
    /// `key.mac_prefix(p).tag(s)` equals `key.tag(p ++ s)`. Put the fields common to all the
    /// packets of one response first in the MAC input to profit from it.
    pub fn mac_prefix(&self, prefix: &[&[u8]]) -> MacPrefix {
        MacPrefix::new(self.mac_key, prefix)
    }

    /// r(j) of the nonce stream `stream` (a per-connection random u64).
    pub fn nonce_r(&self, stream: u64, j: u64) -> u32 {
        nonce::r(self.nonce_key, stream, j)
    }

    /// Nonce carried by packet `seq`: r(seq) ^ r(seq+1).
    pub fn packet_nonce(&self, stream: u64, seq: u64) -> u32 {
        nonce::adjacent_xor(self.nonce_key, stream, seq)
    }

    /// The packet nonces of `first_seq, first_seq + 1, ..` (as many as `out` holds), computed
    /// with one PRF call per four packets: what a server emitting a burst should use.
    pub fn fill_packet_nonces(&self, stream: u64, first_seq: u64, out: &mut [u32]) {
        nonce::fill_adjacent_xors(self.nonce_key, stream, first_seq, out);
    }

    /// Proof of a contiguous block [left, right] (inclusive): r(left) ^ r(right+1), which equals
    /// the XOR of the packet nonces of the block (telescoping).
    ///
    /// The caller checks `left <= right`; for other inputs the value is defined but proves
    /// nothing. Compare proofs with [`Key::range_nonce_matches`] (constant time).
    pub fn range_nonce(&self, stream: u64, left: u64, right: u64) -> u32 {
        self.nonce_r(stream, left) ^ self.nonce_r(stream, right.wrapping_add(1))
    }

    /// Constant-time check of a client's proof for the block [left, right].
    pub fn range_nonce_matches(&self, stream: u64, left: u64, right: u64, proof: u32) -> bool {
        let difference = self.range_nonce(stream, left, right) ^ proof;
        core::hint::black_box(difference) == 0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const SECRET: [u8; SECRET_LEN] = [0x42; SECRET_LEN];

    /// A typical continuation: pseudo-header, transport fields and a user continuation.
    fn continuation() -> ([u8; 18], [u8; 52], [u8; 26]) {
        (
            core::array::from_fn(|i| i as u8),
            core::array::from_fn(|i| (i * 7) as u8),
            core::array::from_fn(|i| (i * 13 + 1) as u8),
        )
    }

    #[test]
    fn tag_then_verify_round_trips() {
        let key = Key::from_secret(1, &SECRET);
        let (header, fields, ucont) = continuation();
        let tag = key.tag(&[&header, &fields, &ucont]);
        assert!(key.verify(&[&header, &fields, &ucont], &tag));
        assert!(key.verify(&[&header, &fields[..10], &fields[10..], &ucont], &tag));
    }

    #[test]
    fn any_single_bit_flip_of_input_or_tag_is_rejected() {
        let key = Key::from_secret(1, &SECRET);
        let (header, fields, ucont) = continuation();
        let mut message = [0u8; 96];
        message[..18].copy_from_slice(&header);
        message[18..70].copy_from_slice(&fields);
        message[70..].copy_from_slice(&ucont);
        let tag = key.tag(&[&message]);
        for bit in 0..message.len() * 8 {
            let mut flipped = message;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !key.verify(&[&flipped], &tag),
                "input bit {bit} flip accepted"
            );
        }
        for bit in 0..TAG_LEN * 8 {
            let mut flipped = tag;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !key.verify(&[&message], &flipped),
                "tag bit {bit} flip accepted"
            );
        }
    }

    #[test]
    fn truncated_or_extended_input_is_rejected() {
        let key = Key::from_secret(1, &SECRET);
        let message = [5u8; 96];
        let tag = key.tag(&[&message]);
        assert!(!key.verify(&[&message[..95]], &tag));
        assert!(!key.verify(&[&message, &[5]], &tag));
        assert!(!key.verify(&[&message], &tag[..8]));
    }

    #[test]
    fn different_epochs_or_secrets_give_different_tags() {
        let message = [1u8; 96];
        let base = Key::from_secret(1, &SECRET).tag(&[&message]);
        let other_epoch = Key::from_secret(2, &SECRET).tag(&[&message]);
        let mut other_secret = SECRET;
        other_secret[31] ^= 1;
        let other_secret = Key::from_secret(1, &other_secret).tag(&[&message]);
        assert_ne!(base, other_epoch);
        assert_ne!(base, other_secret);
        assert_ne!(other_epoch, other_secret);
        assert!(!Key::from_secret(2, &SECRET).verify(&[&message], &base));
    }

    #[test]
    fn derivation_is_pinned() {
        // Pins the whole chain (HKDF-SHA256 -> SipHash-2-4-128) so an accidental change of the
        // derivation, which would break interoperability between replicas, fails here.
        let secret: [u8; SECRET_LEN] = core::array::from_fn(|i| i as u8);
        let key = Key::from_secret(7, &secret);
        let tag = key.tag(&[b"trickles"]);
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PINNED_TAG_HEX);
        let nonces: [u32; 4] =
            core::array::from_fn(|j| key.nonce_r(0x0123_4567_89ab_cdef, j as u64));
        assert_eq!(nonces, PINNED_NONCES);
    }

    const PINNED_TAG_HEX: &str = "6505647e8a86974d83290c0f6b2d7e27";
    const PINNED_NONCES: [u32; 4] = [2942011705, 1469424303, 1418930821, 1123136331];

    #[test]
    fn debug_hides_the_secret_and_derived_keys() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (key, secret) = Key::generate(3, &mut rng);
        let shown = format!("{key:?} {key:#?}");
        assert!(shown.contains("epoch: 3"), "{shown}");
        let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&secret_hex[..8]), "{shown}");
        for k in [key.mac_key, key.nonce_key] {
            let (k0, k1) = k.hasher().keys();
            for word in [k0, k1] {
                assert!(!shown.contains(&word.to_string()), "{shown}");
                assert!(!shown.contains(&format!("{word:x}")), "{shown}");
            }
        }
        assert!(
            !shown.contains('['),
            "no byte array may be printed: {shown}"
        );
    }

    #[test]
    fn generated_keys_differ_and_match_their_secret() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (a, secret_a) = Key::generate(0, &mut rng);
        let (b, secret_b) = Key::generate(0, &mut rng);
        assert_ne!(secret_a, secret_b);
        assert_ne!(a.tag(&[b"x"]), b.tag(&[b"x"]));
        assert_eq!(a.tag(&[b"x"]), Key::from_secret(0, &secret_a).tag(&[b"x"]));
    }

    #[test]
    fn different_streams_give_different_nonce_sequences() {
        let key = Key::from_secret(1, &SECRET);
        let first: Vec<u32> = (0..64).map(|j| key.nonce_r(1, j)).collect();
        let second: Vec<u32> = (0..64).map(|j| key.nonce_r(2, j)).collect();
        let equal_positions = first.iter().zip(&second).filter(|(a, b)| a == b).count();
        assert_eq!(equal_positions, 0);
    }

    #[test]
    fn nonces_depend_on_the_epoch() {
        let old = Key::from_secret(1, &SECRET);
        let new = Key::from_secret(2, &SECRET);
        assert_ne!(old.packet_nonce(5, 10), new.packet_nonce(5, 10));
    }

    #[test]
    fn packet_nonce_is_xor_of_adjacent_r() {
        let key = Key::from_secret(1, &SECRET);
        for seq in 0..12 {
            let expected = key.nonce_r(77, seq) ^ key.nonce_r(77, seq + 1);
            assert_eq!(key.packet_nonce(77, seq), expected, "seq {seq}");
        }
        let last = u64::MAX;
        assert_eq!(
            key.packet_nonce(77, last),
            key.nonce_r(77, last) ^ key.nonce_r(77, 0)
        );
    }

    #[test]
    fn range_nonce_check_rejects_a_wrong_proof() {
        let key = Key::from_secret(1, &SECRET);
        let proof = key.range_nonce(9, 3, 40);
        assert!(key.range_nonce_matches(9, 3, 40, proof));
        assert!(!key.range_nonce_matches(9, 3, 40, proof ^ 1));
        assert!(!key.range_nonce_matches(9, 3, 41, proof));
    }

    proptest! {
        #[test]
        fn range_nonce_equals_xor_of_packet_nonces(
            stream in any::<u64>(),
            left in 0u64..1_000_000,
            len in 1u64..200,
        ) {
            let key = Key::from_secret(4, &SECRET);
            let right = left + len - 1;
            let xor = (left..=right).fold(0u32, |acc, seq| acc ^ key.packet_nonce(stream, seq));
            prop_assert_eq!(key.range_nonce(stream, left, right), xor);
        }

        #[test]
        fn batched_packet_nonces_equal_single_ones(
            stream in any::<u64>(),
            first in 0u64..1_000_000,
            len in 0usize..40,
        ) {
            let key = Key::from_secret(4, &SECRET);
            let mut batch = vec![0u32; len];
            key.fill_packet_nonces(stream, first, &mut batch);
            for (i, nonce) in batch.iter().enumerate() {
                prop_assert_eq!(*nonce, key.packet_nonce(stream, first + i as u64));
            }
        }
    }
}
