//! A small bounded cache of open file handles, keyed by request path: soft state that saves an
//! `open` + `fstat` per packet and can be dropped at any moment.
//!
//! Entries are reused for at most a *time to live* (one second by default) before the path is
//! resolved and opened again, so a replaced or removed file is noticed quickly. When the cache is
//! full the least recently used entry is dropped. The lock is held only to look up or insert;
//! opening a file and reading from it happen outside it, so worker threads sharing the
//! application do not serialise on I/O.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use trickles::app::AppError;

use super::identity::FileIdentity;
use super::request_path;

/// Default number of cached handles.
pub const DEFAULT_CAPACITY: usize = 256;
/// Default time a cached handle is trusted before the path is opened again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// An open regular file and its identity (length, modification time) when it was opened.
#[derive(Debug)]
pub struct OpenFile {
    file: File,
    identity: FileIdentity,
}

impl OpenFile {
    /// Open the regular file at `canonical` (a path without symbolic links).
    fn open(canonical: &std::path::Path) -> Result<Self, AppError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(canonical)
            .map_err(request_path::io_to_app_error)?;
        let meta = file.metadata().map_err(request_path::io_to_app_error)?;
        if !meta.is_file() {
            return Err(AppError::BadRequest("path names no regular file".into()));
        }
        Ok(OpenFile {
            file,
            identity: FileIdentity::of(&meta),
        })
    }

    /// Length of the file in bytes when it was opened.
    pub fn length(&self) -> u64 {
        self.identity.length
    }

    /// Length and modification time when it was opened.
    pub fn identity(&self) -> FileIdentity {
        self.identity
    }

    /// Length and modification time now (one `fstat`): a write in place since the open shows
    /// here, not in [`OpenFile::identity`].
    pub fn current_identity(&self) -> std::io::Result<FileIdentity> {
        self.file.metadata().map(|meta| FileIdentity::of(&meta))
    }

    /// Positioned read: fill `buf` from `offset` until it is full or the file ends; returns the
    /// number of bytes read. Never moves a shared file offset, so any thread may call it.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let position = offset.saturating_add(filled as u64);
            match self.file.read_at(&mut buf[filled..], position) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// The cache; shared by reference between threads.
#[derive(Debug)]
pub struct OpenFileCache {
    state: Mutex<CacheState>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug)]
struct CacheState {
    /// Canonical root directory the paths are resolved under.
    root: Arc<PathBuf>,
    /// Bumped when the root changes, so an open racing with the change is not cached.
    generation: u64,
    /// Logical clock for least-recently-used eviction.
    tick: u64,
    entries: HashMap<String, Slot>,
}

#[derive(Debug)]
struct Slot {
    file: Arc<OpenFile>,
    opened_at: Instant,
    last_used: u64,
}

impl OpenFileCache {
    /// An empty cache over `canonical_root` holding at most `capacity` handles for `ttl` each.
    pub fn new(canonical_root: PathBuf, capacity: usize, ttl: Duration) -> Self {
        OpenFileCache {
            state: Mutex::new(CacheState {
                root: Arc::new(canonical_root),
                generation: 0,
                tick: 0,
                entries: HashMap::new(),
            }),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // The state is consistent after every statement, so a panic elsewhere cannot corrupt it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The canonical root directory.
    pub fn root(&self) -> Arc<PathBuf> {
        self.lock().root.clone()
    }

    /// Serve from another (canonical) root from now on; drops every cached handle.
    pub fn set_root(&self, canonical_root: PathBuf) {
        let mut state = self.lock();
        state.root = Arc::new(canonical_root);
        state.generation += 1;
        state.entries.clear();
    }

    /// Number of cached handles.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no handle is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The open file a (validated) request path names, from the cache or freshly opened.
    pub fn get(&self, path: &str) -> Result<Arc<OpenFile>, AppError> {
        let (root, generation) = {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            if let Some(slot) = state.entries.get_mut(path) {
                if slot.opened_at.elapsed() < self.ttl {
                    slot.last_used = tick;
                    return Ok(slot.file.clone());
                }
            }
            (state.root.clone(), state.generation)
        };

        let opened = request_path::resolve(&root, path).and_then(|c| OpenFile::open(&c));
        let mut state = self.lock();
        let file = match opened {
            Ok(file) => Arc::new(file),
            Err(e) => {
                state.entries.remove(path);
                return Err(e);
            }
        };
        if state.generation == generation {
            if state.entries.len() >= self.capacity && !state.entries.contains_key(path) {
                evict_least_recently_used(&mut state.entries);
            }
            let last_used = state.tick;
            state.entries.insert(
                path.to_owned(),
                Slot {
                    file: file.clone(),
                    opened_at: Instant::now(),
                    last_used,
                },
            );
        }
        Ok(file)
    }
}

fn evict_least_recently_used(entries: &mut HashMap<String, Slot>) {
    let oldest = entries
        .iter()
        .min_by_key(|(_, slot)| slot.last_used)
        .map(|(path, _)| path.clone());
    if let Some(oldest) = oldest {
        entries.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with_files(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in names {
            std::fs::write(dir.path().join(name), name.as_bytes()).expect("write");
        }
        dir
    }

    fn cache(dir: &tempfile::TempDir, capacity: usize, ttl: Duration) -> OpenFileCache {
        let root = dir.path().canonicalize().expect("canonical");
        OpenFileCache::new(root, capacity, ttl)
    }

    #[test]
    fn cache_never_holds_more_than_its_capacity() {
        let dir = root_with_files(&["a", "b", "c", "d"]);
        let cache = cache(&dir, 2, DEFAULT_TTL);
        for name in ["/a", "/b", "/c", "/d"] {
            cache.get(name).expect("open");
        }
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn recently_used_entry_survives_eviction() {
        let dir = root_with_files(&["a", "b", "c"]);
        let cache = cache(&dir, 2, DEFAULT_TTL);
        let a = cache.get("/a").expect("open a");
        cache.get("/b").expect("open b");
        cache.get("/a").expect("reuse a");
        cache.get("/c").expect("open c");
        // `/b` was the least recently used, so `/a` is still the same handle.
        assert!(Arc::ptr_eq(&a, &cache.get("/a").expect("a again")));
    }

    #[test]
    fn expired_entry_sees_the_replaced_file() {
        let dir = root_with_files(&["a"]);
        let cache = cache(&dir, 4, Duration::ZERO);
        assert_eq!(cache.get("/a").expect("open").length(), 1);
        std::fs::write(dir.path().join("a"), b"longer").expect("rewrite");
        assert_eq!(cache.get("/a").expect("reopen").length(), 6);
    }

    #[test]
    fn positioned_read_stops_at_end_of_file() {
        let dir = root_with_files(&["hello"]);
        let cache = cache(&dir, 4, DEFAULT_TTL);
        let file = cache.get("/hello").expect("open");
        let mut buf = [0u8; 16];
        assert_eq!(file.read_at(2, &mut buf).expect("read"), 3);
        assert_eq!(&buf[..3], b"llo");
    }
}
