//! The files the lab serves: seeded pseudo-random bytes (ChaCha8), so a run is reproducible
//! and the content does not compress, and their SHA-256 for byte-exact checks.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::error::{LabError, Result};

const CHUNK: usize = 1 << 20;

/// Writes `len` seeded pseudo-random bytes to `path`; returns their lower-case hex SHA-256.
pub fn write_seeded(path: &Path, len: u64, seed: u64) -> Result<String> {
    let file = File::create(path).map_err(|e| LabError::io(path, e))?;
    let mut out = BufWriter::new(file);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        rng.fill_bytes(&mut chunk[..n]);
        hasher.update(&chunk[..n]);
        out.write_all(&chunk[..n])
            .map_err(|e| LabError::io(path, e))?;
        left -= n as u64;
    }
    out.flush().map_err(|e| LabError::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// The lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| LabError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut chunk).map_err(|e| LabError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_file_digest_matches_its_bytes_and_depends_on_the_seed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a");
        let digest = write_seeded(&a, 3 * CHUNK as u64 + 5, 7).expect("write");
        assert_eq!(sha256_file(&a).expect("hash"), digest);
        assert_eq!(
            std::fs::metadata(&a).expect("meta").len(),
            3 * CHUNK as u64 + 5
        );
        let b = dir.path().join("b");
        assert_ne!(
            write_seeded(&b, 3 * CHUNK as u64 + 5, 8).expect("write"),
            digest
        );
    }

    #[test]
    fn empty_file_has_the_empty_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let digest = write_seeded(&dir.path().join("e"), 0, 1).expect("write");
        assert_eq!(
            digest,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
