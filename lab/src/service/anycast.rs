//! `trickles-anycast` as a [`Service`]: its YAML written from the controller's own
//! [`AnycastConfigFile`]; ready when its `/healthz` answers (it serves 200 while BIRD answers).
//!
//! The lab's controller checks fast: a probe round every 100 ms (50 ms timeout), a check up after
//! one answer and down after two misses, so a dead balancer is withdrawn within about 200 ms of
//! its last answer; BFD to BIRD at 100 ms × 3 (the defaults); a drain waits 1 s before "safe to
//! stop". Its state file is read for the withdraw ([`Service::announced`]).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use trickles_anycast::config::{
    AnnouncementFile, AnycastConfigFile, BfdFile, BirdFile, HealthFile,
};
use trickles_anycast::prefix::{Family, Prefix};
use trickles_anycast::state_file::StateFile;

use super::{Service, ServiceFiles, ServiceSpec};
use crate::binaries::Binaries;
use crate::error::{LabError, Result};

/// The controller's metrics port, on its namespace's own loopback.
pub const CONTROL_PORT: u16 = 9310;
/// Milliseconds between two probe rounds in the lab.
pub const CHECK_INTERVAL_MS: u64 = 100;

/// One `trickles-anycast` announcing one prefix through one BIRD static protocol.
#[derive(Clone, Debug)]
pub struct AnycastSpec {
    /// Its configuration file.
    pub config: AnycastConfigFile,
}

/// What a site's controller announces and checks.
#[derive(Clone, Debug)]
pub struct Announce {
    /// The BIRD static protocol it enables and disables.
    pub protocol: String,
    /// The anycast address (a /32 or /128).
    pub address: IpAddr,
    /// The next hop of the BFD-guarded route, answered by the controller.
    pub bfd_address: IpAddr,
    /// What it probes (the balancer's VIP).
    pub checks: Vec<SocketAddr>,
}

impl AnycastSpec {
    /// A controller driving BIRD at `socket`, metrics on `control`, state in `state_file`.
    pub fn new(
        socket: &Path,
        control: SocketAddr,
        state_file: PathBuf,
        announce: Announce,
    ) -> Result<Self> {
        let length = if announce.address.is_ipv4() { 32 } else { 128 };
        let prefix: Prefix = format!("{}/{length}", announce.address)
            .parse()
            .map_err(LabError::Usage)?;
        let one = NonZeroU32::MIN;
        Ok(AnycastSpec {
            config: AnycastConfigFile {
                bird: Some(BirdFile {
                    socket: socket.to_path_buf(),
                    timeout_ms: 1000,
                }),
                metrics: Some(control),
                state_file: Some(state_file),
                drain_wait_ms: 1000,
                health: Some(HealthFile {
                    interval_ms: CHECK_INTERVAL_MS,
                    timeout_ms: CHECK_INTERVAL_MS / 2,
                    rise: one,
                    fall: one.saturating_add(1),
                }),
                bfd: Some(BfdFile {
                    min_tx_ms: 100,
                    min_rx_ms: 100,
                    multiplier: 3,
                    lease_ms: None,
                }),
                announcements: vec![AnnouncementFile {
                    protocol: announce.protocol,
                    family: Family::of(announce.address),
                    prefixes: vec![prefix],
                    bfd_address: Some(announce.bfd_address),
                    checks: announce.checks,
                    min_healthy: one,
                }],
            },
        })
    }
}

impl ServiceSpec for AnycastSpec {
    fn program<'a>(&self, binaries: &'a Binaries) -> Result<&'a Path> {
        binaries.anycast()
    }

    fn args(&self, files: &ServiceFiles) -> Result<Vec<OsString>> {
        files.yaml_config(&self.config)
    }

    fn control(&self) -> Option<SocketAddr> {
        self.config.metrics
    }

    fn readiness(&self) -> &'static str {
        "to answer /healthz (BIRD up)"
    }
}

impl Service<AnycastSpec> {
    /// Whether its state file says the prefix is announced (`None`: no file yet, or
    /// unreadable).
    pub fn announced(&self) -> Option<bool> {
        let path = self.spec().config.state_file.as_ref()?;
        let state = StateFile::read(path).ok()?;
        Some(state.announced.values().all(|&up| up) && !state.announced.is_empty())
    }

    /// SIGUSR2: a planned drain (withdraw, wait, "safe to stop").
    pub fn drain(&mut self) -> Result<()> {
        self.signal(libc::SIGUSR2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_configuration_is_one_the_controller_accepts() {
        for (address, hop, check) in [
            ("198.18.0.10", "198.18.255.2", "198.18.0.10:4433"),
            ("2001:2::10", "2001:2:0:ff::2", "[2001:2::10]:4433"),
        ] {
            let spec = AnycastSpec::new(
                Path::new("/tmp/bird.ctl"),
                "127.0.0.1:9310".parse().expect("addr"),
                PathBuf::from("/tmp/state.json"),
                Announce {
                    protocol: "anycast".to_owned(),
                    address: address.parse().expect("ip"),
                    bfd_address: hop.parse().expect("ip"),
                    checks: vec![check.parse().expect("addr")],
                },
            )
            .expect("spec");
            let text = serde_yaml::to_string(&spec.config).expect("yaml");
            let source = trickles_netfn::ConfigSource::from_text("a.yaml", text);
            let parsed = trickles_anycast::config::AnycastConfig::from_source(&source)
                .expect("the controller accepts it");
            assert_eq!(parsed.announcements[0].prefixes.len(), 1);
            assert_eq!(parsed.health.thresholds.fall, 2);
        }
    }
}
