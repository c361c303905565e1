//! `trickles-server` as a [`Service`]: its YAML written from the server's own
//! [`ServerConfigFile`]; ready when `/healthz` answers (served only after the UDP sockets are
//! bound, so a healthy replica is ready for Trickles requests). Plus [`keygen`].

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub use trickles_server::ServerConfigFile;

use super::{Service, ServiceFiles, ServiceSpec};
use crate::binaries::Binaries;
use crate::children::ChildProcess;
use crate::error::Result;
use crate::fixture::ServiceFixture;
use crate::http_probe;

/// Trickles' UDP port on a namespace host.
pub const TRICKLES_PORT: u16 = 4433;
/// The HTTP baseline's TCP port on a namespace host.
pub const HTTP_PORT: u16 = 8080;
/// A server's control port, on its namespace's own loopback.
pub const CONTROL_PORT: u16 = 9100;

/// One `trickles-server`.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Its configuration file.
    pub config: ServerConfigFile,
}

impl ServerSpec {
    /// Serves the fixture's files with its key on `listen`, control endpoint on `control`.
    pub fn new(fixture: &ServiceFixture, listen: SocketAddr, control: SocketAddr) -> Self {
        ServerSpec {
            config: ServerConfigFile {
                listen: vec![listen],
                root: Some(fixture.root().to_path_buf()),
                key_file: Some(fixture.key_file().to_path_buf()),
                metrics: Some(control),
                ..ServerConfigFile::default()
            },
        }
    }
}

impl ServiceSpec for ServerSpec {
    fn program<'a>(&self, binaries: &'a Binaries) -> Result<&'a Path> {
        Ok(&binaries.server)
    }

    fn args(&self, files: &ServiceFiles) -> Result<Vec<OsString>> {
        files.yaml_config(&self.config)
    }

    fn control(&self) -> Option<SocketAddr> {
        self.config.metrics
    }
}

impl Service<ServerSpec> {
    /// Trickles packets it has sent, by its `/metrics` (`None` when it is down).
    pub fn packets_sent(&self) -> Option<f64> {
        let text = self.metrics()?;
        http_probe::metric_value(&text, "trickles_server_packets_sent_total")
    }
}

/// Writes a new key file with `trickles-server keygen -o path`.
pub fn keygen(binaries: &Binaries, path: &Path, log: &Path) -> Result<()> {
    let mut command = Command::new(&binaries.server);
    command.arg("keygen").arg("-o").arg(path);
    let mut child = ChildProcess::spawn("trickles-server keygen", command, log)?;
    let status = child.wait_for(Duration::from_secs(20))?;
    if status.success() {
        Ok(())
    } else {
        Err(child.failure(Some(status)).into())
    }
}
