//! The nonce stream `r(j)` of a connection: a PRF in counter mode, four 32-bit words per call.
//!
//! ```text
//! block(stream, b) = SipHash-2-4-128(nonce_key, le64(stream) || le64(b))    (16 bytes: w0..w3,
//!                                                                            each a le32)
//! r(j)             = w[j mod 4] of block(stream, j div 4)
//! ```
//!
//! `stream` is a random per-connection value (the continuation's `token_base`), so two
//! connections never share nonces even though both start at seq 1 (the original indexed its
//! stream by seq alone). A packet nonce `r(seq) ^ r(seq+1)` costs one PRF call three times in
//! four; a range nonce costs at most two.

use core::hash::Hasher;

use siphasher::sip128::Hasher128;

use super::mac::SipKey;

/// Number of `r` words one PRF call yields.
const WORDS_PER_BLOCK: u64 = 4;

/// The four words `r(4b) .. r(4b+3)` of block `b` of nonce stream `stream`.
pub(super) fn block(key: SipKey, stream: u64, b: u64) -> [u32; 4] {
    let mut hasher = key.hasher();
    hasher.write(&stream.to_le_bytes());
    hasher.write(&b.to_le_bytes());
    let bytes = hasher.finish128().as_bytes();
    core::array::from_fn(|i| {
        u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    })
}

/// `r(j)` of nonce stream `stream`.
pub(super) fn r(key: SipKey, stream: u64, j: u64) -> u32 {
    block(key, stream, j / WORDS_PER_BLOCK)[(j % WORDS_PER_BLOCK) as usize]
}

/// `r(j) ^ r(j+1)`, sharing the PRF call when both words are in one block. `j + 1` wraps
/// (sequence numbers never get near `u64::MAX`; wrapping keeps the function total).
pub(super) fn adjacent_xor(key: SipKey, stream: u64, j: u64) -> u32 {
    let index = (j % WORDS_PER_BLOCK) as usize;
    let words = block(key, stream, j / WORDS_PER_BLOCK);
    if index + 1 < WORDS_PER_BLOCK as usize {
        words[index] ^ words[index + 1]
    } else {
        words[index] ^ r(key, stream, j.wrapping_add(1))
    }
}

/// Writes the packet nonces of `first_seq, first_seq + 1, ...` into `out`, one PRF call per
/// four packets.
pub(super) fn fill_adjacent_xors(key: SipKey, stream: u64, first_seq: u64, out: &mut [u32]) {
    let mut j = first_seq;
    let mut b = j / WORDS_PER_BLOCK;
    let mut words = block(key, stream, b);
    let mut current = words[(j % WORDS_PER_BLOCK) as usize];
    for nonce in out.iter_mut() {
        let next_j = j.wrapping_add(1);
        let next_b = next_j / WORDS_PER_BLOCK;
        if next_b != b {
            b = next_b;
            words = block(key, stream, b);
        }
        let next = words[(next_j % WORDS_PER_BLOCK) as usize];
        *nonce = current ^ next;
        current = next;
        j = next_j;
    }
}
