//! The mirror's configuration file, loaded through `trickles_netfn::config` (errors say file,
//! line and reason; a reload keeps the old rules when the new file is bad).
//!
//! ```yaml
//! listen: ["127.0.0.1:7000"]          # UDP addresses the mirror receives on (IPv4 and/or IPv6)
//! workers: 1                          # datapath threads per address (each emulates its own path)
//! metrics: 127.0.0.1:9300             # /metrics and /healthz
//! seed: 42                            # optional: reproducible loss and jitter draws
//! max_clock_skew_secs: 30             # tag timestamps accepted this far from the clock
//! peers:
//!   - name: lab-clients
//!     addresses: ["127.0.0.0/8"]      # ip:port, ip (any port) or prefix; most specific wins
//!     side: client                    # client (sends towards servers) or server
//!   - name: vip
//!     addresses: ["127.0.0.1:4433"]
//!     side: server
//!     reach: any                      # may answer clients no peer lists (default: peers)
//!   - name: laptop                    # no addresses: recognised by its tag from anywhere
//!     keys: [{ id: 1, secret: "000102030405060708090a0b0c0d0e0f" }]
//!     side: client
//! wan:
//!   both:      { delay_ms: 40, loss: 0.01 }     # applies where a direction is not given
//!   to_client: { delay_ms: 40, jitter_ms: 2, burst_loss: { loss: 0.01, mean_burst: 3 },
//!                duplicate: 0.001, reorder: 0.01, reorder_delay_ms: 5,
//!                rate_mbit: 100, bottleneck_packets: 500 }
//! delay_queue: { packets: 8192, bytes: 67108864 }
//! datapath: auto                     # userspace (default) | xdp | auto (docs/XDP.md)
//! xdp_interfaces: [eth0]              # xdp / auto: the devices the traffic arrives on
//! source_limits: { packets_per_sec: 200000, packet_burst: 20000,
//!                  bytes_per_sec: 250000000, byte_burst: 25000000,   # 0: unlimited
//!                  credit_cap_bytes: 1048576, table_slots: 16384 }
//! ```
//!
//! Single values are checked by their types (a probability in [0, 1], a non-negative finite
//! number of milliseconds, an address pattern, a 32-hex-digit secret), so serde reports them
//! with line and column; checks across values (duplicate names or key ids, a peer nothing can
//! match, no listen address) are located with [`ConfigSource::error_at`].

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use trickles_link::time::Duration;
use trickles_link::{GilbertElliott, LinkConfig};
use trickles_netfn::config::{ConfigError, ConfigSource};

use crate::auth::{AddressPattern, AuthKey, Peer, PeerTable, PeerTableError, Reach, Side};
use crate::guard::{BucketRate, GuardLimits};
use crate::rules::{MirrorRules, DEFAULT_MAX_CLOCK_SKEW_SECS};
use crate::wan::{QueueLimits, WanProfile};
use trickles_xdp::settings::{Datapath, DatapathConfig, MacAddress, XdpAttachMode};

/// Largest accepted `workers`.
pub const MAX_WORKERS: usize = 256;
/// Largest accepted `source_limits.table_slots`.
pub const MAX_TABLE_SLOTS: usize = 1 << 24;

/// A probability in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Probability(pub f64);

impl TryFrom<f64> for Probability {
    type Error = String;
    fn try_from(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) {
            Ok(Probability(p))
        } else {
            Err(format!("{p} is not a probability (0 to 1)"))
        }
    }
}

impl From<Probability> for f64 {
    fn from(p: Probability) -> f64 {
        p.0
    }
}

/// A non-negative, finite number of milliseconds (fractions allowed, kept to the microsecond).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Millis(pub Duration);

impl TryFrom<f64> for Millis {
    type Error = String;
    fn try_from(ms: f64) -> Result<Self, String> {
        if ms.is_finite() && (0.0..=3_600_000.0).contains(&ms) {
            Ok(Millis(Duration((ms * 1_000.0).round() as u64)))
        } else {
            Err(format!("{ms} ms is not a duration from 0 to one hour"))
        }
    }
}

