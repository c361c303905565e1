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
//! Each generation is a blocked Bloom filter (`replay/bloom.rs`): one cache line per token,
//! sized so that the requested false-positive rate holds despite the blocking.

mod bloom;

use crate::time::{Duration, Instant};
use bloom::{BloomBits, MAX_HASHES};

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
    /// A filter of `bits_per_generation` bits (rounded up to whole 512-bit blocks, at least
    /// one) per generation, probing `hashes` positions per token (clamped to 1..=32), rotating
    /// every `generation` (at least 1 µs).
    pub fn new(bits_per_generation: usize, hashes: u32, generation: Duration) -> Self {
        ReplayFilter {
            current: BloomBits::new(bits_per_generation),
            previous: BloomBits::new(bits_per_generation),
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
        let fp = if fp.is_nan() {
            0.5
        } else {
            fp.clamp(1e-9, 0.5)
        };
        let (bits, hashes) = bloom::size_for(entries, fp / 2.0);
        ReplayFilter::new(bits, hashes, generation)
    }

    /// True if `token` was not seen within the last generation(s) — and records it;
    /// false if it is a replay (or a false positive).
    pub fn check_and_insert(&mut self, now: Instant, token: u64) -> bool {
        self.rotate_to(now);
        if self.current.contains(token, self.hashes) || self.previous.contains(token, self.hashes) {
            return false;
        }
        self.current.insert(token, self.hashes);
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

#[cfg(test)]
mod tests {
    use super::bloom::mix64;
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

    /// False-positive rate of a filter sized for 1e5 entries at `target`, with both generations
    /// filled to capacity (the worst case a lookup sees), measured over 1e5 fresh tokens.
    fn measured_false_positive_rate(target: f64) -> f64 {
        const ENTRIES: u64 = 100_000;
        let mut f = ReplayFilter::with_capacity(ENTRIES as usize, target, GENERATION);
        let start = Instant(0);
        for i in 0..ENTRIES {
            f.check_and_insert(start, token(i));
        }
        for i in ENTRIES..2 * ENTRIES {
            f.check_and_insert(start + GENERATION, token(i));
        }
        let seen = |t: u64| f.current.contains(t, f.hashes) || f.previous.contains(t, f.hashes);
        let false_positives = (2 * ENTRIES..3 * ENTRIES)
            .filter(|&i| seen(token(i)))
            .count();
        false_positives as f64 / ENTRIES as f64
    }

    #[test]
    fn false_positive_rate_at_capacity_is_within_twice_the_target() {
        let rate = measured_false_positive_rate(0.01);
        assert!((0.005..=0.02).contains(&rate), "false-positive rate {rate}");
    }

    #[test]
    fn false_positive_rate_holds_at_a_low_target_despite_blocking() {
        // 1e-3 over 1e5 probes: ~100 expected, so 2× either way is far outside the noise.
        let rate = measured_false_positive_rate(0.001);
        assert!(
            (0.0005..=0.002).contains(&rate),
            "false-positive rate {rate}"
        );
    }

    #[test]
    fn debug_shows_sizes_not_the_bit_arrays() {
        let mut f = ReplayFilter::new(1 << 16, 4, GENERATION);
        f.check_and_insert(Instant(0), token(1));
        let shown = format!("{f:?}");
        assert!(shown.contains("bits: 65536"), "{shown}");
        assert!(shown.contains("set: "), "{shown}");
        assert!(shown.len() < 400, "{shown}");
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
