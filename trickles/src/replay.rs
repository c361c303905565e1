//! The replay filter: bounded soft state that lets a stateless server answer each request once.
//!
//! A server cannot remember which continuations it has consumed, yet a replayed request must not
//! trigger a second burst of packets. Continuations carry a MAC'ed server timestamp, so requests
//! older than the freshness limit (plus the allowed clock skew) are refused outright; this filter
//! only has to remember the requests accepted within that window. It does so with generations
//! of Bloom filters: tokens are inserted into the *current* generation and looked up in it and
//! the *previous* one; every `generation` the current one becomes the previous one. An entry is
//! therefore remembered for at least one and at most two generations, so `generation` must be at
//! least the freshness limit plus the skew (the server core sizes it so).
//!
//! One filter serves a whole server process: every worker thread, on every listen socket, holds
//! the same `Arc<ReplayFilter>` (a replay sent to another socket of the process is caught too).
//! The hot path takes no lock: lookups and insertions are relaxed atomic operations on the bit
//! arrays (`bloom`), the generation in use is an atomic index. Rotation (once a generation)
//! takes a mutex; a third bit array, cleared one generation ahead, becomes the current one at
//! once, so no worker ever waits for a clear. The price of sharing without a lock: two workers
//! inserting the *same* token within the same few nanoseconds may both see it as new (each sets
//! some of its bits first); a replay must then hit two sockets of one process at the same instant.
//!
//! Memory is fixed at construction and independent of the number of connections. A Bloom filter
//! has false positives (a fresh request wrongly taken for a replay: the client retries after
//! its timeout) but no false negatives. Losing the filter (a restart) exposes at most one
//! freshness window to replays. [`ReplayFilter::load`] reports how full it is, so a driver can
//! export the occupancy and the estimated false-positive rate and warn before they bite.
//!
//! Each generation is a blocked Bloom filter (`replay/bloom.rs`): one cache line per token,
//! sized so that the requested false-positive rate holds despite the blocking.

mod bloom;

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::time::{Duration, Instant};
use bloom::{blocked_false_positive_rate, BloomBits, MAX_HASHES};

/// Bit arrays: current, previous, and the next one (already cleared).
const SLOTS: usize = 3;
/// `since` before the first token.
const NOT_STARTED: u64 = u64::MAX;

/// Bounded soft-state replay filter, shared by the threads of one process: generations of Bloom
/// filters rotated every `generation` (an entry is remembered for at least one and at most two
/// generations). Memory is fixed at construction, independent of the number of connections.
pub struct ReplayFilter {
    slots: [BloomBits; SLOTS],
    /// Insertions into each slot since it was last cleared.
    inserts: [AtomicU64; SLOTS],
    /// Insertions into slots since cleared (so the total is this plus the live counts).
    retired_inserts: AtomicU64,
    hashes: u32,
    generation: Duration,
    /// Tokens per generation the filter was sized for.
    capacity: usize,
    /// Index of the current generation; its slot is `index % SLOTS`.
    index: AtomicU64,
    /// Start of the current generation in microseconds; [`NOT_STARTED`] until the first token.
    since: AtomicU64,
    /// Held only while rotating.
    rotation: Mutex<()>,
}

/// How full the filter is (see [`ReplayFilter::load`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayLoad {
    /// Tokens inserted into the current generation.
    pub current_inserts: u64,
    /// Tokens inserted into the previous generation.
    pub previous_inserts: u64,
    /// Tokens per generation the filter was sized for.
    pub capacity: usize,
    /// Tokens inserted since the filter was made.
    pub inserts_total: u64,
    /// `current_inserts / capacity` (1.0 = at the size it was made for).
    pub occupancy: f64,
    /// Modelled probability that a fresh token is taken for a replay, now.
    pub false_positive_rate: f64,
}

