//! Decoded source images kept for the next rendering: soft state that saves decoding a photo
//! again for each client (decoding is about half of a rendering).
//!
//! Keyed by the source's canonical path; an entry is used only while the file's
//! [`SourceStamp`] is the one it was decoded from. Bounded by a byte budget (3 bytes per
//! pixel), least recently used first out; a source larger than the whole budget is decoded for
//! each rendering and not kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use image::RgbImage;

use super::source::SourceStamp;

/// The cache of decoded sources; shared by reference between threads.
#[derive(Debug)]
pub struct DecodedSources {
    state: Mutex<State>,
    budget_bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<PathBuf, Entry>,
    bytes: usize,
    tick: u64,
    hits: u64,
}

#[derive(Debug)]
struct Entry {
    stamp: SourceStamp,
    pixels: Arc<RgbImage>,
    last_used: u64,
}

impl DecodedSources {
    /// An empty cache holding at most `budget_bytes` of pixels.
    pub fn new(budget_bytes: usize) -> Self {
        DecodedSources {
            state: Mutex::new(State::default()),
            budget_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every statement leaves the state consistent, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The pixels of `path` as decoded from the version `stamp`, if kept.
    pub fn get(&self, path: &Path, stamp: SourceStamp) -> Option<Arc<RgbImage>> {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        let entry = state.entries.get_mut(path)?;
        if entry.stamp != stamp {
            return None;
        }
        entry.last_used = tick;
        let pixels = entry.pixels.clone();
        state.hits += 1;
        Some(pixels)
    }

    /// Keep the pixels of `path` decoded from the version `stamp`.
    pub fn insert(&self, path: &Path, stamp: SourceStamp, pixels: Arc<RgbImage>) {
        let cost = pixels.as_raw().len();
        let mut state = self.lock();
        if let Some(old) = state.entries.remove(path) {
            state.bytes -= old.pixels.as_raw().len();
        }
        if cost > self.budget_bytes {
            return;
        }
        while state.bytes + cost > self.budget_bytes {
            let oldest = state
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(path, _)| path.clone());
            let Some(oldest) = oldest else { break };
            if let Some(entry) = state.entries.remove(&oldest) {
                state.bytes -= entry.pixels.as_raw().len();
            }
        }
        state.tick += 1;
        let last_used = state.tick;
        state.bytes += cost;
        state.entries.insert(
            path.to_owned(),
            Entry {
                stamp,
                pixels,
                last_used,
            },
        );
    }

    /// Bytes of pixels held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Lookups answered so far.
    pub fn hits(&self) -> u64 {
        self.lock().hits
    }

    /// Drop every entry.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(width: u32) -> Arc<RgbImage> {
        Arc::new(RgbImage::new(width, 10))
    }

    #[test]
    fn entry_is_used_only_for_its_stamp() {
        let cache = DecodedSources::new(1 << 20);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), b"1").expect("write");
        let path = dir.path().join("a");
        let (_, stamp) = super::super::source::read(&path).expect("read");
        cache.insert(&path, stamp, pixels(10));
        assert!(cache.get(&path, stamp).is_some());
        assert!(cache.get(&path, SourceStamp::default()).is_none());
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn cache_stays_within_its_budget() {
        let cache = DecodedSources::new(1_000);
        for n in 0..10 {
            cache.insert(
                Path::new(&format!("/{n}")),
                SourceStamp::default(),
                pixels(10),
            );
            assert!(cache.bytes() <= 1_000);
        }
        assert_eq!(cache.bytes(), 900);
        assert!(cache.get(Path::new("/0"), SourceStamp::default()).is_none());
        assert!(cache.get(Path::new("/9"), SourceStamp::default()).is_some());
        cache.insert(Path::new("/big"), SourceStamp::default(), pixels(40));
        assert!(cache
            .get(Path::new("/big"), SourceStamp::default())
            .is_none());
    }
}
