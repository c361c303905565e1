//! The controller's YAML configuration, validated into [`AnycastConfig`]; every error says file,
//! line and reason (`anycast.yaml:17: prefix 2001:2::10/128 is ipv6, announcement `anycast4` is
//! ipv4`). `anycast/examples/anycast.yaml` is a complete, commented example.
//!
//! ```yaml
//! bird:
//!   socket: /run/bird/bird.ctl   # BIRD's control socket (bird -s)
//!   timeout_ms: 2000             # per command
//! metrics: 127.0.0.1:9310        # /metrics and /healthz (optional)
//! state_file: /run/trickles-anycast/state.json   # pid, drain state, per-prefix state
//! drain_wait_ms: 5000            # after a drain's withdraw, before "safe to stop"
//! health:
//!   interval_ms: 1000
//!   timeout_ms: 300              # < interval_ms
//!   rise: 2
//!   fall: 2
//! bfd:                           # the lease BIRD holds on the controller (RFC 5880)
//!   min_tx_ms: 100
//!   min_rx_ms: 100
//!   multiplier: 3                # BIRD drops the routes 3 × 100 ms after the last packet
//! announcements:
//!   - protocol: anycast4         # a BIRD protocol (static) that the controller enables/disables
//!     family: ipv4
//!     prefixes: [198.18.0.10/32] # what that protocol announces (for metrics and checks)
//!     bfd_address: 198.18.255.2  # the next hop of its BFD-guarded routes, answered here
//!     checks: ["198.18.1.10:4433"]   # Trickles UDP addresses (VIP, replicas) to probe
//!     min_healthy: 1             # checks that must be up to announce
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trickles_balancer::core::HealthThresholds;
use trickles_netfn::{ConfigError, ConfigSource};

use crate::prefix::{Family, Prefix};

/// Shortest accepted `health.interval_ms`.
pub use trickles_balancer::config::MIN_INTERVAL_MS;
/// Shortest accepted BFD interval (BIRD's own minimum is 1 ms; below 10 ms a loaded host flaps).
pub const MIN_BFD_MS: u64 = 10;

fn default_socket() -> PathBuf {
    PathBuf::from("/run/bird/bird.ctl")
}
fn default_bird_timeout() -> u64 {
    2000
}
fn default_interval() -> u64 {
    1000
}
fn default_timeout() -> u64 {
    300
}
fn default_two() -> NonZeroU32 {
    NonZeroU32::MIN.saturating_add(1)
}
fn default_one() -> NonZeroU32 {
    NonZeroU32::MIN
}
fn default_drain_wait() -> u64 {
    5000
}
fn default_bfd_ms() -> u64 {
    100
}
fn default_multiplier() -> u8 {
    3
}

/// The `bird` part of the file, as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BirdFile {
    #[serde(default = "default_socket")]
    /// BIRD's control socket.
    pub socket: PathBuf,
    #[serde(default = "default_bird_timeout")]
    /// How long one command may take.
    pub timeout_ms: u64,
}

/// The `health` part of the file, as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    #[serde(default = "default_interval")]
    /// Between two probe rounds.
    pub interval_ms: u64,
    #[serde(default = "default_timeout")]
    /// How long a probe waits for its answer.
    pub timeout_ms: u64,
    #[serde(default = "default_two")]
    /// Rounds up before a check counts.
    pub rise: NonZeroU32,
    #[serde(default = "default_two")]
    /// Rounds down before it stops counting.
    pub fall: NonZeroU32,
}

/// The `bfd` part of the file, as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BfdFile {
    #[serde(default = "default_bfd_ms")]
    /// Offered transmit interval.
    pub min_tx_ms: u64,
    #[serde(default = "default_bfd_ms")]
    /// Required receive interval.
    pub min_rx_ms: u64,
    #[serde(default = "default_multiplier")]
    /// Detection multiplier.
    pub multiplier: u8,
    /// How long a silent loop keeps answering Up.
    pub lease_ms: Option<u64>,
}

