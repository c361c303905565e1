//! [`workspace_binary`]: the path of another workspace crate's executable, built by cargo.
//!
//! A crate's own integration tests name its binaries with `env!("CARGO_BIN_EXE_<name>")`;
//! cargo sets that only for the crate's own binaries. For another crate's (the balancer's
//! tests start `trickles-server` processes), this runs `cargo build -p PACKAGE --bin NAME` once
//! per test process (a no-op when up to date, so a binary is never stale) and returns the
//! executable in the target directory the running test lives in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::{Result, TestkitError};

/// The binaries built by this process so far.
static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// The executable `bin` of the workspace package `package`, built for the profile the running
/// test was built with.
pub fn workspace_binary(package: &str, bin: &str) -> Result<PathBuf> {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(bin) {
        return Ok(path.clone());
    }
    let profile_dir = profile_dir()?;
    let path = profile_dir.join(bin);
    let missing = |reason: String| TestkitError::MissingBinary {
        binary: bin.to_owned(),
        path: path.clone(),
        reason,
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|root| root.join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .ok_or_else(|| missing("the workspace sources are not here".to_owned()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", package, "--bin", bin])
        .stdin(Stdio::null());
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| missing(format!("running cargo: {e}")))?;
    if !status.success() {
        return Err(missing(format!(
            "`cargo build -p {package} --bin {bin}` failed ({status})"
        )));
    }
    if !path.is_file() {
        return Err(missing("cargo built it elsewhere".to_owned()));
    }
    built.insert(bin.to_owned(), path.clone());
    Ok(path)
}

/// `target/<profile>`: the running test is `target/<profile>/deps/<test>-<hash>`.
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| TestkitError::io("the running test", e))?;
    exe.parent()
        .filter(|deps| deps.file_name().is_some_and(|name| name == "deps"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            TestkitError::io(
                exe.clone(),
                std::io::Error::other("not a cargo test executable (target/<profile>/deps/…)"),
            )
        })
}