impl From<Millis> for f64 {
    fn from(ms: Millis) -> f64 {
        ms.0.micros() as f64 / 1_000.0
    }
}

/// An address pattern written as text.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct PatternText(pub AddressPattern);

impl TryFrom<String> for PatternText {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map(PatternText).map_err(|e| format!("{e}"))
    }
}

impl From<PatternText> for String {
    fn from(pattern: PatternText) -> String {
        pattern.0.to_string()
    }
}

/// A key secret written in hex.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretText(String);

impl TryFrom<String> for SecretText {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        AuthKey::from_hex(0, &text)
            .map(|_| SecretText(text))
            .map_err(|e| e.to_string())
    }
}

impl From<SecretText> for String {
    fn from(secret: SecretText) -> String {
        secret.0
    }
}

/// One key as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Key id carried in the tag option.
    pub id: u8,
    /// The 16-byte secret in hex.
    pub secret: SecretText,
}

/// A side as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SideFile {
    /// See [`Side::Client`].
    Client,
    /// See [`Side::Server`].
    Server,
}

/// A reach as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReachFile {
    /// See [`Reach::Peers`].
    #[default]
    Peers,
    /// See [`Reach::Any`].
    Any,
}

/// One peer as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerFile {
    /// Name (metrics label).
    pub name: String,
    /// Addresses it sends from.
    #[serde(default)]
    pub addresses: Vec<PatternText>,
    /// Keys it tags with.
    #[serde(default)]
    pub keys: Vec<KeyFile>,
    /// Its side of the path.
    pub side: SideFile,
    /// Destinations it may reach.
    #[serde(default)]
    pub reach: ReachFile,
}

/// Bursty loss as written: long-run loss rate and mean burst length in packets.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BurstFile {
    /// Long-run fraction of packets lost.
    pub loss: Probability,
    /// Mean length of a loss burst, in packets (at least 1).
    pub mean_burst: f64,
    /// Let the chain also step once per this many ms of silence (see `trickles_link::loss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_step_ms: Option<Millis>,
}

/// One direction of the emulated path as written. Every field is optional (a perfect link).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    /// One-way delay.
    #[serde(default)]
    pub delay_ms: Millis,
    /// Extra delay, uniform in `[0, jitter]`.
    #[serde(default)]
    pub jitter_ms: Millis,
    /// Independent loss probability.
    #[serde(default)]
    pub loss: Probability,
    /// Bursty loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst_loss: Option<BurstFile>,
    /// Probability of a duplicate (capped by the source's byte budget).
    #[serde(default)]
    pub duplicate: Probability,
    /// Probability of holding a datagram `reorder_delay_ms` longer.
    #[serde(default)]
    pub reorder: Probability,
    /// The extra delay of a reordered datagram.
    #[serde(default)]
    pub reorder_delay_ms: Millis,
    /// Bottleneck rate in Mbit/s (absent: no rate limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_mbit: Option<f64>,
    /// Bottleneck buffer in packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bottleneck_packets: Option<usize>,
    /// Bottleneck buffer in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bottleneck_bytes: Option<usize>,
}

impl LinkFile {
    /// The simulator's link configuration, or why not (with the field at fault).
    fn link_config(&self) -> Result<LinkConfig, (&'static str, String)> {
        let burst_loss = match self.burst_loss {
            None => None,
            Some(burst) => {
                if !(burst.mean_burst.is_finite() && burst.mean_burst >= 1.0) {
                    return Err((
                        "burst_loss.mean_burst",
                        format!(
                            "mean burst {} is not a length of at least 1",
                            burst.mean_burst
                        ),
                    ));
                }
                if burst.loss.0 > 0.99 {
                    return Err(("burst_loss.loss", "bursty loss above 0.99".into()));
                }
                let model = GilbertElliott::with_mean_loss(burst.loss.0, burst.mean_burst);
                Some(match burst.idle_step_ms {
                    Some(Millis(step)) if step.micros() > 0 => model.stepping_when_idle(step),
                    _ => model,
                })
            }
        };
        let rate_bps = match self.rate_mbit {
            None => None,
            Some(mbit) if mbit.is_finite() && mbit > 0.0 && mbit <= 1e6 => {
                Some((mbit * 1e6).round() as u64)
            }
            Some(mbit) => {
                return Err(("rate_mbit", format!("{mbit} Mbit/s is not a rate")));
            }
        };
        Ok(LinkConfig {
            delay: self.delay_ms.0,
            jitter: self.jitter_ms.0,
            rate_bps,
            queue_limit_packets: self.bottleneck_packets,
            queue_limit_bytes: self.bottleneck_bytes,
            loss: self.loss.0,
            burst_loss,
            reorder: self.reorder.0,
            reorder_delay: self.reorder_delay_ms.0,
            duplicate: self.duplicate.0,
            drop_packets: Vec::new(),
        })
    }
}

