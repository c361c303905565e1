//! One generation of the replay filter: a *blocked* Bloom filter over uniform 64-bit tokens,
//! and its sizing.
//!
//! A token picks one 512-bit block (one 64-byte cache line) and sets its `k` bits inside it, so
//! a lookup costs one cache miss instead of `k` (the filter is on every request's path and much
//! larger than the CPU caches; profiling the server showed the unblocked filter as its hottest
//! userspace function). The `k` positions inside the block are independent 9-bit fields of a
//! stream of mixed words (seven per word). Double hashing (`h1 + i·h2`), fine over a large
//! array, is not used inside a block: over only 512 positions two tokens share their whole
//! progression with probability ~1/2^18, which put a floor of ~2e-4 under the false-positive
//! rate whatever the size (measured: 2.4e-4 for a 1e-6 target).
//!
//! Blocking costs false positives: blocks receive a Poisson-distributed number of tokens, and
//! crowded blocks answer "seen" more often. [`size_for`] accounts for it with the standard model
//! of blocked Bloom filters (Putze, Sanders, Singler 2007), so the requested rate holds:
//! `FP = Σ_i Poisson(i; λ = 512·n/m) · (1 − e^(−k·i/512))^k`. At 1 % per generation that costs
//! about 6 % more bits than an unblocked filter; at 1e-6 about 40 %.
//!
//! The words are atomics so that every worker thread of a server process shares one filter
//! without a lock: a lookup is relaxed loads, an insertion one `fetch_or` per probe.

use core::sync::atomic::{AtomicU64, Ordering};

/// Bits per storage word.
const WORD_BITS: usize = 64;
/// Words of one block: a token's bits all fall in one 64-byte cache line.
const BLOCK_WORDS: usize = 8;
/// Bits of one block.
const BLOCK_BITS: usize = BLOCK_WORDS * WORD_BITS;
/// Most probe positions per token (more only costs time).
pub(super) const MAX_HASHES: u32 = 32;

/// A blocked Bloom filter's bit array, shared between threads.
pub(super) struct BloomBits {
    words: Vec<AtomicU64>,
}

impl BloomBits {
    /// At least `bits` bits, rounded up to whole blocks (at least one). Every page of the array
    /// is written once here (`vec![0; n]` alone maps zero pages lazily), so all its memory is
    /// resident from the start: the server's RSS is then flat from its first request instead of
    /// creeping up as traffic touches more pages, and no page fault lands on a request's path.
    /// One write per page, not per word: a debug build makes megabytes in milliseconds.
    pub(super) fn new(bits: usize) -> Self {
        const WORDS_PER_PAGE: usize = 4096 / core::mem::size_of::<u64>();
        let blocks = bits.div_ceil(BLOCK_BITS).max(1);
        let mut words = vec![0u64; blocks * BLOCK_WORDS];
        for word in words.iter_mut().step_by(WORDS_PER_PAGE) {
            // SAFETY: a plain write through a valid reference; volatile so it is not elided.
            unsafe { core::ptr::write_volatile(word, 0) };
        }
        BloomBits {
            words: into_atomic(words),
        }
    }

    pub(super) fn bit_len(&self) -> usize {
        self.words.len() * WORD_BITS
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.words.capacity() * core::mem::size_of::<u64>()
    }

    /// True if all `hashes` bits of `token` are set.
    pub(super) fn contains(&self, token: u64, hashes: u32) -> bool {
        let base = self.block_of(token);
        Probes::new(token, hashes).all(|bit| {
            let (word, mask) = locate(base, bit);
            self.words
                .get(word)
                .is_some_and(|w| w.load(Ordering::Relaxed) & mask != 0)
        })
    }

    /// Sets the `hashes` bits of `token`; true if at least one of them was not set before
    /// (the token was absent), false if all were (present, or a false positive).
    pub(super) fn insert(&self, token: u64, hashes: u32) -> bool {
        let base = self.block_of(token);
        let mut absent = false;
        for bit in Probes::new(token, hashes) {
            let (word, mask) = locate(base, bit);
            if let Some(w) = self.words.get(word) {
                absent |= w.fetch_or(mask, Ordering::Relaxed) & mask == 0;
            }
        }
        absent
    }

