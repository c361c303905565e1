//! The balancer's YAML configuration, validated into [`BalancerConfig`]; every error says file,
//! line and reason (`balancer.yaml:14: backend name `r1` given twice (first on line 9)`).
//!
//! ```yaml
//! listen: ["127.0.0.1:4433"]   # the VIP(s): clients send here; relayed replies come back here
//! metrics: 127.0.0.1:9300      # /metrics and /healthz (optional)
//! workers: 1                   # datapath threads per listen address (SO_REUSEPORT)
//! share_port: false            # true: join another process already serving `listen`
//! hash_key: 000102...0f        # 32 hex digits keying the connection-id hash (absent: random)
//! mode: relay                  # relay (default) | direct_return
//! policy: maglev               # maglev (default) | round_robin | least_loaded
//! table_size: 65537            # Maglev slots, prime
//! watch_config: true           # reload when this file changes (SIGHUP always reloads)
//! upstreams: ["127.0.0.1:7000"] # packet mirrors in front: trusted to send encapsulated datagrams
//! pool_key: pool.key           # hop tags to and from the backends (netfn hop_auth; absent:
//!                              # backends are trusted by source address alone)
//! datapath: userspace          # userspace (default) | xdp | auto (see crate::xdp::settings)
//! xdp_interfaces: [eth0]       # xdp / auto: the devices the VIP traffic arrives on
//! health:
//!   probe: udp                 # udp (default): a Trickles HELLO to the backend | http: GET /healthz
//!   interval_ms: 500
//!   timeout_ms: 250            # < interval_ms
//!   rise: 2                    # successes to come back
//!   fall: 2                    # failures (timeouts) to leave
//!   down_on_refused: true      # "port unreachable" takes a backend out at once
//! backends:
//!   - name: r1                 # identity: Maglev permutation, metric label ([A-Za-z0-9_.-])
//!     address: 127.0.0.1:5001  # the replica's Trickles UDP address (also its reply source)
//!     weight: 1                # ≥ 1
//!     health_address: 127.0.0.1:9101   # its metrics endpoint (http probe only)
//!     drain: false             # true: no new packets, replies still relayed
//! ```
//!
//! Values checked on their own (a prime table size, a non-zero weight, a port) are checked while
//! parsing, so serde_yaml gives their exact line and column; checks across values (duplicates,
//! missing addresses) name the line of the offending entry via [`ConfigSource::error_at`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trickles_netfn::{ConfigError, ConfigSource};

use crate::core::constants::{DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE};
use crate::core::maglev::is_prime;
use crate::core::{ConnHashKey, ForwardingMode, HealthThresholds, Policy};
use crate::xdp::settings::{Datapath, DatapathConfig, MacAddress, XdpAttachMode};

/// Largest accepted `workers`.
pub const MAX_WORKERS: usize = 256;
/// Shortest accepted `health.interval_ms`.
pub const MIN_INTERVAL_MS: u64 = 10;
/// How often the file is polled when `watch_config` is on.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Checks a health probe's timing as written under `health:`: the interval at least
/// [`MIN_INTERVAL_MS`], the timeout above 0 and below the interval (shared with the anycast
/// controller's checks, which use the same probe).
pub fn check_probe_timing(
    source: &ConfigSource,
    interval_ms: u64,
    timeout_ms: u64,
) -> Result<(), ConfigError> {
    if interval_ms < MIN_INTERVAL_MS {
        return Err(source.error_at(
            "health.interval_ms",
            format!("interval_ms = {interval_ms}, must be at least {MIN_INTERVAL_MS}"),
        ));
    }
    if timeout_ms == 0 || timeout_ms >= interval_ms {
        return Err(source.error_at(
            "health.timeout_ms",
            format!(
                "timeout_ms = {timeout_ms} must be above 0 and below interval_ms = {interval_ms}"
            ),
        ));
    }
    Ok(())
}

/// A Maglev table size: prime, at most [`MAX_TABLE_SIZE`] (checked while parsing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TableSize(pub u32);

impl<'de> Deserialize<'de> for TableSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_u32(CheckedScalar::<TableSize>::default())
    }
}

