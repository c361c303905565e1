//! [`MaglevTable`]: Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4) with weights.
//!
//! The table has a prime number `M` of slots; each slot names a backend. A datagram goes to the
//! backend of slot `reduce(hash_k(conn_id), M)` (a keyed hash, [`super::conn_hash`], then a
//! multiply-shift range reduction, see [`super::constants::reduce`]), so every packet of a connection reaches the same replica
//! while the pool is stable. Each backend has a permutation of the slots, defined by two hashes
//! of its **name**: `offset = h0(name) mod M`, `skip = h1(name) mod (M − 1) + 1`, and
//! `permutation[j] = (offset + j·skip) mod M` (a full permutation because `M` is prime). The
//! backends take turns claiming the next free slot of their permutation until the table is full.
//!
//! **Weights.** In turn-taking round `r` (1, 2, ...) backend `i` claims a slot only while it
//! holds fewer than `⌊r·wᵢ / w_max⌋` slots, so slot counts follow the weights; with equal
//! weights this is exactly the paper's algorithm. Integer arithmetic only.
//!
//! **Determinism.** The table depends only on the set of (name, weight) pairs and `M`: the
//! backends are sorted by name before the build, so every balancer with the same configuration
//! (in any order) builds the same table, and a backend keeps its permutation when others come
//! and go — which is what keeps disruption minimal.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

use super::conn_hash::ConnHashKey;
use super::constants::{reduce, MAX_TABLE_SIZE, PERMUTATION_KEYS};

/// One backend as the table sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaglevBackend {
    /// Stable identity (the configured name): the permutation derives from it.
    pub name: String,
    /// Relative share of the slots, at least 1.
    pub weight: u32,
}

/// Why a table cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MaglevError {
    /// The size is not a prime (the permutations would not cover the table).
    #[error("table size {0} is not prime")]
    NotPrime(u32),
    /// The size is outside `[backends, MAX_TABLE_SIZE]`.
    #[error("table size {size} must be at least the number of backends ({backends}) and at most {MAX_TABLE_SIZE}")]
    Size {
        /// The size asked for.
        size: u32,
        /// Number of backends.
        backends: usize,
    },
    /// A backend with weight 0.
    #[error("backend `{0}` has weight 0")]
    ZeroWeight(String),
    /// Two backends with the same name would have the same permutation.
    #[error("backend name `{0}` appears twice")]
    DuplicateName(String),
}

/// A filled Maglev lookup table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaglevTable {
    /// Slot → backend, as an index into [`MaglevTable::names`].
    entries: Vec<u32>,
    /// Backend names, sorted (index = the value stored in `entries`).
    names: Vec<String>,
    /// Keys the connection-id hash.
    key: ConnHashKey,
}

/// True when `n` is prime (trial division; table sizes are small).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let n = u64::from(n);
    let mut d = 3u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

fn name_hash(name: &str, which: usize) -> u64 {
    let (k0, k1) = PERMUTATION_KEYS[which];
    let mut hasher = SipHasher13::new_with_keys(k0, k1);
    hasher.write(name.as_bytes());
    hasher.finish()
}