impl ReplayFilter {
    /// A filter of `bits_per_generation` bits (rounded up to whole 512-bit blocks, at least
    /// one) per generation, probing `hashes` positions per token (clamped to 1..=32), rotating
    /// every `generation` (at least 1 µs). Its nominal capacity is where half its bits are set.
    pub fn new(bits_per_generation: usize, hashes: u32, generation: Duration) -> Self {
        let hashes = hashes.clamp(1, MAX_HASHES);
        let slots = [0; SLOTS].map(|_| BloomBits::new(bits_per_generation));
        let bits = slots[0].bit_len();
        let capacity = ((bits as f64 * core::f64::consts::LN_2) / f64::from(hashes)) as usize;
        ReplayFilter {
            slots,
            inserts: [0; SLOTS].map(|_| AtomicU64::new(0)),
            retired_inserts: AtomicU64::new(0),
            hashes,
            generation: Duration(generation.micros().max(1)),
            capacity: capacity.max(1),
            index: AtomicU64::new(0),
            since: AtomicU64::new(NOT_STARTED),
            rotation: Mutex::new(()),
        }
    }

    /// Size for `entries` insertions per generation at false-positive rate `fp`.
    ///
    /// A lookup consults two generations, so each is sized for `fp / 2`: with both full, the
    /// rate of the whole filter stays at about `fp`. `fp` is clamped to `[1e-9, 0.5]`.
    pub fn with_capacity(entries: usize, fp: f64, generation: Duration) -> Self {
        let fp = if fp.is_nan() {
            0.5
        } else {
            fp.clamp(1e-9, 0.5)
        };
        let (bits, hashes) = bloom::size_for(entries, fp / 2.0);
        let mut filter = ReplayFilter::new(bits, hashes, generation);
        filter.capacity = entries.max(1);
        filter
    }

    /// True if `token` was not seen within the last generation(s) — and records it;
    /// false if it is a replay (or a false positive).
    pub fn check_and_insert(&self, now: Instant, token: u64) -> bool {
        let index = self.rotate_to(now);
        let current = (index % SLOTS as u64) as usize;
        let previous = ((index + SLOTS as u64 - 1) % SLOTS as u64) as usize;
        if self.slots[previous].contains(token, self.hashes) {
            return false;
        }
        if !self.slots[current].insert(token, self.hashes) {
            return false;
        }
        self.inserts[current].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// True if `token` was recorded within the last generation(s) (or is a false positive);
    /// records nothing.
    pub fn contains(&self, now: Instant, token: u64) -> bool {
        let index = self.rotate_to(now);
        let current = (index % SLOTS as u64) as usize;
        let previous = ((index + SLOTS as u64 - 1) % SLOTS as u64) as usize;
        self.slots[previous].contains(token, self.hashes)
            || self.slots[current].contains(token, self.hashes)
    }

    /// How full the filter is at `now` (without rotating it): the insertions counted in the
    /// live generations and the false-positive rate the blocked-filter model predicts for them.
    pub fn load(&self, now: Instant) -> ReplayLoad {
        let index = self.index.load(Ordering::Acquire);
        let since = self.since.load(Ordering::Acquire);
        let count = |i: u64| self.inserts[(i % SLOTS as u64) as usize].load(Ordering::Relaxed);
        let (mut current, mut previous) = (count(index), count(index + SLOTS as u64 - 1));
        // A rotation is due but no token came to make it: report what a lookup would see.
        if since != NOT_STARTED && now.micros() >= since {
            match (now.micros() - since) / self.generation.micros() {
                0 => {}
                1 => (current, previous) = (0, current),
                _ => (current, previous) = (0, 0),
            }
        }
        let rate = |n: u64| {
            if n == 0 {
                0.0
            } else {
                let bits_per_entry = self.bits_per_generation() as f64 / n as f64;
                blocked_false_positive_rate(bits_per_entry, self.hashes).min(1.0)
            }
        };
        let live: u64 = self.inserts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        ReplayLoad {
            current_inserts: current,
            previous_inserts: previous,
            capacity: self.capacity,
            inserts_total: self.retired_inserts.load(Ordering::Relaxed) + live,
            occupancy: current as f64 / self.capacity as f64,
            false_positive_rate: 1.0 - (1.0 - rate(current)) * (1.0 - rate(previous)),
        }
    }

    /// Bytes held by the filter: its fixed-size struct plus its bit arrays.
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of::<Self>() + self.slots.iter().map(BloomBits::heap_bytes).sum::<usize>()
    }

