//! [`tunnel_binary`]: where `trickles-mirror-tunnel` (the endpoint that carries a host's TCP
//! through the packet mirror) is: beside the other binaries, built there with cargo when the
//! workspace is at hand (the lab's binary builds leave it out: only the experiments that tunnel
//! TCP need it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::binaries::{Binaries, Profile};
use crate::error::{LabError, Result};

/// The tunnel endpoint's executable name.
pub const TUNNEL_BIN: &str = "trickles-mirror-tunnel";

/// With `bin_dir`, the tunnel endpoint in it; otherwise it is built with cargo (`profile`)
/// when the workspace sources are here, and looked up beside `binaries` (cargo puts every
/// artifact of a profile in one folder).
pub fn tunnel_binary(
    binaries: &Binaries,
    bin_dir: Option<&Path>,
    profile: Profile,
) -> Result<PathBuf> {
    let dir = match bin_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            if let Some(manifest) = workspace_manifest() {
                build(&manifest, profile)?;
            }
            binaries
                .server
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .to_path_buf()
        }
    };
    let path = dir.join(TUNNEL_BIN);
    if path.is_file() {
        Ok(path)
    } else {
        Err(LabError::MissingBinary {
            binary: TUNNEL_BIN,
            path,
        })
    }
}

/// `cargo build -p trickles-mirror --bin trickles-mirror-tunnel`; progress goes to our stderr.
fn build(manifest: &Path, profile: Profile) -> Result<()> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .args(["-p", "trickles-mirror", "--bin", TUNNEL_BIN])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if profile == Profile::Release {
        cargo.arg("--release");
    }
    let what = format!("{TUNNEL_BIN} ({profile:?})");
    let status = cargo
        .status()
        .map_err(|e| LabError::process(format!("running cargo to build {what}"), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(LabError::Build {
            what,
            reason: format!("cargo {status}"),
        })
    }
}

/// The workspace's `Cargo.toml`, if the sources this crate was built from are still there.
fn workspace_manifest() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("Cargo.toml");
    manifest.is_file().then_some(manifest)
}
