//! [`OutputFile`]: an `-o FILE` written under a temporary name and renamed to FILE only once
//! the whole body is there, so a failed transfer (not found, refused because the content
//! changed, timed out, interrupted) leaves no complete-looking file behind, and an existing FILE
//! is untouched until a new one replaces it in one step.
//!
//! The temporary file is a hidden sibling (`.FILE.part-PID`), so the rename stays within one
//! file system. It is removed when the [`OutputFile`] is dropped without [`OutputFile::commit`].
//! A FILE that exists and is not a regular file (`/dev/null`, a FIFO, a terminal) is written in
//! place: there is nothing to rename over it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ClientError;

/// An output file being written; see the module documentation.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    /// `None` when writing in place.
    temporary: Option<PathBuf>,
}

impl OutputFile {
    /// Starts writing `path`: returns the guard and the file to write the body into.
    pub fn create(path: &Path) -> Result<(OutputFile, File), ClientError> {
        let in_place = std::fs::metadata(path).is_ok_and(|meta| !meta.is_file());
        if in_place {
            let file = File::create(path).map_err(|e| with_path(path, e))?;
            let guard = OutputFile {
                path: path.to_path_buf(),
                temporary: None,
            };
            return Ok((guard, file));
        }
        let temporary = temporary_sibling(path);
        let file = File::create(&temporary).map_err(|e| with_path(path, e))?;
        let guard = OutputFile {
            path: path.to_path_buf(),
            temporary: Some(temporary),
        };
        Ok((guard, file))
    }

    /// The file the body ends up in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The body is complete: give the file its name.
    pub fn commit(mut self) -> Result<(), ClientError> {
        match self.temporary.take() {
            Some(temporary) => std::fs::rename(&temporary, &self.path).map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                with_path(&self.path, e)
            }),
            None => Ok(()),
        }
    }
}

impl Drop for OutputFile {
    /// Not committed: the partial body goes away.
    fn drop(&mut self) {
        if let Some(temporary) = self.temporary.take() {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// `DIR/.NAME.part-PID` for `DIR/NAME`.
/// Bytes written so far to the `-o` file `path` by a running client (of any process): the
/// size of its temporary sibling while the transfer runs, of `path` once it is complete. For
/// watching a download from outside, as the lab samples delivery.
pub fn written_so_far(path: &Path) -> u64 {
    let complete = std::fs::metadata(path).map_or(0, |meta| meta.len());
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or(path.as_os_str()));
    prefix.push(".part-");
    let prefix = prefix.to_string_lossy().into_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let partial = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .max()
        .unwrap_or(0);
    complete.max(partial)
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or(path.as_os_str()));
    name.push(format!(".part-{}", std::process::id()));
    path.with_file_name(name)
}

fn with_path(path: &Path, error: io::Error) -> ClientError {
    ClientError::Output(io::Error::new(
        error.kind(),
        format!("{}: {error}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn what_is_written_so_far_is_seen_before_and_after_the_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("copy");
        assert_eq!(written_so_far(&path), 0);
        let (output, mut file) = OutputFile::create(&path).expect("create");
        file.write_all(b"half").expect("write");
        file.flush().expect("flush");
        assert_eq!(written_so_far(&path), 4);
        file.write_all(b"+all").expect("write");
        drop(file);
        output.commit().expect("commit");
        assert_eq!(written_so_far(&path), 8);
    }

    #[test]
    fn committed_output_appears_under_its_name_only_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("copy");
        let (output, mut file) = OutputFile::create(&path).expect("create");
        file.write_all(b"body").expect("write");
        assert!(
            !path.exists(),
            "the name appeared before the body was complete"
        );
        drop(file);
        output.commit().expect("commit");
        assert_eq!(std::fs::read(&path).expect("read"), b"body");
        assert_eq!(names(dir.path()), ["copy"]);
    }

    #[test]
    fn failed_transfer_leaves_no_file_and_keeps_an_existing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("fresh");
        let (output, mut file) = OutputFile::create(&fresh).expect("create");
        file.write_all(b"partial").expect("write");
        drop((output, file));
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));

        let existing = dir.path().join("existing");
        std::fs::write(&existing, b"old").expect("write");
        let (output, mut file) = OutputFile::create(&existing).expect("create");
        file.write_all(b"partial").expect("write");
        drop((output, file));
        assert_eq!(std::fs::read(&existing).expect("read"), b"old");
        assert_eq!(names(dir.path()), ["existing"]);
    }

    #[test]
    fn a_device_is_written_in_place() {
        let (output, mut file) = OutputFile::create(Path::new("/dev/null")).expect("create");
        file.write_all(b"body").expect("write");
        output.commit().expect("commit");
        assert!(Path::new("/dev/null").exists());
    }
}