    pub(super) fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// First word of the token's block (multiply-shift of an independent mix onto the blocks).
    fn block_of(&self, token: u64) -> usize {
        let blocks = (self.words.len() / BLOCK_WORDS) as u128;
        let block = ((mix64(token ^ 0x5851_f42d_4c95_7f2d) as u128 * blocks) >> 64) as usize;
        block * BLOCK_WORDS
    }
}

impl core::fmt::Debug for BloomBits {
    /// Sizes and fill only: the array itself can be megabytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let set: u32 = self
            .words
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum();
        f.debug_struct("BloomBits")
            .field("bits", &self.bit_len())
            .field("set", &set)
            .finish()
    }
}

/// The same words as atomics, without copying them.
fn into_atomic(words: Vec<u64>) -> Vec<AtomicU64> {
    // `AtomicU64` has the size and bit validity of `u64`; where it is also as aligned (every
    // 64-bit target), a `Vec<u64>` is a valid `Vec<AtomicU64>`.
    const _: () = assert!(
        core::mem::size_of::<AtomicU64>() == core::mem::size_of::<u64>()
            && core::mem::align_of::<AtomicU64>() == core::mem::align_of::<u64>()
    );
    let mut words = core::mem::ManuallyDrop::new(words);
    let (pointer, length, capacity) = (words.as_mut_ptr(), words.len(), words.capacity());
    // SAFETY: same size, alignment and bit validity (asserted above); the allocation moves
    // from the old vector, which is never dropped, to the new one.
    unsafe { Vec::from_raw_parts(pointer.cast::<AtomicU64>(), length, capacity) }
}

/// Word index and bit mask of bit `bit` (< 512) of the block starting at word `base`.
fn locate(base: usize, bit: usize) -> (usize, u64) {
    (base + bit / WORD_BITS, 1u64 << (bit % WORD_BITS))
}

/// Bits of one probe position inside a block (`BLOCK_BITS = 2^9`).
const POSITION_BITS: u32 = BLOCK_BITS.trailing_zeros();
/// Positions drawn from one 64-bit word.
const POSITIONS_PER_WORD: u32 = u64::BITS / POSITION_BITS;
/// Odd constant (2^64 / golden ratio) separating the words of one token's stream.
const WORD_STREAM_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// The `k` probe positions of one token inside its block: 9-bit fields of
/// `mix64(token + j·φ)`, j = 1, 2, … (the block itself is chosen from `mix64(token ^ c)`).
struct Probes {
    token: u64,
    word_index: u64,
    word: u64,
    left_in_word: u32,
    remaining: u32,
}

impl Probes {
    fn new(token: u64, hashes: u32) -> Self {
        Probes {
            token,
            word_index: 0,
            word: 0,
            left_in_word: 0,
            remaining: hashes,
        }
    }
}

impl Iterator for Probes {
    /// A bit position in `0..BLOCK_BITS`.
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if self.left_in_word == 0 {
            self.word_index += 1;
            let seed = self
                .token
                .wrapping_add(self.word_index.wrapping_mul(WORD_STREAM_STEP));
            self.word = mix64(seed);
            self.left_in_word = POSITIONS_PER_WORD;
        }
        self.left_in_word -= 1;
        let bit = (self.word as usize) & (BLOCK_BITS - 1);
        self.word >>= POSITION_BITS;
        Some(bit)
    }
}

/// The SplitMix64 finaliser: a bijective mixer of 64-bit words.
pub(super) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Bits and probes per token for a blocked filter holding `entries` tokens at false-positive
/// rate at most `fp` (in `(0, 1)`, as the caller guarantees): starts from the unblocked optimum
/// and grows the bits by 2 % steps, with the best `k` at each size, until the model meets `fp`.
pub(super) fn size_for(entries: usize, fp: f64) -> (usize, u32) {
    let ln2 = core::f64::consts::LN_2;
    let entries = entries.max(1) as f64;
    let mut bits_per_entry = -fp.ln() / (ln2 * ln2);
    let mut best = best_hashes(bits_per_entry);
    // 120 steps of 2 % is 10×: far beyond what any rate in range needs.
    for _ in 0..120 {
        if best.1 <= fp {
            break;
        }
        bits_per_entry *= 1.02;
        best = best_hashes(bits_per_entry);
    }
    // Float-to-int `as` saturates, so absurd capacities cannot wrap.
    ((entries * bits_per_entry).ceil() as usize, best.0)
}