    /// Probe positions per token.
    pub fn hashes(&self) -> u32 {
        self.hashes
    }

    /// Bits per generation.
    pub fn bits_per_generation(&self) -> usize {
        self.slots[0].bit_len()
    }

    /// How long one generation lasts (a token is remembered at least this long).
    pub fn generation(&self) -> Duration {
        self.generation
    }

    /// Tokens per generation the filter was sized for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The generation index to use at `now`, rotating first if one is due. The common case is
    /// two atomic loads; a rotation takes the mutex.
    fn rotate_to(&self, now: Instant) -> u64 {
        let since = self.since.load(Ordering::Acquire);
        if !self.is_due(since, now) {
            return self.index.load(Ordering::Acquire);
        }
        let _rotating = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        let since = self.since.load(Ordering::Acquire);
        let index = self.index.load(Ordering::Acquire);
        if !self.is_due(since, now) {
            return index;
        }
        let generation = self.generation.micros();
        if since == NOT_STARTED || now.micros() < since {
            // The first token, or a clock jump backward by more than a generation: the current
            // generation restarts at `now` (keeping what it remembers), so it cannot last for
            // ever.
            self.since.store(now.micros(), Ordering::Release);
            return index;
        }
        let elapsed = (now.micros() - since) / generation;
        // `elapsed * generation <= now - since`, so this cannot overflow.
        let start = since + elapsed * generation;
        if elapsed == 1 {
            // The next slot was cleared a generation ago: switch to it, then clear the old
            // previous one (no lookup reads it any more) to be the next.
            self.index.store(index + 1, Ordering::Release);
            self.since.store(start, Ordering::Release);
            self.clear_slot(index + 2);
        } else {
            for slot in 0..SLOTS as u64 {
                self.clear_slot(slot);
            }
            self.index.store(index + elapsed, Ordering::Release);
            self.since.store(start, Ordering::Release);
        }
        index + elapsed
    }

    /// True if a rotation (or the first start) is due at `now`.
    fn is_due(&self, since: u64, now: Instant) -> bool {
        let generation = self.generation.micros();
        since == NOT_STARTED
            || now.micros() >= since.saturating_add(generation)
            || since - now.micros().min(since) > generation
    }

    fn clear_slot(&self, index: u64) {
        let slot = (index % SLOTS as u64) as usize;
        let counted = self.inserts[slot].swap(0, Ordering::Relaxed);
        self.retired_inserts.fetch_add(counted, Ordering::Relaxed);
        self.slots[slot].clear();
    }
}

