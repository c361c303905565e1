//! [`ServiceFixture`]: the files a lab run needs: a temporary directory holding a key file
//! (from `trickles-server keygen`), the served directory `www/`, and the logs of every process.

use std::path::{Path, PathBuf};

use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::service::server::keygen;
use crate::test_file;

/// A temporary service directory; removed when dropped unless [`keep`](Self::keep) was called.
pub struct ServiceFixture {
    dir: tempfile::TempDir,
    root: PathBuf,
    key_file: PathBuf,
}

impl ServiceFixture {
    /// Creates the directory, `www/`, and a new key file.
    pub fn new(binaries: &Binaries) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("trickles-lab-")
            .tempdir()
            .map_err(|e| LabError::io(std::env::temp_dir(), e))?;
        let root = dir.path().join("www");
        std::fs::create_dir(&root).map_err(|e| LabError::io(&root, e))?;
        let key_file = dir.path().join("keys.yaml");
        keygen(binaries, &key_file, &dir.path().join("keygen.log"))?;
        Ok(ServiceFixture {
            dir,
            root,
            key_file,
        })
    }

    /// The fixture's directory (logs, statistics and downloads go here).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The shared key file.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// Serves `name`: `len` seeded pseudo-random bytes; returns their SHA-256.
    pub fn add_file(&self, name: &str, len: u64, seed: u64) -> Result<String> {
        test_file::write_seeded(&self.root.join(name), len, seed)
    }

    /// Keeps the directory after the run (for inspection); returns its path.
    pub fn keep(&mut self) -> PathBuf {
        self.dir.disable_cleanup(true);
        self.dir.path().to_path_buf()
    }
}

/// Creates the results directory `dir` and returns its absolute path (for the reports).
pub fn output_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    dir.canonicalize().map_err(|e| LabError::io(dir, e))
}