impl TryFrom<u32> for TableSize {
    type Error = String;
    fn try_from(size: u32) -> Result<Self, String> {
        if size > MAX_TABLE_SIZE {
            return Err(format!("table_size {size} is above {MAX_TABLE_SIZE}"));
        }
        if !is_prime(size) {
            return Err(format!(
                "table_size {size} is not prime (Maglev needs a prime; 65537 is the usual choice)"
            ));
        }
        Ok(TableSize(size))
    }
}

/// A backend name usable as a metric label (checked while parsing).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct BackendName(pub String);

impl<'de> Deserialize<'de> for BackendName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(CheckedScalar::<BackendName>::default())
    }
}

/// Deserializes a scalar and checks it inside the visitor, so serde_yaml reports the error at
/// the value's own line and column (a `try_from` check runs after the value and loses it).
struct CheckedScalar<T>(std::marker::PhantomData<T>);

impl<T> Default for CheckedScalar<T> {
    fn default() -> Self {
        CheckedScalar(std::marker::PhantomData)
    }
}

impl serde::de::Visitor<'_> for CheckedScalar<TableSize> {
    type Value = TableSize;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a prime table size")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TableSize, E> {
        let size = u32::try_from(v).unwrap_or(u32::MAX);
        TableSize::try_from(size).map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TableSize, E> {
        self.visit_u64(u64::try_from(v).unwrap_or(0))
    }
}

impl serde::de::Visitor<'_> for CheckedScalar<BackendName> {
    type Value = BackendName;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a backend name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BackendName, E> {
        BackendName::try_from(v.to_owned()).map_err(E::custom)
    }
}

impl TryFrom<String> for BackendName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if valid {
            Ok(BackendName(name))
        } else {
            Err(format!(
                "backend name `{name}`: use 1 to 64 of A-Z a-z 0-9 _ . -"
            ))
        }
    }
}

/// How health is probed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// A small Trickles HELLO to the backend's UDP address; any answer with its connection id.
    #[default]
    Udp,
    /// `GET /healthz` on the backend's `health_address`; 200 is healthy.
    Http,
}

/// The `health:` section as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    /// How to probe.
    #[serde(default)]
    pub probe: ProbeKind,
    /// Time between two probes of a backend, in milliseconds.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// How long a probe waits for its answer, in milliseconds (< `interval_ms`).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Successes to come back.
    #[serde(default = "default_two")]
    pub rise: NonZeroU32,
    /// Failures (timeouts) to leave.
    #[serde(default = "default_two")]
    pub fall: NonZeroU32,
    /// "Port unreachable" takes a backend out at once.
    #[serde(default = "default_true")]
    pub down_on_refused: bool,
}

impl Default for HealthFile {
    fn default() -> Self {
        HealthFile {
            probe: ProbeKind::default(),
            interval_ms: default_interval_ms(),
            timeout_ms: default_timeout_ms(),
            rise: default_two(),
            fall: default_two(),
            down_on_refused: true,
        }
    }
}

fn default_interval_ms() -> u64 {
    500
}
fn default_timeout_ms() -> u64 {
    250
}
fn default_two() -> NonZeroU32 {
    NonZeroU32::MIN.saturating_add(1)
}
fn default_true() -> bool {
    true
}
fn default_weight() -> NonZeroU32 {
    NonZeroU32::MIN
}

/// One entry of `backends:` as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackendFile {
    /// Identity: Maglev permutation and metric label.
    pub name: BackendName,
    /// The replica's Trickles UDP address (also its reply source).
    pub address: SocketAddr,
    /// Share of new traffic (≥ 1).
    #[serde(default = "default_weight")]
    pub weight: NonZeroU32,
    /// Its metrics endpoint (HTTP probe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_address: Option<SocketAddr>,
    /// Drained: no new packets, replies still relayed.
    #[serde(default)]
    pub drain: bool,
}

/// `mode:` as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeFile {
    /// See [`ForwardingMode::Relay`].
    #[default]
    Relay,
    /// See [`ForwardingMode::DirectReturn`].
    DirectReturn,
}