/// The `announcements[]` part of the file, as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementFile {
    /// The BIRD protocol enabled and disabled.
    pub protocol: String,
    /// `ipv4` or `ipv6`.
    pub family: Family,
    /// What the protocol announces.
    pub prefixes: Vec<Prefix>,
    /// The next hop of its BFD-guarded routes.
    pub bfd_address: Option<IpAddr>,
    /// Trickles addresses probed.
    pub checks: Vec<SocketAddr>,
    #[serde(default = "default_one")]
    /// Checks that must be up.
    pub min_healthy: NonZeroU32,
}

/// The file as written (the lab writes it from this; [`AnycastConfig::from_source`] validates
/// it).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnycastConfigFile {
    /// Where BIRD is.
    pub bird: Option<BirdFile>,
    /// `/metrics` and `/healthz`.
    pub metrics: Option<SocketAddr>,
    /// Pid, drain and per-prefix state.
    pub state_file: Option<PathBuf>,
    #[serde(default = "default_drain_wait")]
    /// After a drain's withdraw, before "safe to stop".
    pub drain_wait_ms: u64,
    /// Health checks.
    pub health: Option<HealthFile>,
    /// BFD timers.
    pub bfd: Option<BfdFile>,
    #[serde(default)]
    /// What is announced.
    pub announcements: Vec<AnnouncementFile>,
}

/// Where BIRD is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdConfig {
    /// BIRD's control socket.
    pub socket: PathBuf,
    /// How long one command may take.
    pub timeout: Duration,
}

/// Health checking settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between two probe rounds.
    pub interval: Duration,
    /// How long a probe waits for its answer.
    pub timeout: Duration,
    /// Rise/fall hysteresis (a refused probe counts as any failure: one answer lost to a
    /// restarting replica must not withdraw a whole site).
    pub thresholds: HealthThresholds,
}

/// The BFD responder's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdConfig {
    /// Desired minimum transmit interval once Up.
    pub min_tx: Duration,
    /// Required minimum receive interval.
    pub min_rx: Duration,
    /// Detection multiplier: BIRD declares the session down after `multiplier` × interval.
    pub multiplier: u8,
    /// How long the controller's decision loop may be silent before the responder stops
    /// answering Up (a hung loop withdraws like a dead process).
    pub lease: Duration,
}

/// One BIRD protocol the controller enables (announce) and disables (withdraw).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The BIRD protocol's name.
    pub protocol: String,
    /// Its family.
    pub family: Family,
    /// The prefixes it announces.
    pub prefixes: Vec<Prefix>,
    /// The next hop of its BFD-guarded routes: the responder answers BFD there.
    pub bfd_address: Option<IpAddr>,
    /// What is probed.
    pub checks: Vec<SocketAddr>,
    /// Checks that must be up.
    pub min_healthy: usize,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnycastConfig {
    /// BIRD.
    pub bird: BirdConfig,
    /// Metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// State file (pid, drain state).
    pub state_file: Option<PathBuf>,
    /// How long a drain waits after the withdraw before reporting safe to stop.
    pub drain_wait: Duration,
    /// Health checks.
    pub health: HealthConfig,
    /// BFD timers.
    pub bfd: BfdConfig,
    /// What is announced, in file order.
    pub announcements: Vec<Announcement>,
}

