//! Source images on disk: resolving a request's image path under the watermark root, and
//! reading the file together with a *stamp* that says which version of it was read.
//!
//! The stamp (device, inode, length, modification and change times) is local to this replica:
//! it only tells the render cache whether a cached rendering still matches the file on disk,
//! so a replaced source is rendered again. What replicas must agree on is the rendered bytes,
//! which the continuation pins by length and digest.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use trickles::app::AppError;

use crate::static_files::request_path;

/// Largest source file accepted, in bytes.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Which version of a source file was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceStamp {
    device: u64,
    inode: u64,
    length: u64,
    modified_ns: i128,
    changed_ns: i128,
}

impl SourceStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        SourceStamp {
            device: meta.dev(),
            inode: meta.ino(),
            length: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            changed_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

/// The canonical path of a (validated) image path under `canonical_root` and the stamp of the
/// file there now. Paths leading out of the root are refused as by the static application.
pub fn locate(canonical_root: &Path, image_path: &str) -> Result<(PathBuf, SourceStamp), AppError> {
    let canonical = request_path::resolve(canonical_root, image_path)?;
    let meta = std::fs::metadata(&canonical).map_err(request_path::io_to_app_error)?;
    Ok((canonical, SourceStamp::of(&meta)))
}

/// Read the regular file at `canonical` (no symbolic link followed) whole, with the stamp of
/// the version read.
pub fn read(canonical: &Path) -> Result<(Vec<u8>, SourceStamp), AppError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(canonical)
        .map_err(request_path::io_to_app_error)?;
    let meta = file.metadata().map_err(request_path::io_to_app_error)?;
    if !meta.is_file() {
        return Err(AppError::BadRequest("source is not a regular file".into()));
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(AppError::BadRequest(format!(
            "source image larger than {MAX_SOURCE_BYTES} bytes"
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    if bytes.len() as u64 != meta.len() {
        // The file changed while being read; the next request sees the new version.
        return Err(AppError::Changed);
    }
    Ok((bytes, SourceStamp::of(&meta)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_file_has_another_stamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::write(root.join("a.jpg"), b"one").expect("write");
        let (path, first) = locate(&root, "/a.jpg").expect("locate");
        let (bytes, read_stamp) = read(&path).expect("read");
        assert_eq!(bytes, b"one");
        assert_eq!(read_stamp, first);
        std::fs::write(root.join("a.jpg"), b"three").expect("rewrite");
        assert_ne!(locate(&root, "/a.jpg").expect("locate").1, first);
    }

    #[test]
    fn missing_source_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        assert_eq!(locate(&root, "/none.jpg"), Err(AppError::NotFound));
    }
}