impl MaglevTable {
    /// Build the table of `size` slots (prime) for `backends` (any order; weights ≥ 1). An
    /// empty backend list gives an empty table, whose lookups return `None`.
    pub fn build(backends: &[MaglevBackend], size: u32) -> Result<MaglevTable, MaglevError> {
        if !is_prime(size) {
            return Err(MaglevError::NotPrime(size));
        }
        if size > MAX_TABLE_SIZE || (size as usize) < backends.len() {
            return Err(MaglevError::Size {
                size,
                backends: backends.len(),
            });
        }
        let mut sorted: Vec<&MaglevBackend> = backends.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in sorted.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(MaglevError::DuplicateName(pair[0].name.clone()));
            }
        }
        if let Some(zero) = sorted.iter().find(|b| b.weight == 0) {
            return Err(MaglevError::ZeroWeight(zero.name.clone()));
        }
        let names: Vec<String> = sorted.iter().map(|b| b.name.clone()).collect();
        if sorted.is_empty() {
            return Ok(MaglevTable {
                entries: Vec::new(),
                names,
                key: ConnHashKey::public(),
            });
        }

        let m = u64::from(size);
        let offsets: Vec<u64> = sorted.iter().map(|b| name_hash(&b.name, 0) % m).collect();
        let skips: Vec<u64> = sorted
            .iter()
            .map(|b| name_hash(&b.name, 1) % (m - 1) + 1)
            .collect();
        let weights: Vec<u64> = sorted.iter().map(|b| u64::from(b.weight)).collect();
        let max_weight = weights.iter().copied().max().unwrap_or(1);

        const EMPTY: u32 = u32::MAX;
        let mut entries = vec![EMPTY; size as usize];
        // Position in each backend's permutation, and the slots it holds.
        let mut next = vec![0u64; sorted.len()];
        let mut held = vec![0u64; sorted.len()];
        let mut filled = 0u64;
        let mut round = 0u64;
        while filled < m {
            round += 1;
            for i in 0..sorted.len() {
                if round * weights[i] < (held[i] + 1) * max_weight {
                    continue;
                }
                // Walk the permutation to the next free slot. It exists: filled < m.
                let slot = loop {
                    let candidate = (offsets[i] + next[i] * skips[i]) % m;
                    next[i] += 1;
                    if entries[candidate as usize] == EMPTY {
                        break candidate;
                    }
                };
                // `i` < backends.len() ≤ size ≤ MAX_TABLE_SIZE: fits in u32.
                entries[slot as usize] = i as u32;
                held[i] += 1;
                filled += 1;
                if filled == m {
                    break;
                }
            }
        }
        Ok(MaglevTable {
            entries,
            names,
            key: ConnHashKey::public(),
        })
    }

    /// The table hashing connection ids with `key` (a table is built with a public key).
    pub fn with_key(self, key: ConnHashKey) -> Self {
        MaglevTable { key, ..self }
    }

    /// The key of the connection-id hash.
    pub fn hash_key(&self) -> ConnHashKey {
        self.key
    }

    /// Number of slots (0 for an empty table).
    pub fn size(&self) -> usize {
        self.entries.len()
    }

    /// The backend names, in the order the entries index them (sorted).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Slot → backend index into [`MaglevTable::names`].
    pub fn entries(&self) -> &[u32] {
        &self.entries
    }

    /// The slot a connection id maps to (`None` for an empty table).
    pub fn slot(&self, conn_id: u64) -> Option<usize> {
        let size = self.entries.len() as u64;
        (size > 0).then(|| reduce(self.key.hash(conn_id), size) as usize)
    }

    /// The backend (index into [`MaglevTable::names`]) serving a connection id.
    pub fn lookup(&self, conn_id: u64) -> Option<u32> {
        self.slot(conn_id).map(|slot| self.entries[slot])
    }

    /// Slots held by each backend, in [`MaglevTable::names`] order.
    pub fn slot_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.names.len()];
        for &e in &self.entries {
            counts[e as usize] += 1;
        }
        counts
    }

    /// Share of slots whose backend (by name) differs between two tables of the same size;
    /// 1.0 when the sizes differ or one table is empty and the other not, 0.0 when both are
    /// empty.
    pub fn moved_share(&self, other: &MaglevTable) -> f64 {
        if self.entries.len() != other.entries.len() {
            return 1.0;
        }
        if self.entries.is_empty() {
            return 0.0;
        }
        let moved = self
            .entries
            .iter()
            .zip(&other.entries)
            .filter(|(a, b)| self.names[**a as usize] != other.names[**b as usize])
            .count();
        moved as f64 / self.entries.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Vec<MaglevBackend> {
        (0..n)
            .map(|i| MaglevBackend {
                name: format!("replica-{i:03}"),
                weight: 1,
            })
            .collect()
    }

    #[test]
    fn primes_are_recognised() {
        assert!(is_prime(65_537) && is_prime(251) && is_prime(2) && is_prime(MAX_TABLE_SIZE));
        assert!(!is_prime(65_536) && !is_prime(1) && !is_prime(0) && !is_prime(65_539 * 3));
    }

    #[test]
    fn bad_sizes_and_backends_are_refused() {
        assert_eq!(
            MaglevTable::build(&pool(3), 1000),
            Err(MaglevError::NotPrime(1000))
        );
        assert!(matches!(
            MaglevTable::build(&pool(5), 3),
            Err(MaglevError::Size { .. })
        ));
        let mut doubled = pool(2);
        doubled[1].name = doubled[0].name.clone();
        assert!(matches!(
            MaglevTable::build(&doubled, 251),
            Err(MaglevError::DuplicateName(_))
        ));
        let mut zero = pool(2);
        zero[0].weight = 0;
        assert!(matches!(
            MaglevTable::build(&zero, 251),
            Err(MaglevError::ZeroWeight(_))
        ));
    }

    #[test]
    fn every_slot_is_filled_and_equal_weights_balance_exactly() {
        let table = MaglevTable::build(&pool(7), 65_537).expect("build");
        let counts = table.slot_counts();
        let (lo, hi) = (counts.iter().min(), counts.iter().max());
        // Turn-taking gives each backend ⌊M/N⌋ or ⌈M/N⌉ slots.
        assert_eq!((lo, hi), (Some(&9362), Some(&9363)), "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 65_537);
    }

    #[test]
    fn order_of_the_configuration_does_not_change_the_table() {
        let forward = pool(10);
        let mut backward = forward.clone();
        backward.reverse();
        assert_eq!(
            MaglevTable::build(&forward, 251),
            MaglevTable::build(&backward, 251)
        );
    }

    #[test]
    fn weights_set_the_share_of_slots() {
        let mut backends = pool(3);
        backends[0].weight = 1;
        backends[1].weight = 2;
        backends[2].weight = 3;
        let table = MaglevTable::build(&backends, 65_537).expect("build");
        let counts = table.slot_counts();
        let total = 65_537.0;
        for (count, weight) in counts.iter().zip([1.0, 2.0, 3.0]) {
            let share = *count as f64 / total;
            assert!((share - weight / 6.0).abs() < 0.001, "{counts:?}");
        }
    }

    #[test]
    fn empty_pool_has_no_backend() {
        let table = MaglevTable::build(&[], 251).expect("build");
        assert_eq!(table.lookup(42), None);
        assert_eq!(table.moved_share(&table), 0.0);
    }
}