/// The emulated path as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WanFile {
    /// Both directions, where not given separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub both: Option<LinkFile>,
    /// From client-side peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_server: Option<LinkFile>,
    /// From server-side peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_client: Option<LinkFile>,
}

/// Delay-queue bounds as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelayQueueFile {
    /// Most datagrams held.
    pub packets: usize,
    /// Most bytes held.
    pub bytes: usize,
}

impl Default for DelayQueueFile {
    fn default() -> Self {
        let limits = QueueLimits::default();
        DelayQueueFile {
            packets: limits.packets,
            bytes: limits.bytes,
        }
    }
}

/// Per-source limits as written (rates of 0 mean unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceLimitsFile {
    /// Datagrams per second per source IP.
    pub packets_per_sec: u64,
    /// Datagrams a source may send at once.
    pub packet_burst: u64,
    /// Bytes per second per source IP.
    pub bytes_per_sec: u64,
    /// Bytes a source may send at once.
    pub byte_burst: u64,
    /// Most unspent byte credit kept per source.
    pub credit_cap_bytes: u64,
    /// Slots of the per-source table.
    pub table_slots: usize,
}

impl Default for SourceLimitsFile {
    fn default() -> Self {
        let limits = GuardLimits::default();
        let (packets_per_sec, packet_burst) =
            limits.packets.map_or((0, 0), |r| (r.per_second, r.burst));
        let (bytes_per_sec, byte_burst) = limits.bytes.map_or((0, 0), |r| (r.per_second, r.burst));
        SourceLimitsFile {
            packets_per_sec,
            packet_burst,
            bytes_per_sec,
            byte_burst,
            credit_cap_bytes: limits.credit_cap,
            table_slots: limits.slots,
        }
    }
}

/// The file as written.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfigFile {
    /// UDP listen addresses.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Datapath threads per address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Metrics endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// Seed of the emulation's random draws.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Accepted tag clock skew.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_clock_skew_secs: Option<u64>,
    /// The peers.
    #[serde(default)]
    pub peers: Vec<PeerFile>,
    /// The emulated path.
    #[serde(default)]
    pub wan: WanFile,
    /// Delay-queue bounds.
    #[serde(default)]
    pub delay_queue: DelayQueueFile,
    /// Per-source limits.
    #[serde(default)]
    pub source_limits: SourceLimitsFile,
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

/// The validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct MirrorSettings {
    /// UDP listen addresses (at least one).
    pub listen: Vec<SocketAddr>,
    /// Datapath threads per address.
    pub workers: usize,
    /// Metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// Seed (absent: random).
    pub seed: Option<u64>,
    /// The rules the datapath applies (what a reload replaces).
    pub rules: MirrorRules,
    /// Userspace, XDP or auto, and the XDP settings (`docs/XDP.md`).
    pub datapath: DatapathConfig,
}

