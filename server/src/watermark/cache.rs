//! The render cache: bounded soft state holding recently rendered images, so the thousands of
//! `read_at` calls of one transfer slice one rendering instead of rendering again.
//!
//! Keyed by [`RenderParams`]; each entry remembers the [`SourceStamp`] of the file it was
//! rendered from. Memory is bounded by a byte budget (JPEG bytes plus a fixed overhead per
//! entry) and an entry count, whatever the number of clients or images: the least recently
//! used entries go first. Losing the cache costs only renderings.
//!
//! Rendering is expensive and its memory (a decoded source) is large, so the cache also
//! coordinates it: one rendering per key at a time (threads wanting the same image wait for it
//! instead of rendering it again) and at most `max_concurrent_renders` renderings at once.
//! A rendering that panics is turned into [`AppError::Internal`] and leaves the cache usable.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use trickles::app::AppError;

use super::render::{RenderParams, RenderedImage};
use super::source::SourceStamp;

/// Bytes charged per entry on top of its JPEG (key, bookkeeping).
pub const ENTRY_OVERHEAD: usize = 512;

/// A cached rendering and the version of the source it came from.
#[derive(Debug)]
pub struct CachedImage {
    /// The rendering.
    pub image: RenderedImage,
    /// The source file version it was rendered from (local to this replica).
    pub stamp: SourceStamp,
}

/// Limits of a [`RenderCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most bytes held (JPEGs plus [`ENTRY_OVERHEAD`] each).
    pub budget_bytes: usize,
    /// Most entries held.
    pub max_entries: usize,
    /// Most renderings running at once.
    pub max_concurrent_renders: usize,
    /// Most bytes of decoded source pixels kept ([`super::decoded_sources`]).
    pub source_budget_bytes: usize,
}

/// Counters of a [`RenderCache`], for tests, benchmarks and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held now.
    pub entries: usize,
    /// Bytes charged now.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Renderings run.
    pub renders: u64,
    /// Entries dropped to stay within the limits.
    pub evictions: u64,
}

/// The cache; shared by reference between worker threads.
#[derive(Debug)]
pub struct RenderCache {
    state: Mutex<CacheState>,
    /// Signalled whenever a rendering ends.
    rendering_ended: Condvar,
    limits: CacheLimits,
}

#[derive(Debug, Default)]
struct CacheState {
    entries: HashMap<RenderParams, Slot>,
    rendering: HashSet<RenderParams>,
    renders_running: usize,
    tick: u64,
    stats: CacheStats,
}

#[derive(Debug)]
struct Slot {
    image: Arc<CachedImage>,
    cost: usize,
    last_used: u64,
}

