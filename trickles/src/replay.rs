//! The replay filter: bounded soft state that lets a stateless server answer each request once.
//!
//! A server cannot remember which continuations it has consumed, yet a replayed request must not
//! trigger a second burst of packets. Continuations carry a MAC'ed server timestamp, so requests
//! older than the freshness limit are refused outright; this filter only has to remember the
//! requests accepted within that window. It does so with two generations of Bloom filters:
//! tokens are inserted into the *current* generation and looked up in both; every `generation`
//! the current one becomes the previous one and the oldest is cleared. An entry is therefore
//! remembered for at least one and at most two generations, so `generation` should be at least
//! the freshness limit.
//!
//! Memory is fixed at construction and independent of the number of connections. A Bloom filter
//! has false positives (a fresh request wrongly taken for a replay: the client retries after
//! its timeout) but no false negatives. Losing the filter (a restart) exposes at most one
//! freshness window to replays.
//!
//! Tokens are already uniformly distributed 64-bit hashes. The filters are *blocked*: a token
//! picks one 512-bit block (one cache line) and its `k` probe positions, from double hashing
//! (`g_i = h1 + i·h2`, Kirsch–Mitzenmacher), all fall inside it. A lookup is then one cache miss
//! instead of `k`: profiling the server showed the unblocked filter (k ≈ 21 misses over
//! megabytes) as its hottest userspace function. Blocking raises the false-positive rate at very
//! low targets (roughly 10× at the server's default 1e-6, i.e. still ~1e-5: one request in
//! 100,000 taken for a replay, which the client sees as a loss).

use crate::time::{Duration, Instant};

/// Bits per storage word.
const WORD_BITS: usize = 64;

/// Smallest bit array we build (one word).
const MIN_BITS: usize = WORD_BITS;

/// Most probe positions per token (more only costs time: the optimum for 1e-9 is 30).
const MAX_HASHES: u32 = 32;

/// Bounded soft-state replay filter: two generations of Bloom filters rotated every
/// `generation` (so an entry is remembered for at least one and at most two generations).
/// Memory is fixed at construction, independent of the number of connections.
#[derive(Clone, Debug)]
pub struct ReplayFilter {
    current: BloomBits,
    previous: BloomBits,
    hashes: u32,
    generation: Duration,
    /// Start of the current generation; `None` until the first token arrives.
    current_since: Option<Instant>,
}

impl ReplayFilter {
    /// A filter of `bits_per_generation` bits (rounded up to a multiple of 64, at least 64) per
    /// generation, probing `hashes` positions per token (clamped to 1..=32), rotating every
    /// `generation` (at least 1 µs).
    pub fn new(bits_per_generation: usize, hashes: u32, generation: Duration) -> Self {
        let words = bits_per_generation.max(MIN_BITS).div_ceil(WORD_BITS);
        ReplayFilter {
            current: BloomBits::new(words),
            previous: BloomBits::new(words),
            hashes: hashes.clamp(1, MAX_HASHES),
            generation: Duration(generation.micros().max(1)),
            current_since: None,
        }
    }

    /// Size for `entries` insertions per generation at false-positive rate `fp`.
    ///
    /// A lookup consults both generations, so each is sized for `fp / 2`: with both full, the
    /// rate of the whole filter stays at about `fp`. `fp` is clamped to `[1e-9, 0.5]`.
    pub fn with_capacity(entries: usize, fp: f64, generation: Duration) -> Self {
        let per_generation_fp = if fp.is_nan() {
            0.5
        } else {
            fp.clamp(1e-9, 0.5)
        } / 2.0;
        let entries = entries.max(1) as f64;
        let ln2 = core::f64::consts::LN_2;
        let bits = (-entries * per_generation_fp.ln() / (ln2 * ln2)).ceil();
        let hashes = (bits / entries * ln2).round();
        // Float-to-int `as` saturates, so absurd capacities cannot wrap.
        ReplayFilter::new(bits as usize, hashes as u32, generation)
    }

    /// True if `token` was not seen within the last generation(s) — and records it;
    /// false if it is a replay (or a false positive).
    pub fn check_and_insert(&mut self, now: Instant, token: u64) -> bool {
        self.rotate_to(now);
        let probes = Probes::new(token, self.hashes);
        if self.current.contains_all(token, probes.clone())
            || self.previous.contains_all(token, probes.clone())
        {
            return false;
        }
        self.current.insert_all(token, probes);
        true
    }