impl MirrorSettings {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_source(&ConfigSource::read(path)?)
    }

    /// Validate a configuration's text.
    pub fn from_source(source: &ConfigSource) -> Result<Self, ConfigError> {
        let file: MirrorConfigFile = source.parse()?;
        if file.listen.is_empty() {
            return Err(source.error_at("listen", "no listen address"));
        }
        let workers = file.workers.unwrap_or(1);
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(source.error_at("workers", format!("workers must be 1 to {MAX_WORKERS}")));
        }
        let peers = peer_table(source, &file.peers)?;
        let wan = wan_profile(source, &file.wan)?;
        let queue = file.delay_queue;
        if queue.packets == 0 || queue.bytes == 0 {
            return Err(source.error_at("delay_queue", "the delay queue must hold something"));
        }
        let guard = guard_limits(source, &file.source_limits)?;
        let datapath = DatapathConfig::from_file(
            file.datapath,
            &file.xdp_interfaces,
            file.xdp_mode,
            file.xdp_gateway_mac,
        )
        .map_err(|(key, reason)| source.error_at(&key, reason))?;
        Ok(MirrorSettings {
            datapath,
            listen: file.listen,
            workers,
            metrics: file.metrics,
            seed: file.seed,
            rules: MirrorRules {
                peers,
                wan,
                delay_queue: QueueLimits {
                    packets: queue.packets,
                    bytes: queue.bytes,
                },
                guard,
                max_clock_skew_secs: file
                    .max_clock_skew_secs
                    .unwrap_or(DEFAULT_MAX_CLOCK_SKEW_SECS),
            },
        })
    }
}

fn peer_table(source: &ConfigSource, written: &[PeerFile]) -> Result<PeerTable, ConfigError> {
    let mut peers = Vec::with_capacity(written.len());
    for (i, peer) in written.iter().enumerate() {
        let mut keys = Vec::with_capacity(peer.keys.len());
        for (k, key) in peer.keys.iter().enumerate() {
            let parsed = AuthKey::from_hex(key.id, &key.secret.0).map_err(|e| {
                source.error_at(&format!("peers[{i}].keys[{k}].secret"), e.to_string())
            })?;
            keys.push(parsed);
        }
        peers.push(Peer {
            name: peer.name.clone(),
            addresses: peer.addresses.iter().map(|p| p.0).collect(),
            keys,
            side: match peer.side {
                SideFile::Client => Side::Client,
                SideFile::Server => Side::Server,
            },
            reach: match peer.reach {
                ReachFile::Peers => Reach::Peers,
                ReachFile::Any => Reach::Any,
            },
        });
    }
    if peers.is_empty() {
        return Err(source.error_at("peers", "no peers: the mirror would forward for nobody"));
    }
    PeerTable::new(peers).map_err(|e| {
        let at = match &e {
            PeerTableError::Unreachable(name) | PeerTableError::DuplicateName(name) => {
                let i = written.iter().rposition(|p| &p.name == name).unwrap_or(0);
                format!("peers[{i}].name")
            }
            PeerTableError::DuplicateKeyId(id) => written
                .iter()
                .enumerate()
                .flat_map(|(i, p)| {
                    p.keys
                        .iter()
                        .enumerate()
                        .map(move |(k, key)| (i, k, key.id))
                })
                .filter(|&(_, _, key_id)| key_id == *id)
                .nth(1)
                .map_or("peers".to_owned(), |(i, k, _)| {
                    format!("peers[{i}].keys[{k}].id")
                }),
            PeerTableError::TooMany => "peers".to_owned(),
        };
        source.error_at(&at, e.to_string())
    })
}

fn wan_profile(source: &ConfigSource, wan: &WanFile) -> Result<WanProfile, ConfigError> {
    let direction = |name: &str, given: Option<LinkFile>| -> Result<LinkConfig, ConfigError> {
        let (at, link) = match (given, wan.both) {
            (Some(link), _) => (name, link),
            (None, Some(link)) => ("both", link),
            (None, None) => return Ok(LinkConfig::default()),
        };
        link.link_config()
            .map_err(|(field, reason)| source.error_at(&format!("wan.{at}.{field}"), reason))
    };
    Ok(WanProfile {
        to_server: direction("to_server", wan.to_server)?,
        to_client: direction("to_client", wan.to_client)?,
    })
}

