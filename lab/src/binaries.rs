//! [`Binaries`]: where the `trickles-server`, `trickles-client` (and, for a balanced pool,
//! `trickles-balancer`) executables the lab drives are, building them with cargo when the
//! workspace is at hand.
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
}

impl Binaries {
    /// The binaries in `dir` (fails clearly when one is missing).
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let found = |binary: &'static str| {
            let path = dir.join(binary);
            if path.is_file() {
                Ok(path)
            } else {
                Err(LabError::MissingBinary { binary, path })
            }
        };
        let balancer = dir.join(BALANCER_BIN);
        Ok(Binaries {
            server: found(SERVER_BIN)?,
            client: found(CLIENT_BIN)?,
            balancer: balancer.is_file().then_some(balancer),
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

    /// [`build`](Self::build), and `trickles-balancer` too when `with_balancer`.
    pub fn build_with(profile: Profile, with_balancer: bool) -> Result<Self> {
        let manifest = workspace_manifest().ok_or_else(|| LabError::Build {
            what: "trickles-server and trickles-client".to_owned(),
            reason: "the workspace sources are not here; pass --bin-dir".to_owned(),
        })?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["-p", SERVER_BIN, "-p", CLIENT_BIN])
            .args(if with_balancer {
                &["-p", BALANCER_BIN][..]
            } else {
                &[]
            })
            .args(["--message-format", "json-render-diagnostics"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if profile == Profile::Release {
            command.arg("--release");
        }
        let extra = if with_balancer {
            format!(", {BALANCER_BIN}")
        } else {
            String::new()
        };
        let what = format!("{SERVER_BIN}, {CLIENT_BIN}{extra} ({profile:?})");
        let mut child = command
            .spawn()
            .map_err(|e| LabError::process(format!("running cargo to build {what}"), e))?;
        let mut server = None;
        let mut client = None;
        let mut balancer = None;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line.map_err(|e| LabError::process("reading cargo's output", e))?;
                let Ok(artifact) = serde_json::from_str::<CargoArtifact>(&line) else {
                    continue;
                };
                match (artifact.target.name.as_str(), artifact.executable) {
                    (SERVER_BIN, Some(path)) => server = Some(path),
                    (CLIENT_BIN, Some(path)) => client = Some(path),
                    (BALANCER_BIN, Some(path)) => balancer = Some(path),
                    _ => {}
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
        match (server, client) {
            (Some(server), Some(client)) if balancer.is_some() || !with_balancer => Ok(Binaries {
                server,
                client,
                balancer,
            }),
            _ => Err(LabError::Build {
                what,
                reason: "cargo reported no executable".to_owned(),
            }),
        }
    }

    /// What the CLI uses: `--bin-dir` if given; else a cargo build in the workspace when its
    /// sources are here; else the binaries next to this executable.
    pub fn locate(bin_dir: Option<&Path>, profile: Profile, with_balancer: bool) -> Result<Self> {
        let binaries = match bin_dir {
            Some(dir) => Binaries::in_dir(dir)?,
            None if workspace_manifest().is_some() => Binaries::build_with(profile, with_balancer)?,
            None => Binaries::beside_current_exe()?,
        };
        if with_balancer && binaries.balancer.is_none() {
            let dir = binaries.server.parent().unwrap_or_else(|| Path::new("."));
            return Err(LabError::MissingBinary {
                binary: BALANCER_BIN,
                path: dir.join(BALANCER_BIN),
            });
        }
        Ok(binaries)
    }

    /// The balancer's path, or a clear error when it was not built.
    pub fn balancer(&self) -> Result<&Path> {
        self.balancer
            .as_deref()
            .ok_or_else(|| LabError::MissingBinary {
                binary: BALANCER_BIN,
                path: self
                    .server
                    .parent()
                    .unwrap_or_else(|| Path::new("."))
                    .join(BALANCER_BIN),
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
