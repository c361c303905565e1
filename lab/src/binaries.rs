//! [`Binaries`]: where the executables the lab drives are (`trickles-server`,
//! `trickles-client`, `trickles-balancer`, `trickles-mirror`, `trickles-mirror-tunnel`,
//! `trickles-anycast`),
//! building them with cargo (one run, cheap when up to date) when the workspace is at hand.
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
/// The tunnel endpoint's executable name (TCP through the packet mirror).
pub const TUNNEL_BIN: &str = "trickles-mirror-tunnel";
/// The anycast controller's executable name.
pub const ANYCAST_BIN: &str = "trickles-anycast";
/// Every executable the lab drives, and the package each comes from.
const PROGRAMS: [(&str, &str); 6] = [
    (SERVER_BIN, "trickles-server"),
    (CLIENT_BIN, "trickles-client"),
    (BALANCER_BIN, "trickles-balancer"),
    (MIRROR_BIN, "trickles-mirror"),
    (TUNNEL_BIN, "trickles-mirror"),
    (ANYCAST_BIN, "trickles-anycast"),
];

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
    /// `trickles-mirror-tunnel`, when it was asked for (or found in `--bin-dir`).
    pub tunnel: Option<PathBuf>,
    /// `trickles-anycast`, when it was asked for (or found in `--bin-dir`).
    pub anycast: Option<PathBuf>,
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
            tunnel: found(TUNNEL_BIN).ok(),
            anycast: found(ANYCAST_BIN).ok(),
        })
    }

    /// The binaries next to the running executable (how an installed lab finds them).
    pub fn beside_current_exe() -> Result<Self> {
        let exe = std::env::current_exe().map_err(|e| LabError::io("current executable", e))?;
        let dir = exe.parent().unwrap_or_else(|| Path::new("."));
        Binaries::in_dir(dir)
    }

    /// Builds every program the lab drives with one `cargo build` in the workspace this crate
    /// was compiled from, and returns the artifacts cargo reports. Cargo's progress goes to our
    /// stderr. Cheap when up to date.
    pub fn build(profile: Profile) -> Result<Self> {
        let what = format!("the trickles programs ({profile:?})");
        let manifest = workspace_manifest().ok_or_else(|| LabError::Build {
            what: what.clone(),
            reason: "the workspace sources are not here; pass --bin-dir".to_owned(),
        })?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.arg("build").arg("--manifest-path").arg(&manifest);
        for (binary, package) in PROGRAMS {
            command.args(["-p", package, "--bin", binary]);
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
                tunnel: artifact(TUNNEL_BIN),
                anycast: artifact(ANYCAST_BIN),
            })
        })();
        binaries.ok_or_else(|| LabError::Build {
            what,
            reason: "cargo reported no executable".to_owned(),
        })
    }

    /// What the CLI uses: `--bin-dir` if given; else a cargo build in the workspace when its
    /// sources are here; else the binaries next to this executable.
    pub fn locate(bin_dir: Option<&Path>, profile: Profile) -> Result<Self> {
        match bin_dir {
            Some(dir) => Binaries::in_dir(dir),
            None if workspace_manifest().is_some() => Binaries::build(profile),
            None => Binaries::beside_current_exe(),
        }
    }

    /// The balancer's path, or a clear error when it was not built.
    pub fn balancer(&self) -> Result<&Path> {
        self.network_function(self.balancer.as_deref(), BALANCER_BIN)
    }

    /// The mirror's path, or a clear error when it was not built.
    pub fn mirror(&self) -> Result<&Path> {
        self.network_function(self.mirror.as_deref(), MIRROR_BIN)
    }

    /// The tunnel endpoint's path, or a clear error when it was not built.
    pub fn tunnel(&self) -> Result<&Path> {
        self.network_function(self.tunnel.as_deref(), TUNNEL_BIN)
    }

    /// The anycast controller's path, or a clear error when it was not built.
    pub fn anycast(&self) -> Result<&Path> {
        self.network_function(self.anycast.as_deref(), ANYCAST_BIN)
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
