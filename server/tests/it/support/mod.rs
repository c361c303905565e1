//! Fixtures of the server's tests: a temporary directory holding what a server is started
//! with (a static root `www/` and a key file `keys.yaml`), optionally with one served file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use trickles_server::cli::{KeygenArgs, RunArgs};
use trickles_server::keygen::keygen;

/// `www/file.bin` and a key file, in a temporary directory.
pub struct ServedFile {
    /// The directory.
    pub dir: tempfile::TempDir,
    /// The bytes of `www/file.bin`.
    pub body: Vec<u8>,
}

impl ServedFile {
    /// Serves `body` as `/file.bin`.
    pub fn new(body: Vec<u8>) -> Self {
        let dir = dir_with_root_and_keys();
        std::fs::write(dir.path().join("www/file.bin"), &body).expect("write");
        ServedFile { dir, body }
    }

    /// A file of the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Flags for a server of this directory on `listen`, two workers each.
    pub fn args(&self, listen: Vec<SocketAddr>) -> RunArgs {
        RunArgs {
            listen,
            root: Some(self.path("www")),
            key_file: Some(self.path("keys.yaml")),
            workers: Some(2),
            ..RunArgs::default()
        }
    }
}

/// A temporary directory with an empty `www/` and a fresh `keys.yaml`.
pub fn dir_with_root_and_keys() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("www")).expect("mkdir");
    write_keys(&dir.path().join("keys.yaml"), None);
    dir
}

/// A new key file at `output` (epoch `epoch`, or keygen's choice).
pub fn write_keys(output: &Path, epoch: Option<u8>) {
    keygen(&KeygenArgs {
        output: output.to_path_buf(),
        epoch,
        rotate: false,
        stage: false,
        promote: false,
        force: false,
        retire: false,
        accept_previous_for: None,
    })
    .expect("keygen");
}