    /// Bytes held by the filter: its fixed-size struct plus both bit arrays.
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of::<Self>() + self.current.heap_bytes() + self.previous.heap_bytes()
    }

    /// Probe positions per token.
    pub fn hashes(&self) -> u32 {
        self.hashes
    }

    /// Bits per generation.
    pub fn bits_per_generation(&self) -> usize {
        self.current.bit_len()
    }

    /// Advances the generations to `now`. Robust to clock jumps: a jump forward over two or
    /// more generations clears both; a jump backward by more than a generation restarts the
    /// current generation at `now` (keeping what it remembers), so it cannot last for ever.
    fn rotate_to(&mut self, now: Instant) {
        let Some(since) = self.current_since else {
            self.current_since = Some(now);
            return;
        };
        let generation = self.generation.micros();
        if now < since {
            if since.micros() - now.micros() > generation {
                self.current_since = Some(now);
            }
            return;
        }
        let elapsed_generations = (now.micros() - since.micros()) / generation;
        match elapsed_generations {
            0 => {}
            1 => {
                core::mem::swap(&mut self.current, &mut self.previous);
                self.current.clear();
                self.current_since = Some(Instant(since.micros() + generation));
            }
            _ => {
                self.current.clear();
                self.previous.clear();
                // `elapsed * generation <= now - since`, so this cannot overflow.
                let start = since.micros() + elapsed_generations * generation;
                self.current_since = Some(Instant(start));
            }
        }
    }
}

/// The `k` bit positions of one token, by double hashing.
#[derive(Clone)]
struct Probes {
    next: u64,
    step: u64,
    remaining: u32,
}

impl Probes {
    fn new(token: u64, hashes: u32) -> Self {
        Probes {
            next: token,
            // An odd step derived by a bijective mixer, so the k probes never coincide.
            step: mix64(token) | 1,
            remaining: hashes,
        }
    }
}

impl Iterator for Probes {
    /// A uniform 64-bit value; [`BloomBits`] maps it onto its bit range.
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let value = self.next;
        self.next = self.next.wrapping_add(self.step);
        Some(value)
    }
}

/// The SplitMix64 finaliser: a bijective mixer of 64-bit words.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Words of one block: a token's bits all fall in one 64-byte cache line.
const BLOCK_WORDS: usize = 8;
/// Bits of one block.
const BLOCK_BITS: u64 = (BLOCK_WORDS * WORD_BITS) as u64;

/// One Bloom filter's bit array, *blocked*: each token picks one cache-line-sized block and sets
/// its `k` bits inside it, so a lookup costs one cache miss instead of `k` (the filter is on
/// every request's path and much larger than the CPU caches). The price is a slightly higher
/// false-positive rate for the same memory, which `ReplayFilter::with_capacity` pays for with
/// extra bits.
#[derive(Clone, Debug)]
struct BloomBits {
    words: Vec<u64>,
}

impl BloomBits {
    fn new(words: usize) -> Self {
        BloomBits {
            words: vec![0; words.div_ceil(BLOCK_WORDS).max(1) * BLOCK_WORDS],
        }
    }

    fn bit_len(&self) -> usize {
        self.words.len() * WORD_BITS
    }

    fn heap_bytes(&self) -> usize {
        self.words.capacity() * core::mem::size_of::<u64>()
    }

    /// First word of the token's block (multiply-shift of an independent mix onto the blocks).
    fn block_of(&self, token: u64) -> usize {
        let blocks = (self.words.len() / BLOCK_WORDS) as u128;
        let block = ((mix64(token ^ 0x5851_f42d_4c95_7f2d) as u128 * blocks) >> 64) as usize;
        block * BLOCK_WORDS
    }

    /// Word index and bit mask of a uniform 64-bit probe inside the block starting at `base`.
    fn locate(base: usize, probe: u64) -> (usize, u64) {
        let bit = (((probe as u128) * u128::from(BLOCK_BITS)) >> 64) as usize;
        (base + bit / WORD_BITS, 1u64 << (bit % WORD_BITS))
    }

    fn contains_all(&self, token: u64, mut probes: Probes) -> bool {
        let base = self.block_of(token);
        probes.all(|probe| {
            let (word, mask) = Self::locate(base, probe);
            self.words.get(word).is_some_and(|w| w & mask != 0)
        })
    }

    fn insert_all(&mut self, token: u64, probes: Probes) {
        let base = self.block_of(token);
        for probe in probes {
            let (word, mask) = Self::locate(base, probe);
            if let Some(w) = self.words.get_mut(word) {
                *w |= mask;
            }
        }
    }

