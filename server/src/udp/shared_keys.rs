//! The key ring published to the UDP workers. A reload stores a new ring and bumps a generation
//! number; each worker compares the number (one atomic load per batch) and copies the ring into
//! its own endpoint when it changed. No lock is taken on the packet path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use trickles::crypto::KeyRing;

/// The latest key ring and its generation.
#[derive(Debug)]
pub struct SharedKeys {
    generation: AtomicU64,
    ring: Mutex<KeyRing>,
}

impl SharedKeys {
    /// Publish `ring` as generation 0.
    pub fn new(ring: KeyRing) -> Self {
        SharedKeys {
            generation: AtomicU64::new(0),
            ring: Mutex::new(ring),
        }
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Publish a new ring.
    pub fn publish(&self, ring: KeyRing) {
        let mut slot = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        *slot = ring;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The ring and its generation, if newer than `seen`.
    pub fn newer_than(&self, seen: u64) -> Option<(u64, KeyRing)> {
        if self.generation() == seen {
            return None;
        }
        let slot = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        // Read the generation under the lock: `publish` bumps it while holding the lock.
        Some((self.generation(), slot.clone()))
    }
}
