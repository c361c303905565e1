//! [`Binaries`]: where the `trickles-server`, `trickles-client` (and, for a balanced or
//! mirrored pool, `trickles-balancer` and `trickles-mirror`) executables the lab drives are,
//! building them with cargo when the workspace is at hand.
//!
//! The lab never links the server or the client: it runs them as separate processes, so what
//! it measures and tests is the real programs on real sockets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::error::{LabError, Result};

/// The server's executable name.
pub const SERVER_BIN: &str = "trickles-server";
/// The client's executable name.
pub const CLIENT_BIN: &str = "trickles-client";
/// The load balancer's executable name.
pub const BALANCER_BIN: &str = "trickles-balancer";
/// The packet mirror's executable name.
pub const MIRROR_BIN: &str = "trickles-mirror";

/// The cargo profile to build the binaries with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `dev` (debug): quick to build, for the tests.
    Debug,
    /// `release`: for the demo and every figure.
    Release,
}

/// Paths of the executables.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `trickles-server`.
    pub server: PathBuf,
    /// `trickles-client`.
    pub client: PathBuf,
    /// `trickles-balancer`, when it was asked for (or found in `--bin-dir`).
    pub balancer: Option<PathBuf>,
    /// `trickles-mirror`, when it was asked for (or found in `--bin-dir`).
    pub mirror: Option<PathBuf>,
}

impl Binaries {
    /// The binaries in `dir` (fails clearly when the server or the client is missing).
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let found = |binary: &'static str| {
            let path = dir.join(binary);
            if path.is_file() {
                Ok(path)
            } else {
                Err(LabError::MissingBinary { binary, path })
            }
        };
        Ok(Binaries {
            server: found(SERVER_BIN)?,
            client: found(CLIENT_BIN)?,
            balancer: found(BALANCER_BIN).ok(),
            mirror: found(MIRROR_BIN).ok(),
        })
    }

    /// The binaries next to the running executable (how an installed lab finds them).
    pub fn beside_current_exe() -> Result<Self> {
        let exe = std::env::current_exe().map_err(|e| LabError::io("current executable", e))?;
        let dir = exe.parent().unwrap_or_else(|| Path::new("."));
        Binaries::in_dir(dir)
    }

    /// Builds the server and the client with `cargo build -p trickles-server -p
    /// trickles-client` in the workspace this crate was compiled from, and returns the
    /// artifacts cargo reports. Cargo's progress goes to our stderr. Cheap when up to date.
    pub fn build(profile: Profile) -> Result<Self> {
        Binaries::build_with(profile, false)
    }

    /// [`build`](Self::build), and `trickles-balancer` and `trickles-mirror` too when
    /// `with_network_functions` (one cargo run).
    pub fn build_with(profile: Profile, with_network_functions: bool) -> Result<Self> {
        let wanted: &[&'static str] = if with_network_functions {
            &[SERVER_BIN, CLIENT_BIN, BALANCER_BIN, MIRROR_BIN]
        } else {
            &[SERVER_BIN, CLIENT_BIN]
        };
        let what = format!("{} ({profile:?})", wanted.join(", "));
        let manifest = workspace_manifest().ok_or_else(|| LabError::Build {
            what: what.clone(),
            reason: "the workspace sources are not here; pass --bin-dir".to_owned(),
        })?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.arg("build").arg("--manifest-path").arg(&manifest);
        for package in wanted {
            command.args(["-p", package, "--bin", package]);
        }
        command
            .args(["--message-format", "json-render-diagnostics"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if profile == Profile::Release {
            command.arg("--release");
        }
        let mut child = command
            .spawn()
            .map_err(|e| LabError::process(format!("running cargo to build {what}"), e))?;
        let mut built: Vec<(String, PathBuf)> = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line.map_err(|e| LabError::process("reading cargo's output", e))?;
                let Ok(artifact) = serde_json::from_str::<CargoArtifact>(&line) else {
                    continue;
                };
                if let Some(path) = artifact.executable {
                    built.push((artifact.target.name, path));
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| LabError::process("waiting for cargo", e))?;
        if !status.success() {
            return Err(LabError::Build {
                what,
                reason: format!("cargo {status}"),
            });
        }
        let artifact = |name: &str| {
            built
                .iter()
                .find(|(target, _)| target == name)
                .map(|(_, path)| path.clone())
        };
        let binaries = (|| {
            Some(Binaries {
                server: artifact(SERVER_BIN)?,
                client: artifact(CLIENT_BIN)?,
                balancer: artifact(BALANCER_BIN),
                mirror: artifact(MIRROR_BIN),
            })
        })()
        .filter(|b| !with_network_functions || (b.balancer.is_some() && b.mirror.is_some()));
        binaries.ok_or_else(|| LabError::Build {
            what,
            reason: "cargo reported no executable".to_owned(),
        })
    }

    /// What the CLI uses: `--bin-dir` if given; else a cargo build in the workspace when its
    /// sources are here; else the binaries next to this executable. With
    /// `with_network_functions`, the balancer and the mirror must be there too.
    pub fn locate(
        bin_dir: Option<&Path>,
        profile: Profile,
        with_network_functions: bool,
    ) -> Result<Self> {
        let binaries = match bin_dir {
            Some(dir) => Binaries::in_dir(dir)?,
            None if workspace_manifest().is_some() => {
                Binaries::build_with(profile, with_network_functions)?
            }
            None => Binaries::beside_current_exe()?,
        };
        if with_network_functions {
            binaries.balancer()?;
            binaries.mirror()?;
        }
        Ok(binaries)
    }

    /// The balancer's path, or a clear error when it was not built.
    pub fn balancer(&self) -> Result<&Path> {
        self.network_function(self.balancer.as_deref(), BALANCER_BIN)
    }

    /// The mirror's path, or a clear error when it was not built.
    pub fn mirror(&self) -> Result<&Path> {
        self.network_function(self.mirror.as_deref(), MIRROR_BIN)
    }

    fn network_function<'a>(
        &self,
        path: Option<&'a Path>,
        binary: &'static str,
    ) -> Result<&'a Path> {
        path.ok_or_else(|| LabError::MissingBinary {
            binary,
            path: self
                .server
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(binary),
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

/// The part of cargo's `compiler-artifact` message we read.
#[derive(Deserialize)]
struct CargoArtifact {
    target: CargoTarget,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_is_named_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = Binaries::in_dir(dir.path()).expect_err("empty directory");
        let message = error.to_string();
        assert!(message.contains(SERVER_BIN), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
    }
}
