//! [`FileIdentity`]: what a user continuation seals about the file it streams, so that a file
//! changed during a transfer is refused instead of delivered as a mix of old and new bytes.
//!
//! The identity is the file's length and modification time (seconds and nanoseconds), the pair
//! HTTP servers use for an `ETag`. It leaves out the inode on purpose: replicas of a pool hold
//! their own copies of the files, and any replica must resume any connection. Copies therefore
//! need the same modification time (`rsync -a`, `cp -p`, `tar`); a copy with another one is
//! refused as changed, which costs a resume, never wrong bytes.
//!
//! Limits: a change within one tick of the file system's clock after the previous change (a
//! few milliseconds on Linux) keeps the modification time, and so does a writer that restores
//! it; neither is noticed. Writes through a shared memory mapping update it late.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// Length and modification time of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// Bytes.
    pub length: u64,
    /// Modification time: seconds since the UNIX epoch (negative before it).
    pub modified_secs: i64,
    /// Modification time: nanoseconds within the second.
    pub modified_nanos: u32,
}

impl FileIdentity {
    /// The identity `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        FileIdentity {
            length: meta.len(),
            modified_secs: meta.mtime(),
            modified_nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rewriting_a_file_in_place_changes_its_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"old bytes").expect("write");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        // As a copy with a preserved modification time would be.
        file.set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
            .expect("set mtime");
        let before = FileIdentity::of(&file.metadata().expect("stat"));
        std::fs::write(&path, b"new bytes").expect("rewrite, same length");
        let after = FileIdentity::of(&std::fs::metadata(&path).expect("stat"));
        assert_eq!(before.length, after.length);
        assert_ne!(before, after);
    }
}