impl RenderCache {
    /// An empty cache within `limits` (each at least 1).
    pub fn new(limits: CacheLimits) -> Self {
        RenderCache {
            state: Mutex::new(CacheState::default()),
            rendering_ended: Condvar::new(),
            limits: CacheLimits {
                budget_bytes: limits.budget_bytes.max(1),
                max_entries: limits.max_entries.max(1),
                max_concurrent_renders: limits.max_concurrent_renders.max(1),
                source_budget_bytes: limits.source_budget_bytes,
            },
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // Every statement leaves the state consistent, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counters and occupancy now.
    pub fn stats(&self) -> CacheStats {
        let state = self.lock();
        CacheStats {
            entries: state.entries.len(),
            ..state.stats
        }
    }

    /// Drop every entry (as a restart would).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.stats.bytes = 0;
    }

    /// The cached rendering of `key`, if there is one and `accept` takes it.
    pub fn lookup(
        &self,
        key: &RenderParams,
        accept: impl Fn(&CachedImage) -> bool,
    ) -> Option<Arc<CachedImage>> {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        let slot = state.entries.get_mut(key)?;
        if !accept(&slot.image) {
            return None;
        }
        slot.last_used = tick;
        let image = slot.image.clone();
        state.stats.hits += 1;
        Some(image)
    }

    /// The rendering of `key` that `fresh` accepts: from the cache, from a rendering of the
    /// same key another thread is running, or rendered now with `render` (then cached).
    pub fn get_or_render(
        &self,
        key: &RenderParams,
        fresh: impl Fn(&CachedImage) -> bool,
        render: impl FnOnce() -> Result<CachedImage, AppError>,
    ) -> Result<Arc<CachedImage>, AppError> {
        {
            let mut state = self.lock();
            loop {
                state.tick += 1;
                let tick = state.tick;
                if let Some(slot) = state.entries.get_mut(key) {
                    if fresh(&slot.image) {
                        slot.last_used = tick;
                        let image = slot.image.clone();
                        state.stats.hits += 1;
                        return Ok(image);
                    }
                }
                let busy = state.rendering.contains(key)
                    || state.renders_running >= self.limits.max_concurrent_renders;
                if !busy {
                    break;
                }
                state = self
                    .rendering_ended
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            state.rendering.insert(key.clone());
            state.renders_running += 1;
            state.stats.renders += 1;
        }
        let guard = RenderingSlot { cache: self, key };
        let rendered = std::panic::catch_unwind(AssertUnwindSafe(render))
            .unwrap_or_else(|_| Err(AppError::Internal("rendering panicked".into())))?;
        let image = Arc::new(rendered);
        guard.finish_with(&image);
        Ok(image)
    }

    /// Insert `image` under `key`, evicting least recently used entries to make room.
    fn insert(&self, state: &mut CacheState, key: &RenderParams, image: &Arc<CachedImage>) {
        let cost = image.image.jpeg.len() + ENTRY_OVERHEAD;
        if let Some(old) = state.entries.remove(key) {
            state.stats.bytes -= old.cost;
        }
        if cost > self.limits.budget_bytes {
            return; // larger than the whole budget: served, not kept
        }
        while !state.entries.is_empty()
            && (state.stats.bytes + cost > self.limits.budget_bytes
                || state.entries.len() >= self.limits.max_entries)
        {
            let oldest = state
                .entries
                .iter()
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(key, _)| key.clone());
            let Some(oldest) = oldest else { break };
            if let Some(slot) = state.entries.remove(&oldest) {
                state.stats.bytes -= slot.cost;
                state.stats.evictions += 1;
            }
        }
        state.stats.bytes += cost;
        state.tick += 1;
        let last_used = state.tick;
        state.entries.insert(
            key.clone(),
            Slot {
                image: image.clone(),
                cost,
                last_used,
            },
        );
    }
}

/// A rendering in progress; releases its key and its place when dropped (even by a panic).
struct RenderingSlot<'a> {
    cache: &'a RenderCache,
    key: &'a RenderParams,
}

impl RenderingSlot<'_> {
    /// Cache the finished rendering and release the slot.
    fn finish_with(self, image: &Arc<CachedImage>) {
        let mut state = self.cache.lock();
        self.cache.insert(&mut state, self.key, image);
        // `drop(self)` then releases the key under a fresh lock.
    }
}

