//! `trickles-balancer` as a [`Service`]: its YAML written from the balancer's own
//! [`BalancerConfigFile`]; ready when every backend is in its table (its `/healthz` says
//! "ok: N of N backends in the table").
//!
//! The lab's health checks are fast (every 100 ms, out after two misses, back after one success,
//! out at once on "port unreachable"), so a killed replica leaves the table within a fraction of
//! a second and its replacement rejoins as soon as it answers. Backends are named `r0`, `r1`, ...
//! after the replicas.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use trickles_balancer::{BackendFile, BackendName, HealthFile, ProbeKind};
pub use trickles_balancer::{BalancerConfigFile, ModeFile, PolicyFile};

use super::{Service, ServiceFiles, ServiceSpec};
use crate::binaries::Binaries;
use crate::error::Result;
use crate::http_probe;

/// A balancer's control port, on its namespace's own loopback.
pub const CONTROL_PORT: u16 = 9300;
/// Health-check interval of the lab's balancers.
pub const HEALTH_INTERVAL_MS: u64 = 100;

/// One `trickles-balancer`.
#[derive(Clone, Debug)]
pub struct BalancerSpec {
    /// Its configuration file.
    pub config: BalancerConfigFile,
}

impl BalancerSpec {
    /// A balancer on `vip` in front of `backends` (named `r0`, `r1`, ...), control endpoint on
    /// `control`, with the lab's fast health checks.
    pub fn new(
        vip: SocketAddr,
        control: SocketAddr,
        policy: PolicyFile,
        mode: ModeFile,
        backends: &[SocketAddr],
    ) -> Self {
        let one = NonZeroU32::MIN;
        BalancerSpec {
            config: BalancerConfigFile {
                listen: vec![vip],
                metrics: Some(control),
                workers: Some(1),
                mode,
                policy,
                health: HealthFile {
                    probe: ProbeKind::Udp,
                    interval_ms: HEALTH_INTERVAL_MS,
                    timeout_ms: HEALTH_INTERVAL_MS / 2,
                    rise: one,
                    fall: one.saturating_add(1),
                    down_on_refused: true,
                },
                backends: backends
                    .iter()
                    .enumerate()
                    .map(|(i, &address)| BackendFile {
                        name: BackendName(format!("r{i}")),
                        address,
                        weight: one,
                        health_address: None,
                        drain: false,
                    })
                    .collect(),
                ..BalancerConfigFile::default()
            },
        }
    }
}

impl ServiceSpec for BalancerSpec {
    fn program<'a>(&self, binaries: &'a Binaries) -> Result<&'a Path> {
        binaries.balancer()
    }

    fn args(&self, files: &ServiceFiles) -> Result<Vec<OsString>> {
        files.yaml_config(&self.config)
    }

    fn control(&self) -> Option<SocketAddr> {
        self.config.metrics
    }

    fn ready(&self) -> bool {
        let all = self.config.backends.len();
        self.control()
            .and_then(table_count)
            .is_some_and(|(active, _)| active >= all)
    }

    fn readiness(&self) -> &'static str {
        "to have every backend in its table"
    }
}

impl Service<BalancerSpec> {
    /// The VIP.
    pub fn vip(&self) -> SocketAddr {
        self.spec().config.listen[0]
    }

    /// `(in the table, configured)` from its `/healthz`, if it answers.
    pub fn backends_in_table(&self) -> Option<(usize, usize)> {
        let control = self.spec().config.metrics?;
        self.host().probe(|| table_count(control)).flatten()
    }
}

/// `(in the table, configured)` from the `/healthz` at `control`.
fn table_count(control: SocketAddr) -> Option<(usize, usize)> {
    let (_, body) = http_probe::get(control, "/healthz", Duration::from_millis(500))?;
    parse_table_count(&body)
}

/// "ok: 2 of 3 backends in the table" → `(2, 3)`.
fn parse_table_count(health: &str) -> Option<(usize, usize)> {
    let words: Vec<&str> = health.split_whitespace().collect();
    words.windows(3).find_map(|w| match w {
        [active, "of", configured] => Some((active.parse().ok()?, configured.parse().ok()?)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_text_gives_the_table_count() {
        assert_eq!(
            parse_table_count("ok: 2 of 3 backends in the table\n"),
            Some((2, 3))
        );
        assert_eq!(
            parse_table_count("failing: 0 of 3 backends in the table"),
            Some((0, 3))
        );
        assert_eq!(parse_table_count("ok"), None);
    }

    #[test]
    fn the_written_configuration_is_one_the_balancer_accepts() {
        let addr = |text: &str| text.parse::<SocketAddr>().expect("address");
        let spec = BalancerSpec::new(
            addr("127.0.0.1:4433"),
            addr("127.0.0.1:9300"),
            PolicyFile::RoundRobin,
            ModeFile::Relay,
            &[addr("127.0.0.1:5001"), addr("[::1]:5002")],
        );
        let text = serde_yaml::to_string(&spec.config).expect("yaml");
        let source = trickles_netfn::ConfigSource::from_text("b.yaml", text);
        let parsed = trickles_balancer::BalancerConfig::from_source(&source)
            .expect("the balancer accepts it");
        assert_eq!(parsed.backends.len(), 2);
    }
}