/// `policy:` as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyFile {
    /// See [`Policy::Maglev`].
    #[default]
    Maglev,
    /// See [`Policy::RoundRobin`].
    RoundRobin,
    /// See [`Policy::LeastLoaded`].
    LeastLoaded,
}

/// The balancer's YAML file as written; [`BalancerConfig::from_source`] validates it. The lab
/// writes configuration files by serializing this type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerConfigFile {
    /// Client-facing addresses (VIPs).
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Metrics endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// Datapath threads per listen address (absent: 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Share the listen addresses with another process already serving them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_port: bool,
    /// Key of the connection-id hash, 32 hex digits (absent: a random key per process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<String>,
    /// Reply path.
    #[serde(default)]
    pub mode: ModeFile,
    /// Backend selection.
    #[serde(default)]
    pub policy: PolicyFile,
    /// Maglev table size (absent: 65537).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<TableSize>,
    /// Reload when the file changes.
    #[serde(default)]
    pub watch_config: bool,
    /// Packet mirrors in front, trusted to send encapsulated datagrams.
    #[serde(default)]
    pub upstreams: Vec<SocketAddr>,
    /// The pool key file (relative to this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_key: Option<std::path::PathBuf>,
    /// Health checks.
    #[serde(default)]
    pub health: HealthFile,
    /// The pool, in order.
    #[serde(default)]
    pub backends: Vec<BackendFile>,
    /// Which datapath (absent: userspace).
    #[serde(default, skip_serializing_if = "Datapath::is_default")]
    pub datapath: Datapath,
    /// Devices the XDP program attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xdp_interfaces: Vec<String>,
    /// Native (driver) or generic XDP.
    #[serde(default, skip_serializing_if = "XdpAttachMode::is_default")]
    pub xdp_mode: XdpAttachMode,
    /// Gateway mode: every frame the XDP program forwards goes to this MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp_gateway_mac: Option<MacAddress>,
}

/// Health checking settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// How to probe.
    pub probe: ProbeKind,
    /// Time between two probes of a backend.
    pub interval: Duration,
    /// How long a probe waits for its answer (< interval).
    pub timeout: Duration,
    /// Rise/fall hysteresis.
    pub thresholds: HealthThresholds,
}

/// One backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    /// Identity and metric label.
    pub name: String,
    /// Trickles UDP address.
    pub address: SocketAddr,
    /// Share of new traffic.
    pub weight: u32,
    /// Metrics endpoint, for the HTTP probe.
    pub health_address: Option<SocketAddr>,
    /// Drained: nothing new, replies still relayed.
    pub drain: bool,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancerConfig {
    /// Client-facing addresses (VIPs).
    pub listen: Vec<SocketAddr>,
    /// Metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// Datapath threads per listen address.
    pub workers: usize,
    /// Join the `SO_REUSEPORT` group of another process serving a listen address instead of
    /// refusing to start ("address in use by another process").
    pub share_port: bool,
    /// Key of the connection-id hash ([`crate::core::conn_hash`]); `None`: random per process.
    pub hash_key: Option<ConnHashKey>,
    /// Reply path.
    pub mode: ForwardingMode,
    /// Backend selection.
    pub policy: Policy,
    /// Maglev table size (prime).
    pub table_size: u32,
    /// Poll the file for changes.
    pub watch_config: bool,
    /// Relays in front (packet mirrors) trusted to send encapsulated client datagrams.
    pub upstreams: Vec<SocketAddr>,
    /// The pool key: tag what goes to the backends, require the tag on their replies.
    pub pool_key: Option<trickles_netfn::PoolKey>,
    /// Health checks.
    pub health: HealthConfig,
    /// The pool, in file order.
    pub backends: Vec<BackendConfig>,
    /// Userspace, XDP or auto, and the XDP settings.
    pub datapath: DatapathConfig,
}

