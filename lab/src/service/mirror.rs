//! `trickles-mirror` as a [`Service`]: its YAML written from the mirror's own
//! [`MirrorConfigFile`]; ready when `/healthz` answers. [`EmulatedWan`] is the path it emulates
//! in both directions (delay and loss).
//!
//! Clients send through it (`trickles-client --via MIRROR`); it delivers each datagram to the
//! service as `header(peer = client) ‖ datagram`, and the service's replies back to the client
//! (docs/NETWORK-FUNCTIONS.md §3.8, §4.6).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use trickles_mirror::config::{
    DelayQueueFile, LinkFile, Millis, PatternText, PeerFile, Probability, ReachFile, SideFile,
    WanFile,
};
pub use trickles_mirror::MirrorConfigFile;

use super::{ServiceFiles, ServiceSpec};
use crate::binaries::Binaries;
use crate::error::{LabError, Result};

/// The mirror's UDP port on a namespace host.
pub const MIRROR_PORT: u16 = 7000;
/// A mirror's control port, on its namespace's own loopback.
pub const CONTROL_PORT: u16 = 9400;

/// The emulated path between the clients and the service, the same in both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmulatedWan {
    /// One-way delay, milliseconds.
    pub delay_ms: f64,
    /// Independent loss probability of each datagram.
    pub loss: f64,
    /// Seed of the mirror's random draws (loss), so a run can be repeated.
    pub seed: u64,
}

impl EmulatedWan {
    /// "10 ms each way, no loss" / "40 ms each way, 1 % loss".
    pub fn describe(&self) -> String {
        let loss = if self.loss > 0.0 {
            format!("{} % loss", self.loss * 100.0)
        } else {
            "no loss".to_owned()
        };
        format!("{} ms each way, {loss}", self.delay_ms)
    }
}

/// One `trickles-mirror`.
#[derive(Clone, Debug)]
pub struct MirrorSpec {
    /// Its configuration file.
    pub config: MirrorConfigFile,
}

impl MirrorSpec {
    /// A mirror on `listen` (control endpoint `control`) between the client-side peers `clients`
    /// and the server-side peers `servers` (address patterns, e.g. `127.0.0.0/8` or an address;
    /// the servers may answer any client), emulating `wan` both ways.
    pub fn new(
        listen: SocketAddr,
        control: SocketAddr,
        clients: &str,
        servers: &str,
        wan: EmulatedWan,
    ) -> Result<Self> {
        let pattern = |text: &str| {
            PatternText::try_from(text.to_owned())
                .map_err(|e| LabError::Usage(format!("mirror peer pattern {text:?}: {e}")))
        };
        let bad = |e: String| LabError::Usage(format!("mirror path: {e}"));
        let link = LinkFile {
            delay_ms: Millis::try_from(wan.delay_ms).map_err(bad)?,
            loss: Probability::try_from(wan.loss).map_err(bad)?,
            ..LinkFile::default()
        };
        let peer = |name: &str, pattern: PatternText, side, reach| PeerFile {
            name: name.to_owned(),
            addresses: vec![pattern],
            keys: Vec::new(),
            side,
            reach,
        };
        Ok(MirrorSpec {
            config: MirrorConfigFile {
                listen: vec![listen],
                workers: Some(1),
                metrics: Some(control),
                seed: Some(wan.seed),
                peers: vec![
                    peer(
                        "clients",
                        pattern(clients)?,
                        SideFile::Client,
                        ReachFile::Peers,
                    ),
                    peer(
                        "service",
                        pattern(servers)?,
                        SideFile::Server,
                        ReachFile::Any,
                    ),
                ],
                wan: WanFile {
                    both: Some(link),
                    ..WanFile::default()
                },
                ..MirrorConfigFile::default()
            },
        })
    }

    /// A delay queue for `packets` datagrams and `bytes` in flight (long, fast paths).
    pub fn with_delay_queue(mut self, packets: usize, bytes: usize) -> Self {
        self.config.delay_queue = DelayQueueFile { packets, bytes };
        self
    }

    /// The address pattern of every client on `listen`'s loopback family.
    pub fn loopback_clients(listen: SocketAddr) -> &'static str {
        match listen.ip() {
            IpAddr::V4(_) => "127.0.0.0/8",
            IpAddr::V6(_) => "::1/128",
        }
    }

    /// The address clients send through.
    pub fn listen(&self) -> SocketAddr {
        self.config.listen[0]
    }
}

impl ServiceSpec for MirrorSpec {
    fn program<'a>(&self, binaries: &'a Binaries) -> Result<&'a Path> {
        binaries.mirror()
    }

    fn args(&self, files: &ServiceFiles) -> Result<Vec<OsString>> {
        files.yaml_config(&self.config)
    }

    fn control(&self) -> Option<SocketAddr> {
        self.config.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_configuration_is_one_the_mirror_accepts() {
        let addr = |text: &str| text.parse::<SocketAddr>().expect("address");
        let wan = EmulatedWan {
            delay_ms: 10.5,
            loss: 0.01,
            seed: 7,
        };
        let spec = MirrorSpec::new(
            addr("[::1]:7000"),
            addr("[::1]:9400"),
            "::1/128",
            "[::1]:4433",
            wan,
        )
        .expect("spec");
        let text = serde_yaml::to_string(&spec.config).expect("yaml");
        let reread: MirrorConfigFile = serde_yaml::from_str(&text).expect("the mirror parses it");
        assert_eq!(reread, spec.config);
        assert!(MirrorSpec::new(spec.listen(), spec.listen(), "nonsense", "::1", wan).is_err());
    }
}