/// The `k` with the lowest modelled false-positive rate at `bits_per_entry`, and that rate.
fn best_hashes(bits_per_entry: f64) -> (u32, f64) {
    (1..=MAX_HASHES)
        .map(|k| (k, blocked_false_positive_rate(bits_per_entry, k)))
        .fold((1, f64::INFINITY), |best, candidate| {
            if candidate.1 < best.1 {
                candidate
            } else {
                best
            }
        })
}

/// Modelled false-positive rate of a blocked filter: the block load is Poisson with mean
/// `λ = BLOCK_BITS / bits_per_entry`; a block holding `i` tokens answers like a classic filter
/// of `BLOCK_BITS` bits.
pub(super) fn blocked_false_positive_rate(bits_per_entry: f64, hashes: u32) -> f64 {
    let block_bits = BLOCK_BITS as f64;
    let mean_load = block_bits / bits_per_entry;
    let last = (mean_load + 12.0 * mean_load.sqrt() + 30.0) as u32;
    let k = f64::from(hashes);
    let mut ln_poisson = -mean_load; // ln P(load = 0)
    let mut rate = 0.0;
    for load in 1..=last {
        let i = f64::from(load);
        ln_poisson += mean_load.ln() - i.ln();
        let classic = (1.0 - (-k * i / block_bits).exp()).powi(hashes as i32);
        rate += ln_poisson.exp() * classic;
    }
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_tokens_are_contained_and_others_mostly_not() {
        let bits = BloomBits::new(1 << 16);
        for t in 0..1_000u64 {
            assert!(bits.insert(mix64(t), 7), "{t} taken for present");
        }
        assert!(
            !bits.insert(mix64(7), 7),
            "a second insertion finds it present"
        );
        assert!((0..1_000u64).all(|t| bits.contains(mix64(t), 7)));
        let strangers = (1_000..11_000u64)
            .filter(|&t| bits.contains(mix64(t), 7))
            .count();
        // ~65 bits per entry: the false-positive rate is far below 1 %.
        assert!(strangers < 100, "{strangers}");
        bits.clear();
        assert!(!bits.contains(mix64(1), 7));
    }

    #[test]
    fn probes_are_in_range_and_differ_between_tokens() {
        let a: Vec<usize> = Probes::new(1, MAX_HASHES).collect();
        let b: Vec<usize> = Probes::new(2, MAX_HASHES).collect();
        assert_eq!(a.len(), MAX_HASHES as usize);
        assert!(a.iter().chain(&b).all(|&bit| bit < BLOCK_BITS));
        assert!(a.iter().zip(&b).filter(|(x, y)| x == y).count() < 4);
    }

    #[test]
    fn sizes_round_up_to_whole_cache_line_blocks() {
        assert_eq!(BloomBits::new(0).bit_len(), 512);
        assert_eq!(BloomBits::new(513).bit_len(), 1024);
        assert_eq!(BloomBits::new(1024).heap_bytes(), 128);
    }

    #[test]
    fn sizing_pays_for_blocking_with_extra_bits() {
        let ln2 = core::f64::consts::LN_2;
        for fp in [0.01, 1e-3, 5e-7] {
            let (bits, k) = size_for(10_000, fp);
            let classic = -10_000.0 * fp.ln() / (ln2 * ln2);
            let ratio = bits as f64 / classic;
            assert!(
                (1.0..1.6).contains(&ratio),
                "fp {fp}: {ratio}× the classic size"
            );
            assert!(blocked_false_positive_rate(bits as f64 / 10_000.0, k) <= fp);
        }
    }

    #[test]
    fn blocked_model_is_worse_than_the_classic_formula() {
        // At 20 bits per entry and k = 14 the classic rate is ~6.7e-5; blocking raises it.
        let classic = (1.0 - (-14.0f64 / 20.0).exp()).powi(14);
        let blocked = blocked_false_positive_rate(20.0, 14);
        assert!(
            blocked > classic && blocked < 10.0 * classic,
            "{blocked} vs {classic}"
        );
    }
}
