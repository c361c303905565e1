//! Fixtures of the server's tests: a temporary directory holding what a server is started
//! with (a static root `www/` and a key file `keys.yaml`).

use std::path::Path;

use trickles_server::cli::KeygenArgs;
use trickles_server::keygen::keygen;

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
    })
    .expect("keygen");
}