    fn clear(&mut self) {
        self.words.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATION: Duration = Duration::from_secs(2);

    fn filter() -> ReplayFilter {
        ReplayFilter::with_capacity(10_000, 0.01, GENERATION)
    }

    /// Distinct, uniformly distributed tokens (as the server's token hashes are).
    fn token(i: u64) -> u64 {
        mix64(i ^ 0x5eed_0000_0000_0000)
    }

    #[test]
    fn fresh_token_passes_once_then_is_rejected() {
        let mut f = filter();
        let now = Instant(1_000_000);
        assert!(f.check_and_insert(now, token(1)));
        assert!(!f.check_and_insert(now, token(1)));
        assert!(!f.check_and_insert(now + Duration(10), token(1)));
        assert!(f.check_and_insert(now, token(2)));
    }

    #[test]
    fn token_survives_one_rotation_and_is_forgotten_after_two() {
        let mut f = filter();
        let start = Instant(5_000_000);
        assert!(f.check_and_insert(start, token(1)));
        // Inserted at the very start of its generation: still known just before the end of the
        // next one (one rotation), forgotten at the second rotation.
        let just_before_second_rotation = start + GENERATION + Duration(GENERATION.micros() - 1);
        assert!(!f.check_and_insert(start + GENERATION, token(1)));
        assert!(!f.check_and_insert(just_before_second_rotation, token(1)));
        assert!(f.check_and_insert(start + GENERATION + GENERATION, token(1)));
    }

    #[test]
    fn token_inserted_late_in_a_generation_is_remembered_a_full_generation() {
        let mut f = filter();
        let start = Instant(0);
        assert!(f.check_and_insert(start, token(100)));
        let late = start + Duration(GENERATION.micros() - 1);
        assert!(f.check_and_insert(late, token(1)));
        let one_generation_later = late + GENERATION;
        assert!(!f.check_and_insert(one_generation_later, token(1)));
    }

    #[test]
    fn forward_jump_over_two_generations_clears_both() {
        let mut f = filter();
        let start = Instant(0);
        assert!(f.check_and_insert(start, token(1)));
        assert!(f.check_and_insert(start + GENERATION, token(2)));
        let far = start + Duration(GENERATION.micros() * 50 + 17);
        assert!(f.check_and_insert(far, token(1)));
        assert!(f.check_and_insert(far, token(2)));
        assert!(!f.check_and_insert(far, token(2)));
    }

    #[test]
    fn backward_jump_keeps_entries_and_restarts_the_generation() {
        let mut f = filter();
        let start = Instant(100_000_000);
        assert!(f.check_and_insert(start, token(1)));
        let past = Instant(1_000);
        assert!(!f.check_and_insert(past, token(1)));
        // The generation now runs from `past`: two generations later the token is gone.
        assert!(!f.check_and_insert(past + GENERATION, token(1)));
        assert!(f.check_and_insert(past + GENERATION + GENERATION, token(1)));
    }

    #[test]
    fn memory_is_constant_after_a_million_insertions() {
        let mut f = ReplayFilter::with_capacity(100_000, 0.01, GENERATION);
        let before = f.memory_bytes();
        let mut now = Instant(0);
        for i in 0..1_000_000u64 {
            if i % 100_000 == 0 {
                now = now + GENERATION;
            }
            f.check_and_insert(now, token(i));
        }
        assert_eq!(f.memory_bytes(), before);
        assert!(before < 1 << 20, "{before} bytes for 1e5 entries at 1%");
    }

    #[test]
    fn false_positive_rate_at_capacity_is_within_twice_the_target() {
        const ENTRIES: u64 = 100_000;
        const TARGET: f64 = 0.01;
        let mut f = ReplayFilter::with_capacity(ENTRIES as usize, TARGET, GENERATION);
        // Fill both generations to capacity: the worst case a lookup sees.
        let start = Instant(0);
        for i in 0..ENTRIES {
            f.check_and_insert(start, token(i));
        }
        for i in ENTRIES..2 * ENTRIES {
            f.check_and_insert(start + GENERATION, token(i));
        }
        let false_positives = (2 * ENTRIES..3 * ENTRIES)
            .filter(|&i| {
                let probes = Probes::new(token(i), f.hashes);
                f.current.contains_all(token(i), probes.clone())
                    || f.previous.contains_all(token(i), probes)
            })
            .count();
        let rate = false_positives as f64 / ENTRIES as f64;
        assert!(rate <= 2.0 * TARGET, "false-positive rate {rate}");
        assert!(
            rate >= TARGET / 2.0,
            "suspiciously low rate {rate}: sizing is off"
        );
    }

    #[test]
    fn sizing_follows_the_bloom_formula() {
        let f = ReplayFilter::with_capacity(1_000, 0.02, GENERATION);
        // Per generation at 1%: m = n·ln(100)/ln²2 ≈ 9.59 bits per entry, k ≈ 6.6.
        // Rounded up to whole 512-bit blocks.
        assert!((9_500..=9_728).contains(&f.bits_per_generation()));
        assert_eq!(f.hashes(), 7);
    }

    #[test]
    fn degenerate_parameters_do_not_panic() {
        let mut tiny = ReplayFilter::new(0, 0, Duration::ZERO);
        assert!(tiny.check_and_insert(Instant(0), 1));
        assert!(!tiny.check_and_insert(Instant(0), 1));
        let mut odd = ReplayFilter::with_capacity(0, f64::NAN, Duration::ZERO);
        assert!(odd.check_and_insert(Instant(u64::MAX), 5));
        assert!(odd.check_and_insert(Instant(0), 6));
        let _ = ReplayFilter::with_capacity(10, 0.0, GENERATION);
        let _ = ReplayFilter::with_capacity(10, 7.0, GENERATION);
    }
}