impl BalancerConfig {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_source(&ConfigSource::read(path)?)
    }

    /// Validate the text of a configuration file.
    pub fn from_source(source: &ConfigSource) -> Result<Self, ConfigError> {
        let file: BalancerConfigFile = source.parse()?;
        if file.listen.is_empty() {
            return Err(source.error_at(
                "listen",
                "no listen address: give the VIP, e.g. listen: [\"0.0.0.0:4433\"]",
            ));
        }
        if let Some(twice) = first_duplicate(file.listen.iter()) {
            return Err(source.error_at("listen", format!("listen address {twice} given twice")));
        }
        let workers = match file.workers {
            None => 1,
            Some(n) if (1..=MAX_WORKERS).contains(&n) => n,
            Some(n) => {
                return Err(source.error_at(
                    "workers",
                    format!("workers = {n}, must be between 1 and {MAX_WORKERS}"),
                ))
            }
        };
        let health = &file.health;
        check_probe_timing(source, health.interval_ms, health.timeout_ms)?;
        if file.backends.is_empty() {
            return Err(source.error_at("backends", "no backends: list the replica pool"));
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut addresses: HashMap<SocketAddr, usize> = HashMap::new();
        for (i, backend) in file.backends.iter().enumerate() {
            let first_line = |j: usize| {
                source
                    .error_at(&format!("backends[{j}]"), "")
                    .line
                    .map_or_else(String::new, |l| format!(" (first on line {l})"))
            };
            if let Some(&j) = names.get(backend.name.0.as_str()) {
                return Err(source.error_at(
                    &format!("backends[{i}].name"),
                    format!(
                        "backend name `{}` given twice{}",
                        backend.name.0,
                        first_line(j)
                    ),
                ));
            }
            names.insert(&backend.name.0, i);
            if let Some(&j) = addresses.get(&backend.address) {
                return Err(source.error_at(
                    &format!("backends[{i}].address"),
                    format!(
                        "backend address {} given twice{}",
                        backend.address,
                        first_line(j)
                    ),
                ));
            }
            addresses.insert(backend.address, i);
            if file.listen.contains(&backend.address) {
                return Err(source.error_at(
                    &format!("backends[{i}].address"),
                    format!(
                        "backend address {} is a listen address (would loop)",
                        backend.address
                    ),
                ));
            }
            if health.probe == ProbeKind::Http && backend.health_address.is_none() {
                return Err(source.error_at(
                    &format!("backends[{i}]"),
                    format!(
                        "backend `{}` needs health_address (its /healthz endpoint) for the http probe",
                        backend.name.0
                    ),
                ));
            }
        }
        for (i, upstream) in file.upstreams.iter().enumerate() {
            if addresses.contains_key(upstream) || file.listen.contains(upstream) {
                return Err(source.error_at(
                    &format!("upstreams[{i}]"),
                    format!("upstream {upstream} is also a backend or listen address"),
                ));
            }
        }
        let pool_key = match &file.pool_key {
            None => None,
            Some(path) => {
                if let Some(any) = file.listen.iter().find(|a| a.ip().is_unspecified()) {
                    return Err(source.error_at(
                        "pool_key",
                        format!(
                            "a pool key needs the VIP itself as listen address, not {any}: the \
                             hop tag covers the address the backends see the balancer at"
                        ),
                    ));
                }
                Some(
                    trickles_netfn::PoolKey::load(&source.resolve(path))
                        .map_err(|e| source.error_at("pool_key", e.to_string()))?,
                )
            }
        };
        let datapath = DatapathConfig::from_file(
            file.datapath,
            &file.xdp_interfaces,
            file.xdp_mode,
            file.xdp_gateway_mac,
        )
        .map_err(|(key, reason)| source.error_at(&key, reason))?;
        let table_size = file.table_size.map_or(DEFAULT_TABLE_SIZE, |t| t.0);
        if (table_size as usize) < file.backends.len() {
            return Err(source.error_at(
                "table_size",
                format!(
                    "table_size {table_size} is smaller than the pool ({} backends)",
                    file.backends.len()
                ),
            ));
        }
        let hash_key = match &file.hash_key {
            None => None,
            Some(text) => Some(
                ConnHashKey::from_hex(text)
                    .map_err(|e| source.error_at("hash_key", e.to_string()))?,
            ),
        };
        Ok(BalancerConfig {
            listen: file.listen,
            metrics: file.metrics,
            workers,
            share_port: file.share_port,
            hash_key,
            mode: match file.mode {
                ModeFile::Relay => ForwardingMode::Relay,
                ModeFile::DirectReturn => ForwardingMode::DirectReturn,
            },
            policy: match file.policy {
                PolicyFile::Maglev => Policy::Maglev,
                PolicyFile::RoundRobin => Policy::RoundRobin,
                PolicyFile::LeastLoaded => Policy::LeastLoaded,
            },
            table_size,
            watch_config: file.watch_config,
            upstreams: file.upstreams,
            pool_key,
            health: HealthConfig {
                probe: health.probe,
                interval: Duration::from_millis(health.interval_ms),
                timeout: Duration::from_millis(health.timeout_ms),
                thresholds: HealthThresholds {
                    rise: health.rise.get(),
                    fall: health.fall.get(),
                    down_on_refused: health.down_on_refused,
                },
            },
            backends: file
                .backends
                .into_iter()
                .map(|b| BackendConfig {
                    name: b.name.0,
                    address: b.address,
                    weight: b.weight.get(),
                    health_address: b.health_address,
                    drain: b.drain,
                })
                .collect(),
            datapath,
        })
    }
}