/// A BIRD symbol: a letter or `_`, then letters, digits, `_` (so it cannot smuggle a second
/// command into the control socket).
pub fn is_bird_symbol(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

impl AnycastConfig {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_source(&ConfigSource::read(path)?)
    }

    /// Validate the text of a configuration file.
    pub fn from_source(source: &ConfigSource) -> Result<Self, ConfigError> {
        let file: AnycastConfigFile = source.parse()?;
        let bird = file.bird.unwrap_or(BirdFile {
            socket: default_socket(),
            timeout_ms: default_bird_timeout(),
        });
        if bird.timeout_ms == 0 {
            return Err(source.error_at("bird.timeout_ms", "timeout_ms must be above 0"));
        }
        let health = file.health.unwrap_or(HealthFile {
            interval_ms: default_interval(),
            timeout_ms: default_timeout(),
            rise: default_two(),
            fall: default_two(),
        });
        trickles_balancer::config::check_probe_timing(
            source,
            health.interval_ms,
            health.timeout_ms,
        )?;
        let bfd = file.bfd.unwrap_or(BfdFile {
            min_tx_ms: default_bfd_ms(),
            min_rx_ms: default_bfd_ms(),
            multiplier: default_multiplier(),
            lease_ms: None,
        });
        for (key, value) in [
            ("bfd.min_tx_ms", bfd.min_tx_ms),
            ("bfd.min_rx_ms", bfd.min_rx_ms),
        ] {
            if value < MIN_BFD_MS {
                return Err(source.error_at(key, format!("{value} ms is below {MIN_BFD_MS} ms")));
            }
        }
        if bfd.multiplier == 0 {
            return Err(source.error_at("bfd.multiplier", "multiplier must be at least 1"));
        }
        // The loop renews the lease after each round: a round lasts at most the probe timeout
        // plus BIRD's command timeout, and then waits one interval.
        let default_lease = 2 * health.interval_ms + health.timeout_ms + bird.timeout_ms;
        let lease_ms = bfd.lease_ms.unwrap_or(default_lease);
        if lease_ms <= health.interval_ms {
            return Err(source.error_at(
                "bfd.lease_ms",
                format!(
                    "lease_ms = {lease_ms} must exceed health.interval_ms = {} (the loop renews it once a round)",
                    health.interval_ms
                ),
            ));
        }
        if file.announcements.is_empty() {
            return Err(source.error_at(
                "announcements",
                "no announcements: name the BIRD protocol(s) to enable and disable",
            ));
        }
        let mut protocols: HashMap<&str, usize> = HashMap::new();
        let mut announcements = Vec::with_capacity(file.announcements.len());
        for (i, a) in file.announcements.iter().enumerate() {
            let at = |key: &str| format!("announcements[{i}].{key}");
            if !is_bird_symbol(&a.protocol) {
                return Err(source.error_at(
                    &at("protocol"),
                    format!(
                        "`{}` is not a BIRD protocol name (a letter or _, then letters, digits, _)",
                        a.protocol
                    ),
                ));
            }
            if let Some(j) = protocols.insert(&a.protocol, i) {
                return Err(source.error_at(
                    &at("protocol"),
                    format!(
                        "protocol `{}` already used by announcements[{j}]",
                        a.protocol
                    ),
                ));
            }
            if a.prefixes.is_empty() {
                return Err(source.error_at(&at("prefixes"), "no prefixes"));
            }
            for (k, prefix) in a.prefixes.iter().enumerate() {
                if prefix.family() != a.family {
                    return Err(source.error_at(
                        &format!("announcements[{i}].prefixes[{k}]"),
                        format!(
                            "prefix {prefix} is {}, announcement `{}` is {}",
                            prefix.family().name(),
                            a.protocol,
                            a.family.name()
                        ),
                    ));
                }
            }
            if let Some(address) = a.bfd_address {
                if Family::of(address) != a.family {
                    return Err(source.error_at(
                        &at("bfd_address"),
                        format!(
                            "bfd_address {address} is {}, announcement `{}` is {} (BIRD's static routes of this family use it as next hop)",
                            Family::of(address).name(),
                            a.protocol,
                            a.family.name()
                        ),
                    ));
                }
            }
            if a.checks.is_empty() {
                return Err(
                    source.error_at(&at("checks"), "no checks: list the VIP or the replicas")
                );
            }
            let min_healthy = a.min_healthy.get() as usize;
            if min_healthy > a.checks.len() {
                return Err(source.error_at(
                    &at("min_healthy"),
                    format!(
                        "min_healthy = {min_healthy} but only {} checks",
                        a.checks.len()
                    ),
                ));
            }
            announcements.push(Announcement {
                protocol: a.protocol.clone(),
                family: a.family,
                prefixes: a.prefixes.clone(),
                bfd_address: a.bfd_address,
                checks: a.checks.clone(),
                min_healthy,
            });
        }
        let mut seen: HashMap<Prefix, &str> = HashMap::new();
        for a in &announcements {
            for prefix in &a.prefixes {
                if let Some(other) = seen.insert(*prefix, &a.protocol) {
                    let i = announcements
                        .iter()
                        .position(|x| x.protocol == a.protocol)
                        .unwrap_or(0);
                    return Err(source.error_at(
                        &format!("announcements[{i}].prefixes"),
                        format!("prefix {prefix} also announced by `{other}`"),
                    ));
                }
            }
        }
        Ok(AnycastConfig {
            bird: BirdConfig {
                socket: source.resolve(&bird.socket),
                timeout: Duration::from_millis(bird.timeout_ms),
            },
            metrics: file.metrics,
            state_file: file.state_file.map(|p| source.resolve(&p)),
            drain_wait: Duration::from_millis(file.drain_wait_ms),
            health: HealthConfig {
                interval: Duration::from_millis(health.interval_ms),
                timeout: Duration::from_millis(health.timeout_ms),
                thresholds: HealthThresholds {
                    rise: health.rise.get(),
                    fall: health.fall.get(),
                    down_on_refused: false,
                },
            },
            bfd: BfdConfig {
                min_tx: Duration::from_millis(bfd.min_tx_ms),
                min_rx: Duration::from_millis(bfd.min_rx_ms),
                multiplier: bfd.multiplier,
                lease: Duration::from_millis(lease_ms),
            },
            announcements,
        })
    }

    /// Every distinct BFD address, in file order.
    pub fn bfd_addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for a in &self.announcements {
            if let Some(address) = a.bfd_address {
                if !out.contains(&address) {
                    out.push(address);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
bird:
  socket: /run/bird/bird.ctl
announcements:
  - protocol: anycast4
    family: ipv4
    prefixes: [198.18.0.10/32]
    bfd_address: 198.18.255.2
    checks: [\"198.18.1.10:4433\"]
  - protocol: anycast6
    family: ipv6
    prefixes: [\"2001:2::10/128\"]
    checks: [\"[2001:2::1:10]:4433\"]
";

    fn load(text: &str) -> Result<AnycastConfig, String> {
        AnycastConfig::from_source(&ConfigSource::from_text("a.yaml", text))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn both_families_load_with_defaults() {
        let config = load(GOOD).expect("valid");
        assert_eq!(config.announcements.len(), 2);
        assert_eq!(config.health.interval, Duration::from_secs(1));
        assert_eq!(config.bfd.multiplier, 3);
        assert_eq!(
            config.bfd_addresses(),
            vec!["198.18.255.2".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn a_prefix_of_the_wrong_family_is_refused_at_its_line() {
        let text = GOOD.replace("[198.18.0.10/32]", "[\"2001:2::10/128\"]");
        let error = load(&text).expect_err("refused");
        assert_eq!(
            error,
            "a.yaml:6: prefix 2001:2::10/128 is ipv6, announcement `anycast4` is ipv4"
        );
    }

    #[test]
    fn a_bfd_address_of_the_wrong_family_is_refused() {
        let text = GOOD.replace("bfd_address: 198.18.255.2", "bfd_address: \"2001:2::2\"");
        assert!(load(&text)
            .expect_err("refused")
            .starts_with("a.yaml:7: bfd_address 2001:2::2 is ipv6"));
    }

    #[test]
    fn a_protocol_name_that_is_not_a_bird_symbol_is_refused() {
        let text = GOOD.replace("protocol: anycast4", "protocol: \"anycast4; down\"");
        assert!(load(&text)
            .expect_err("refused")
            .starts_with("a.yaml:4: `anycast4; down` is not a BIRD protocol name"));
    }

    #[test]
    fn a_malformed_prefix_names_its_line() {
        let text = GOOD.replace("[198.18.0.10/32]", "[198.18.0.10/24]");
        assert!(load(&text).expect_err("refused").starts_with("a.yaml:6:"));
    }

    #[test]
    fn twice_the_same_protocol_is_refused() {
        let text = GOOD.replace("protocol: anycast6", "protocol: anycast4");
        assert!(load(&text)
            .expect_err("refused")
            .contains("already used by announcements[0]"));
    }

    #[test]
    fn a_file_written_from_the_file_types_loads_back() {
        let source = ConfigSource::from_text("a.yaml", GOOD);
        let file: AnycastConfigFile = source.parse().expect("parses");
        let text = serde_yaml::to_string(&file).expect("serializes");
        let again = load(&text).expect("loads back");
        assert_eq!(again, load(GOOD).expect("valid"));
    }
}
