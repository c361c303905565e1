//! The path rules of the static web application, shared by the Trickles application and the
//! HTTP/TCP baseline: which request paths are acceptable and where under the root they lead.
//!
//! A request path is UTF-8, starts with `/`, and is a list of plain names separated by single
//! slashes: no `.` or `..` segment, no empty segment (`//`, a trailing `/`), no NUL or backslash.
//! Checking the text is not enough, because a symbolic link inside the root may point outside
//! it; so the joined path is canonicalised (all links resolved) and must still lie under the
//! canonical root. Only regular files are served.

use std::path::{Path, PathBuf};

use trickles::app::AppError;

/// Longest request path accepted, in bytes (it rides in the user continuation).
pub const MAX_REQUEST_PATH_LEN: usize = trickles::app::MAX_UCONT_LEN - super::ucont::HEADER_LEN;

/// Check the text of a request path; returns it as `&str` when it follows the rules.
pub fn validate(request: &[u8]) -> Result<&str, AppError> {
    let path = std::str::from_utf8(request)
        .map_err(|_| AppError::BadRequest("path is not UTF-8".into()))?;
    if path.len() > MAX_REQUEST_PATH_LEN {
        return Err(AppError::BadRequest(format!(
            "path longer than {MAX_REQUEST_PATH_LEN} bytes"
        )));
    }
    let relative = path
        .strip_prefix('/')
        .ok_or_else(|| AppError::BadRequest("path does not start with '/'".into()))?;
    if relative.is_empty() {
        return Err(AppError::BadRequest("path names the root directory".into()));
    }
    for segment in relative.split('/') {
        match segment {
            "" => return Err(AppError::BadRequest("path has an empty segment".into())),
            "." | ".." => return Err(AppError::BadRequest("path has a dot segment".into())),
            _ if segment.contains(['\0', '\\']) => {
                return Err(AppError::BadRequest(
                    "path contains a NUL or backslash".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(path)
}

/// Canonicalise a root directory once, at start or reload.
pub fn canonical_root(root: &Path) -> std::io::Result<PathBuf> {
    let canonical = root.canonicalize()?;
    if !canonical.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok(canonical)
}

/// The canonical file system path of the regular file `path` (already [`validate`]d) names
/// under `canonical_root`. Missing files are [`AppError::NotFound`]; directories, other
/// non-regular files and links leading out of the root are [`AppError::BadRequest`].
pub fn resolve(canonical_root: &Path, path: &str) -> Result<PathBuf, AppError> {
    let mut joined = canonical_root.to_path_buf();
    // `validate` guarantees plain segments, so no segment can reset the path to `/`.
    joined.extend(path.split('/').filter(|s| !s.is_empty()));
    let canonical = joined.canonicalize().map_err(io_to_app_error)?;
    if !canonical.starts_with(canonical_root) {
        return Err(AppError::BadRequest("path leads outside the root".into()));
    }
    let meta = std::fs::metadata(&canonical).map_err(io_to_app_error)?;
    if meta.is_dir() {
        return Err(AppError::BadRequest("path names a directory".into()));
    }
    if !meta.is_file() {
        return Err(AppError::BadRequest("path names no regular file".into()));
    }
    Ok(canonical)
}

/// Missing files are "not found"; anything else is an internal error.
pub fn io_to_app_error(e: std::io::Error) -> AppError {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => AppError::NotFound,
        _ => AppError::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_valid() {
        assert_eq!(validate(b"/a/b.bin"), Ok("/a/b.bin"));
        assert_eq!(validate(b"/file"), Ok("/file"));
    }

    #[test]
    fn dot_empty_and_relative_paths_are_invalid() {
        for bad in [
            &b"/../etc/passwd"[..],
            b"/a/../b",
            b"/./a",
            b"a/b",
            b"/",
            b"",
            b"/a//b",
            b"/a/",
            b"/a\\..\\b",
            b"/a\0b",
            b"/\xff",
        ] {
            assert!(
                matches!(validate(bad), Err(AppError::BadRequest(_))),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn overlong_path_is_invalid() {
        let long = format!("/{}", "a".repeat(MAX_REQUEST_PATH_LEN));
        assert!(validate(long.as_bytes()).is_err());
    }
}