fn first_duplicate<'a, T: Eq + std::hash::Hash + 'a>(
    items: impl Iterator<Item = &'a T>,
) -> Option<&'a T> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().find(|item| !seen.insert(*item))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
listen: [\"127.0.0.1:4433\"]
policy: round_robin
health:
  interval_ms: 200
  timeout_ms: 100
backends:
  - name: r1
    address: 127.0.0.1:5001
  - name: r2
    address: 127.0.0.1:5002
    weight: 3
    drain: true
";

    fn load(text: &str) -> Result<BalancerConfig, ConfigError> {
        BalancerConfig::from_source(&ConfigSource::from_text("b.yaml", text))
    }

    fn error(text: &str) -> String {
        load(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn a_good_file_gives_defaults_where_unset() {
        let config = load(GOOD).expect("valid");
        assert_eq!(config.policy, Policy::RoundRobin);
        assert_eq!(config.mode, ForwardingMode::Relay);
        assert_eq!(config.table_size, 65_537);
        assert_eq!(config.workers, 1);
        assert_eq!(config.health.interval, Duration::from_millis(200));
        assert_eq!(config.health.thresholds, HealthThresholds::default());
        assert_eq!(config.backends[1].weight, 3);
        assert!(config.backends[1].drain);
    }

    #[test]
    fn a_composite_table_size_is_refused_on_its_line() {
        let text = GOOD.replace("policy: round_robin", "table_size: 65536");
        let message = error(&text);
        assert!(message.starts_with("b.yaml:2:"), "{message}");
        assert!(message.contains("not prime"), "{message}");
    }

    #[test]
    fn a_hash_key_is_read_and_a_malformed_one_refused_on_its_line() {
        let keyed = GOOD.replace(
            "policy: round_robin",
            "policy: round_robin\nhash_key: 000102030405060708090a0b0c0d0e0f",
        );
        assert!(load(&keyed).expect("valid").hash_key.is_some());
        assert_eq!(load(GOOD).expect("valid").hash_key, None);
        let message =
            error(&GOOD.replace("policy: round_robin", "policy: round_robin\nhash_key: 00ff"));
        assert!(message.starts_with("b.yaml:3:"), "{message}");
        assert!(message.contains("32 hex digits"), "{message}");
    }

    #[test]
    fn a_zero_weight_is_refused_on_its_line() {
        let message = error(&GOOD.replace("weight: 3", "weight: 0"));
        assert!(message.starts_with("b.yaml:11:"), "{message}");
    }

    #[test]
    fn a_duplicate_name_names_both_lines() {
        let message = error(&GOOD.replace("name: r2", "name: r1"));
        assert_eq!(
            message,
            "b.yaml:9: backend name `r1` given twice (first on line 7)"
        );
    }

    #[test]
    fn a_duplicate_address_is_refused() {
        let message = error(&GOOD.replace("5002", "5001"));
        assert_eq!(
            message,
            "b.yaml:10: backend address 127.0.0.1:5001 given twice (first on line 7)"
        );
    }

    #[test]
    fn a_timeout_not_below_the_interval_is_refused() {
        let message = error(&GOOD.replace("timeout_ms: 100", "timeout_ms: 200"));
        assert!(
            message.starts_with("b.yaml:5: timeout_ms = 200"),
            "{message}"
        );
    }

    #[test]
    fn http_probe_needs_health_addresses() {
        let message = error(&GOOD.replace("  interval_ms", "  probe: http\n  interval_ms"));
        assert!(
            message.starts_with("b.yaml:8: backend `r1` needs health_address"),
            "{message}"
        );
    }

    #[test]
    fn unknown_keys_bad_names_and_empty_pools_are_refused() {
        let message = error(&GOOD.replace("drain: true", "drian: true"));
        assert!(message.starts_with("b.yaml:12:"), "{message}");
        assert!(message.contains("unknown field `drian`"), "{message}");
        let message = error(&GOOD.replace("name: r2", "name: \"r 2\""));
        assert!(message.starts_with("b.yaml:9:"), "{message}");
        assert!(error("listen: [\"127.0.0.1:1\"]\n").starts_with("b.yaml: no backends"));
        assert!(error("backends: []\n").starts_with("b.yaml: no listen address"));
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    fn nonzero(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("not zero")
    }

    #[test]
    fn a_pool_key_is_read_from_its_file_and_needs_a_specific_vip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("pool.key");
        std::fs::write(&key, "id: 2\nsecret: 000102030405060708090a0b0c0d0e0f\n").expect("key");
        let base = "backends:\n  - {name: r1, address: \"198.18.0.2:5001\"}\n";
        let text = format!(
            "listen: [\"198.18.0.1:4433\"]\npool_key: {}\n{base}",
            key.display()
        );
        let config = load(&text).expect("valid");
        assert_eq!(config.pool_key.map(|k| k.id()), Some(2));
        let unspecified = format!(
            "listen: [\"0.0.0.0:4433\"]\npool_key: {}\n{base}",
            key.display()
        );
        let error = load(&unspecified).expect_err("refused").to_string();
        assert!(
            error.contains(":2: a pool key needs the VIP itself"),
            "{error}"
        );
        let missing =
            format!("listen: [\"198.18.0.1:4433\"]\npool_key: /nonexistent/pool.key\n{base}");
        let error = load(&missing).expect_err("refused").to_string();
        assert!(error.contains("/nonexistent/pool.key"), "{error}");
    }

    #[test]
    fn a_written_file_loads_back_with_the_same_settings() {
        let file = BalancerConfigFile {
            listen: vec![addr("198.18.0.1:4433"), addr("[2001:2::1]:4433")],
            metrics: Some(addr("198.18.0.1:9300")),
            workers: Some(2),
            share_port: true,
            hash_key: Some("000102030405060708090a0b0c0d0e0f".into()),
            mode: ModeFile::DirectReturn,
            policy: PolicyFile::LeastLoaded,
            table_size: Some(TableSize::try_from(251).expect("prime")),
            watch_config: true,
            upstreams: vec![addr("198.18.0.9:7000")],
            pool_key: None,
            health: HealthFile {
                probe: ProbeKind::Http,
                interval_ms: 300,
                timeout_ms: 120,
                rise: nonzero(3),
                fall: nonzero(4),
                down_on_refused: false,
            },
            backends: vec![
                BackendFile {
                    name: BackendName::try_from("r1".to_owned()).expect("valid"),
                    address: addr("198.18.0.2:5001"),
                    weight: nonzero(5),
                    health_address: Some(addr("198.18.0.2:9101")),
                    drain: true,
                },
                BackendFile {
                    name: BackendName::try_from("r-2.v6".to_owned()).expect("valid"),
                    address: addr("[2001:2::2]:5001"),
                    weight: nonzero(1),
                    health_address: Some(addr("[2001:2::2]:9101")),
                    drain: false,
                },
            ],
            datapath: Datapath::Auto,
            xdp_interfaces: vec!["veth-bal".into()],
            xdp_mode: XdpAttachMode::Generic,
            xdp_gateway_mac: Some(MacAddress([2, 0, 0, 0, 0, 1])),
        };
        let text = serde_yaml::to_string(&file).expect("serializes");
        let config = load(&text).expect("the written file is valid");
        assert_eq!(
            config,
            BalancerConfig {
                listen: file.listen.clone(),
                metrics: file.metrics,
                workers: 2,
                share_port: true,
                hash_key: Some(
                    ConnHashKey::from_hex("000102030405060708090a0b0c0d0e0f").expect("key"),
                ),
                mode: ForwardingMode::DirectReturn,
                policy: Policy::LeastLoaded,
                table_size: 251,
                watch_config: true,
                upstreams: file.upstreams.clone(),
                pool_key: None,
                health: HealthConfig {
                    probe: ProbeKind::Http,
                    interval: Duration::from_millis(300),
                    timeout: Duration::from_millis(120),
                    thresholds: HealthThresholds {
                        rise: 3,
                        fall: 4,
                        down_on_refused: false,
                    },
                },
                backends: vec![
                    BackendConfig {
                        name: "r1".into(),
                        address: addr("198.18.0.2:5001"),
                        weight: 5,
                        health_address: Some(addr("198.18.0.2:9101")),
                        drain: true,
                    },
                    BackendConfig {
                        name: "r-2.v6".into(),
                        address: addr("[2001:2::2]:5001"),
                        weight: 1,
                        health_address: Some(addr("[2001:2::2]:9101")),
                        drain: false,
                    },
                ],
                datapath: DatapathConfig {
                    datapath: Datapath::Auto,
                    interfaces: vec!["veth-bal".into()],
                    mode: XdpAttachMode::Generic,
                    gateway_mac: Some(MacAddress([2, 0, 0, 0, 0, 1])),
                },
            }
        );
        let reread: BalancerConfigFile = serde_yaml::from_str(&text).expect("parses");
        assert_eq!(reread, file);
    }

    #[test]
    fn a_default_file_with_a_pool_writes_only_what_is_set() {
        let file = BalancerConfigFile {
            listen: vec![addr("198.18.0.1:4433")],
            backends: vec![BackendFile {
                name: BackendName::try_from("r1".to_owned()).expect("valid"),
                address: addr("198.18.0.2:5001"),
                weight: nonzero(1),
                health_address: None,
                drain: false,
            }],
            ..BalancerConfigFile::default()
        };
        let text = serde_yaml::to_string(&file).expect("serializes");
        for unset in [
            "metrics",
            "workers",
            "table_size",
            "health_address",
            "datapath",
            "xdp",
        ] {
            assert!(!text.contains(unset), "{unset} written:\n{text}");
        }
        let config = load(&text).expect("valid");
        assert_eq!(config.workers, 1);
        assert_eq!(config.table_size, DEFAULT_TABLE_SIZE);
        assert_eq!(config.health.thresholds, HealthThresholds::default());
    }

    #[test]
    fn the_xdp_datapath_without_interfaces_is_refused() {
        let message = error(&format!("{GOOD}datapath: xdp\n"));
        assert!(message.contains("needs xdp_interfaces"), "{message}");
        let config =
            load(&format!("{GOOD}datapath: auto\nxdp_interfaces: [eth0]\n")).expect("valid");
        assert_eq!(config.datapath.datapath, Datapath::Auto);
        assert_eq!(config.datapath.interfaces, ["eth0"]);
        let message = error(&format!("{GOOD}xdp_interfaces: [\"a/b\"]\n"));
        assert!(message.contains("not an interface name"), "{message}");
    }

    #[test]
    fn a_backend_on_the_listen_address_is_refused() {
        let message = error(&GOOD.replace("127.0.0.1:5002", "127.0.0.1:4433"));
        assert!(message.contains("is a listen address"), "{message}");
    }
}