impl Drop for RenderingSlot<'_> {
    fn drop(&mut self) {
        let mut state = self.cache.lock();
        state.rendering.remove(self.key);
        state.renders_running -= 1;
        drop(state);
        self.cache.rendering_ended.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(n: u32) -> RenderParams {
        RenderParams {
            image_path: "/a.jpg".into(),
            caption: format!("caption {n}"),
            client: "198.18.0.2".parse().expect("ip"),
        }
    }

    fn image(len: usize, fill: u8) -> CachedImage {
        let jpeg = bytes::Bytes::from(vec![fill; len]);
        CachedImage {
            image: RenderedImage {
                digest: super::super::render::digest(&jpeg),
                jpeg,
                dimensions: (1, 1),
            },
            stamp: SourceStamp::default(),
        }
    }

    fn limits(budget_bytes: usize, max_entries: usize) -> CacheLimits {
        CacheLimits {
            budget_bytes,
            max_entries,
            max_concurrent_renders: 2,
            source_budget_bytes: 0,
        }
    }

    #[test]
    fn cache_stays_within_its_byte_budget_and_entry_count() {
        let cache = RenderCache::new(limits(10 * (1_000 + ENTRY_OVERHEAD), 8));
        for n in 0..100 {
            cache
                .get_or_render(&key(n), |_| true, || Ok(image(1_000, 1)))
                .expect("render");
            let stats = cache.stats();
            assert!(stats.bytes <= cache.limits().budget_bytes);
            assert!(stats.entries <= 8);
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 8);
        assert_eq!(stats.evictions, 92);
        assert_eq!(stats.renders, 100);
    }

    #[test]
    fn recently_used_entry_survives_eviction() {
        let cache = RenderCache::new(limits(1 << 20, 2));
        for n in [0, 1] {
            cache
                .get_or_render(&key(n), |_| true, || Ok(image(10, 1)))
                .expect("render");
        }
        assert!(cache.lookup(&key(0), |_| true).is_some());
        cache
            .get_or_render(&key(2), |_| true, || Ok(image(10, 1)))
            .expect("render");
        assert!(cache.lookup(&key(0), |_| true).is_some());
        assert!(cache.lookup(&key(1), |_| true).is_none());
    }

    #[test]
    fn image_larger_than_the_budget_is_served_but_not_kept() {
        let cache = RenderCache::new(limits(100, 4));
        let served = cache
            .get_or_render(&key(0), |_| true, || Ok(image(1_000, 1)))
            .expect("render");
        assert_eq!(served.image.jpeg.len(), 1_000);
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().bytes, 0);
    }

    #[test]
    fn stale_entry_is_rendered_again() {
        let cache = RenderCache::new(limits(1 << 20, 4));
        cache
            .get_or_render(&key(0), |_| true, || Ok(image(10, 1)))
            .expect("render");
        let fresh = cache
            .get_or_render(&key(0), |c| c.image.jpeg[0] == 2, || Ok(image(10, 2)))
            .expect("render again");
        assert_eq!(fresh.image.jpeg[0], 2);
        assert_eq!(cache.stats().renders, 2);
        assert_eq!(cache.stats().entries, 1);
        assert_eq!(cache.stats().bytes, 10 + ENTRY_OVERHEAD);
    }

    #[test]
    fn concurrent_requests_for_one_image_render_it_once() {
        let cache = RenderCache::new(limits(1 << 20, 4));
        let renders = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    cache
                        .get_or_render(
                            &key(0),
                            |_| true,
                            || {
                                renders.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(50));
                                Ok(image(10, 1))
                            },
                        )
                        .expect("render")
                });
            }
        });
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().hits, 3);
    }

    #[test]
    fn renderings_never_exceed_the_concurrency_limit() {
        let cache = RenderCache::new(limits(1 << 20, 64));
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for n in 0..6 {
                let (cache, running, most) = (&cache, &running, &most);
                scope.spawn(move || {
                    cache
                        .get_or_render(
                            &key(n),
                            |_| true,
                            || {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                running.fetch_sub(1, Ordering::SeqCst);
                                Ok(image(10, 1))
                            },
                        )
                        .expect("render")
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(cache.stats().renders, 6);
    }

    #[test]
    fn panicking_rendering_is_an_error_and_leaves_the_cache_usable() {
        let cache = RenderCache::new(limits(1 << 20, 4));
        let failed = cache.get_or_render(&key(0), |_| true, || panic!("decoder bug"));
        assert!(matches!(failed, Err(AppError::Internal(_))));
        let image = cache.get_or_render(&key(0), |_| true, || Ok(image(10, 3)));
        assert_eq!(image.expect("render").image.jpeg[0], 3);
    }
}