fn guard_limits(
    source: &ConfigSource,
    limits: &SourceLimitsFile,
) -> Result<GuardLimits, ConfigError> {
    let rate =
        |per_second: u64, burst: u64, what: &str| -> Result<Option<BucketRate>, ConfigError> {
            match (per_second, burst) {
                (0, _) => Ok(None),
                (_, 0) => Err(source.error_at(
                    &format!("source_limits.{what}"),
                    "a limited rate needs a burst of at least 1",
                )),
                (per_second, burst) => Ok(Some(BucketRate { per_second, burst })),
            }
        };
    if !(1..=MAX_TABLE_SLOTS).contains(&limits.table_slots) {
        return Err(source.error_at(
            "source_limits.table_slots",
            format!("table_slots must be 1 to {MAX_TABLE_SLOTS}"),
        ));
    }
    Ok(GuardLimits {
        packets: rate(limits.packets_per_sec, limits.packet_burst, "packet_burst")?,
        bytes: rate(limits.bytes_per_sec, limits.byte_burst, "byte_burst")?,
        credit_cap: limits.credit_cap_bytes,
        slots: limits.table_slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    fn pattern(text: &str) -> PatternText {
        PatternText::try_from(text.to_owned()).expect("a pattern")
    }

    fn p(value: f64) -> Probability {
        Probability::try_from(value).expect("a probability")
    }

    fn ms(value: f64) -> Millis {
        Millis::try_from(value).expect("a duration")
    }

    const SECRET: &str = "000102030405060708090a0b0c0d0e0f";

    fn written() -> MirrorConfigFile {
        MirrorConfigFile {
            datapath: Datapath::Auto,
            xdp_interfaces: vec!["eth0".into()],
            xdp_mode: XdpAttachMode::Native,
            xdp_gateway_mac: None,
            listen: vec![addr("198.18.0.1:7000"), addr("[2001:2::1]:7000")],
            workers: Some(2),
            metrics: Some(addr("198.18.0.1:9300")),
            seed: Some(42),
            max_clock_skew_secs: Some(10),
            peers: vec![
                PeerFile {
                    name: "clients".into(),
                    addresses: vec![pattern("198.18.0.0/24"), pattern("2001:2::/64")],
                    keys: Vec::new(),
                    side: SideFile::Client,
                    reach: ReachFile::Peers,
                },
                PeerFile {
                    name: "vip".into(),
                    addresses: vec![pattern("198.18.1.1:4433"), pattern("[2001:2:0:1::1]:4433")],
                    keys: Vec::new(),
                    side: SideFile::Server,
                    reach: ReachFile::Any,
                },
                PeerFile {
                    name: "laptop".into(),
                    addresses: Vec::new(),
                    keys: vec![KeyFile {
                        id: 7,
                        secret: SecretText::try_from(SECRET.to_owned()).expect("a secret"),
                    }],
                    side: SideFile::Client,
                    reach: ReachFile::Peers,
                },
            ],
            wan: WanFile {
                both: Some(LinkFile {
                    delay_ms: ms(40.0),
                    loss: p(0.01),
                    ..LinkFile::default()
                }),
                to_server: None,
                to_client: Some(LinkFile {
                    delay_ms: ms(20.5),
                    jitter_ms: ms(2.0),
                    loss: p(0.0),
                    burst_loss: Some(BurstFile {
                        loss: p(0.02),
                        mean_burst: 3.0,
                        idle_step_ms: Some(ms(5.0)),
                    }),
                    duplicate: p(0.001),
                    reorder: p(0.01),
                    reorder_delay_ms: ms(5.0),
                    rate_mbit: Some(100.0),
                    bottleneck_packets: Some(500),
                    bottleneck_bytes: Some(750_000),
                }),
            },
            delay_queue: DelayQueueFile {
                packets: 100,
                bytes: 100_000,
            },
            source_limits: SourceLimitsFile {
                packets_per_sec: 0,
                packet_burst: 0,
                bytes_per_sec: 1_000_000,
                byte_burst: 50_000,
                credit_cap_bytes: 65_536,
                table_slots: 1_024,
            },
        }
    }

    #[test]
    fn a_written_file_loads_back_with_the_same_settings() {
        let text = serde_yaml::to_string(&written()).expect("serializes");
        let settings = MirrorSettings::from_source(&ConfigSource::from_text("m.yaml", &text))
            .expect("the written file is valid");
        let peer = |name: &str, addresses: &[&str], side, reach, keys| Peer {
            name: name.into(),
            addresses: addresses
                .iter()
                .map(|a| a.parse().expect("a pattern"))
                .collect(),
            keys,
            side,
            reach,
        };
        let peers = PeerTable::new(vec![
            peer(
                "clients",
                &["198.18.0.0/24", "2001:2::/64"],
                Side::Client,
                Reach::Peers,
                Vec::new(),
            ),
            peer(
                "vip",
                &["198.18.1.1:4433", "[2001:2:0:1::1]:4433"],
                Side::Server,
                Reach::Any,
                Vec::new(),
            ),
            peer(
                "laptop",
                &[],
                Side::Client,
                Reach::Peers,
                vec![AuthKey::from_hex(7, SECRET).expect("a key")],
            ),
        ])
        .expect("valid peers");
        let expected = MirrorSettings {
            datapath: DatapathConfig {
                datapath: Datapath::Auto,
                interfaces: vec!["eth0".into()],
                mode: XdpAttachMode::Native,
                gateway_mac: None,
            },
            listen: vec![addr("198.18.0.1:7000"), addr("[2001:2::1]:7000")],
            workers: 2,
            metrics: Some(addr("198.18.0.1:9300")),
            seed: Some(42),
            rules: MirrorRules {
                peers,
                wan: WanProfile {
                    to_server: LinkConfig {
                        delay: Duration::from_millis(40),
                        loss: 0.01,
                        ..LinkConfig::default()
                    },
                    to_client: LinkConfig {
                        delay: Duration(20_500),
                        jitter: Duration::from_millis(2),
                        rate_bps: Some(100_000_000),
                        queue_limit_packets: Some(500),
                        queue_limit_bytes: Some(750_000),
                        loss: 0.0,
                        burst_loss: Some(
                            GilbertElliott::with_mean_loss(0.02, 3.0)
                                .stepping_when_idle(Duration::from_millis(5)),
                        ),
                        reorder: 0.01,
                        reorder_delay: Duration::from_millis(5),
                        duplicate: 0.001,
                        drop_packets: Vec::new(),
                    },
                },
                delay_queue: QueueLimits {
                    packets: 100,
                    bytes: 100_000,
                },
                guard: GuardLimits {
                    packets: None,
                    bytes: Some(BucketRate {
                        per_second: 1_000_000,
                        burst: 50_000,
                    }),
                    credit_cap: 65_536,
                    slots: 1_024,
                },
                max_clock_skew_secs: 10,
            },
        };
        assert_eq!(settings, expected);
        let reread: MirrorConfigFile = serde_yaml::from_str(&text).expect("parses");
        assert_eq!(reread, written());
    }

    #[test]
    fn a_default_file_writes_no_optional_key() {
        let file = MirrorConfigFile {
            listen: vec![addr("198.18.0.1:7000")],
            peers: vec![PeerFile {
                name: "anyone".into(),
                addresses: vec![pattern("0.0.0.0/0")],
                keys: Vec::new(),
                side: SideFile::Client,
                reach: ReachFile::Peers,
            }],
            ..MirrorConfigFile::default()
        };
        let text = serde_yaml::to_string(&file).expect("serializes");
        for unset in ["workers", "metrics", "seed", "max_clock_skew_secs", "both"] {
            assert!(!text.contains(unset), "{unset} written:\n{text}");
        }
        let settings =
            MirrorSettings::from_source(&ConfigSource::from_text("m.yaml", &text)).expect("valid");
        assert_eq!(settings.workers, 1);
        assert_eq!(settings.rules.wan, WanProfile::default());
        assert_eq!(settings.rules.guard, GuardLimits::default());
        assert_eq!(
            settings.rules.max_clock_skew_secs,
            DEFAULT_MAX_CLOCK_SKEW_SECS
        );
    }
}