impl core::fmt::Debug for ReplayFilter {
    /// Sizes, not the bit arrays.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayFilter")
            .field(
                "current",
                &self.slots[(self.index.load(Ordering::Relaxed) % SLOTS as u64) as usize],
            )
            .field("hashes", &self.hashes)
            .field("generation", &self.generation)
            .field("capacity", &self.capacity)
            .finish()
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
        let f = filter();
        let now = Instant(1_000_000);
        assert!(f.check_and_insert(now, token(1)));
        assert!(!f.check_and_insert(now, token(1)));
        assert!(!f.check_and_insert(now + Duration(10), token(1)));
        assert!(f.check_and_insert(now, token(2)));
    }

    #[test]
    fn token_inserted_by_one_thread_is_a_replay_for_every_other() {
        let shared = std::sync::Arc::new(filter());
        let now = Instant(1_000_000);
        let first = shared.clone();
        std::thread::spawn(move || {
            assert!((0..1_000).all(|i| first.check_and_insert(now, token(i))));
        })
        .join()
        .expect("first thread");
        let others: Vec<_> = (0..3)
            .map(|_| {
                let filter = shared.clone();
                std::thread::spawn(move || {
                    (0..1_000).all(|i| !filter.check_and_insert(now, token(i)))
                })
            })
            .collect();
        for other in others {
            assert!(
                other.join().expect("thread"),
                "a replay passed in another thread"
            );
        }
    }

    #[test]
    fn load_counts_inserts_and_models_the_false_positive_rate() {
        let f = ReplayFilter::with_capacity(10_000, 0.01, GENERATION);
        let now = Instant(0);
        for i in 0..5_000 {
            f.check_and_insert(now, token(i));
        }
        let half = f.load(now);
        assert_eq!(half.current_inserts, 5_000);
        assert_eq!(half.inserts_total, 5_000);
        assert!((half.occupancy - 0.5).abs() < 0.01, "{half:?}");
        assert!(half.false_positive_rate < 0.005, "{half:?}");
        for i in 5_000..40_000 {
            f.check_and_insert(now, token(i));
        }
        let over = f.load(now);
        // Some of the 35,000 new tokens are already taken for replays (false positives).
        assert!(over.occupancy > 3.0, "{over:?}");
        assert!(over.false_positive_rate > 0.1, "{over:?}");
    }

    #[test]
    fn load_after_a_rotation_counts_the_old_generation_as_previous() {
        let f = filter();
        let now = Instant(0);
        for i in 0..100 {
            f.check_and_insert(now, token(i));
        }
        let next = now + GENERATION;
        let due = f.load(next);
        assert_eq!((due.current_inserts, due.previous_inserts), (0, 100));
        f.check_and_insert(next, token(1_000));
        let rotated = f.load(next);
        assert_eq!(
            (rotated.current_inserts, rotated.previous_inserts),
            (1, 100)
        );
        assert_eq!(rotated.inserts_total, 101);
        let gone = f.load(next + GENERATION + GENERATION);
        assert_eq!((gone.current_inserts, gone.previous_inserts), (0, 0));
    }

    #[test]
    fn token_survives_one_rotation_and_is_forgotten_after_two() {
        let f = filter();
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
        let f = filter();
        let start = Instant(0);
        assert!(f.check_and_insert(start, token(100)));
        let late = start + Duration(GENERATION.micros() - 1);
        assert!(f.check_and_insert(late, token(1)));
        let one_generation_later = late + GENERATION;
        assert!(!f.check_and_insert(one_generation_later, token(1)));
    }

    #[test]
    fn forward_jump_over_two_generations_clears_both() {
        let f = filter();
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
        let f = filter();
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
        let f = ReplayFilter::with_capacity(100_000, 0.01, GENERATION);
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
        let f = ReplayFilter::with_capacity(ENTRIES as usize, target, GENERATION);
        let start = Instant(0);
        for i in 0..ENTRIES {
            f.check_and_insert(start, token(i));
        }
        for i in ENTRIES..2 * ENTRIES {
            f.check_and_insert(start + GENERATION, token(i));
        }
        let seen = |t: u64| f.slots.iter().any(|slot| slot.contains(t, f.hashes));
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
        let f = ReplayFilter::new(1 << 16, 4, GENERATION);
        f.check_and_insert(Instant(0), token(1));
        let shown = format!("{f:?}");
        assert!(shown.contains("bits: 65536"), "{shown}");
        assert!(shown.contains("set: "), "{shown}");
        assert!(shown.len() < 400, "{shown}");
    }

    #[test]
    fn degenerate_parameters_do_not_panic() {
        let tiny = ReplayFilter::new(0, 0, Duration::ZERO);
        assert!(tiny.check_and_insert(Instant(0), 1));
        assert!(!tiny.check_and_insert(Instant(0), 1));
        let odd = ReplayFilter::with_capacity(0, f64::NAN, Duration::ZERO);
        assert!(odd.check_and_insert(Instant(u64::MAX), 5));
        assert!(odd.check_and_insert(Instant(0), 6));
        let _ = ReplayFilter::with_capacity(10, 0.0, GENERATION);
        let _ = ReplayFilter::with_capacity(10, 7.0, GENERATION);
    }
}
