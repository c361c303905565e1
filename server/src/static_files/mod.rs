//! The static web application: serves the regular files under a root directory, both to
//! Trickles clients (as a [`trickles::app::Application`]) and to the HTTP/TCP baseline.
//!
//! A Trickles request is the file's path as UTF-8 (`/dir/file.bin`); the rules it must follow
//! are in [`request_path`]. [`Application::open`] answers the file's length and a user
//! continuation holding the path and the file's identity, its length and modification time
//! ([`ucont`], [`identity`]); [`Application::read_at`] serves any byte range from it with
//! positioned reads on a handle from a small [`OpenFileCache`]. If the file on this replica is
//! no longer the one the continuation names (rewritten in place, replaced, truncated, removed)
//! the answer is [`AppError::Changed`], never different bytes: the identity is checked again
//! after each read (`fstat`), and a write in place updates the modification time before it
//! changes any byte, so a read that saw a new byte sees the new time too.

pub mod identity;
pub mod open_file_cache;
pub mod request_path;
pub mod ucont;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trickles::app::{AppError, Application, Opened};

pub use open_file_cache::{OpenFile, OpenFileCache};

/// The static web application over one root directory.
#[derive(Debug)]
pub struct StaticFiles {
    cache: OpenFileCache,
}

impl StaticFiles {
    /// Serve the files under `root` (which must be an existing directory), caching up to
    /// [`open_file_cache::DEFAULT_CAPACITY`] open handles.
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Self::with_cache(
            root,
            open_file_cache::DEFAULT_CAPACITY,
            open_file_cache::DEFAULT_TTL,
        )
    }

    /// Like [`StaticFiles::new`] with an explicit cache size and handle lifetime.
    pub fn with_cache(
        root: &Path,
        capacity: usize,
        ttl: std::time::Duration,
    ) -> std::io::Result<Self> {
        let root = request_path::canonical_root(root)?;
        Ok(StaticFiles {
            cache: OpenFileCache::new(root, capacity, ttl),
        })
    }

    /// The canonical root directory served.
    pub fn root(&self) -> Arc<PathBuf> {
        self.cache.root()
    }

    /// Serve another root directory from now on (configuration reload).
    pub fn set_root(&self, root: &Path) -> std::io::Result<()> {
        let root = request_path::canonical_root(root)?;
        self.cache.set_root(root);
        Ok(())
    }

    /// The open file a request path names, after checking the path rules.
    pub fn open_file(&self, request: &[u8]) -> Result<Arc<OpenFile>, AppError> {
        let path = request_path::validate(request)?;
        self.cache.get(path)
    }
}

impl Application for StaticFiles {
    fn open(&self, request: &[u8], _client: SocketAddr) -> Result<Opened, AppError> {
        let path = request_path::validate(request)?;
        let file = self.cache.get(path)?;
        Ok(Opened {
            ucont: ucont::encode(path, &file.identity()),
            length: file.length(),
        })
    }

    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        let (path, sealed) = ucont::decode(ucont)?;
        let length = sealed.length();
        let file = self.cache.get(path).map_err(|e| match e {
            AppError::Internal(_) => e,
            _ => AppError::Changed,
        })?;
        if !sealed.matches(&file.identity()) || offset > length {
            return Err(AppError::Changed);
        }
        let wanted = buf
            .len()
            .min(usize::try_from(length - offset).unwrap_or(usize::MAX));
        let read = file
            .read_at(offset, &mut buf[..wanted])
            .map_err(|e| AppError::Internal(e.to_string()))?;
        if read < wanted {
            // The file shrank under us since it was opened.
            return Err(AppError::Changed);
        }
        // After the read: a write in place that the read may have seen has updated this.
        let now = file
            .current_identity()
            .map_err(|e| AppError::Internal(e.to_string()))?;
        if !sealed.matches(&now) {
            return Err(AppError::Changed);
        }
        Ok(read)
    }
}
