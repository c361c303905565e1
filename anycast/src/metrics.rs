//! The controller's metrics, all `trickles_anycast_*`, in one registry (`GET /metrics`).
//!
//! | metric | meaning |
//! | --- | --- |
//! | `trickles_anycast_prefix_announced{prefix}` | 1 while BIRD confirmed the prefix's protocol enabled and the controller wants it |
//! | `trickles_anycast_transitions_total{prefix,cause}` | changes of that state, by cause (`healthy`, `unhealthy`, `drain`, `shutdown`, `bird`) |
//! | `trickles_anycast_probes_total{target,result}` | health probes by outcome (`ok`, `timeout`, `refused`, `failed`) |
//! | `trickles_anycast_probe_duration_seconds{target}` | probe latency (histogram; a timeout counts its full wait) |
//! | `trickles_anycast_check_up{target}` | 1 when the target's rise/fall state is up |
//! | `trickles_anycast_bird_up` | 1 when BIRD's control socket answered the last round |
//! | `trickles_anycast_bird_errors_total{kind}` | rounds BIRD could not serve (`not_up`, `io`, `garbage`, `refused`, `missing_protocol`) |
//! | `trickles_anycast_bird_protocol_up{protocol,proto}` | 1 when a BIRD protocol's state is `up` (every protocol BIRD lists) |
//! | `trickles_anycast_bgp_session_established{protocol}` | 1 when a BGP protocol's session is Established |
//! | `trickles_anycast_bfd_session_up{address}` | 1 when BIRD's BFD session to a `bfd_address` is Up (its routes are guarded and present) |
//! | `trickles_anycast_draining` | 1 from a drain's start |
//! | `trickles_anycast_safe_to_stop` | 1 once a drain withdrew everything and waited `drain_wait_ms` |
//! | `trickles_anycast_config_reloads_total{result}` | reloads applied (`ok`) or refused (`error`) |

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::bird::BirdError;
use crate::decision::Cause;

/// Every metric of the controller.
#[derive(Clone, Debug)]
pub struct AnycastMetrics {
    /// The registry the endpoint renders.
    pub registry: Registry,
    /// `trickles_anycast_prefix_announced{prefix}`
    pub prefix_announced: IntGaugeVec,
    /// `trickles_anycast_transitions_total{prefix,cause}`
    pub transitions: IntCounterVec,
    /// `trickles_anycast_probes_total{target,result}`
    pub probes: IntCounterVec,
    /// `trickles_anycast_probe_duration_seconds{target}`
    pub probe_seconds: HistogramVec,
    /// `trickles_anycast_check_up{target}`
    pub check_up: IntGaugeVec,
    /// `trickles_anycast_bird_up`
    pub bird_up: IntGauge,
    /// `trickles_anycast_bird_errors_total{kind}`
    pub bird_errors: IntCounterVec,
    /// `trickles_anycast_bird_protocol_up{protocol,proto}`
    pub bird_protocol_up: IntGaugeVec,
    /// `trickles_anycast_bgp_session_established{protocol}`
    pub bgp_established: IntGaugeVec,
    /// `trickles_anycast_bfd_session_up{address}`
    pub bfd_session_up: IntGaugeVec,
    /// `trickles_anycast_draining`
    pub draining: IntGauge,
    /// `trickles_anycast_safe_to_stop`
    pub safe_to_stop: IntGauge,
    /// `trickles_anycast_config_reloads_total{result}`
    pub config_reloads: IntCounterVec,
}

/// The `kind` label of a BIRD error.
pub fn bird_error_kind(error: &BirdError) -> &'static str {
    match error {
        BirdError::NotUp { .. } => "not_up",
        BirdError::Io { .. } => "io",
        BirdError::Garbage { .. } => "garbage",
        BirdError::Refused { .. } => "refused",
        BirdError::MissingProtocol(_) => "missing_protocol",
    }
}

impl AnycastMetrics {
    /// Create and register every metric.
    pub fn new() -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
        };
        let metrics = AnycastMetrics {
            registry: Registry::new(),
            prefix_announced: gauge(
                "trickles_anycast_prefix_announced",
                "1 while the prefix is announced (its BIRD protocol enabled and wanted)",
                &["prefix"],
            )?,
            transitions: counter(
                "trickles_anycast_transitions_total",
                "Changes of a prefix's announced state, by cause",
                &["prefix", "cause"],
            )?,
            probes: counter(
                "trickles_anycast_probes_total",
                "Health probes by target and outcome",
                &["target", "result"],
            )?,
            probe_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "trickles_anycast_probe_duration_seconds",
                    "Health probe latency",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
                &["target"],
            )?,
            check_up: gauge(
                "trickles_anycast_check_up",
                "1 when the check target is up (rise/fall)",
                &["target"],
            )?,
            bird_up: IntGauge::new(
                "trickles_anycast_bird_up",
                "1 when BIRD's control socket answered the last round",
            )?,
            bird_errors: counter(
                "trickles_anycast_bird_errors_total",
                "Rounds in which BIRD could not be used, by kind",
                &["kind"],
            )?,
            bird_protocol_up: gauge(
                "trickles_anycast_bird_protocol_up",
                "1 when the BIRD protocol's state is up",
                &["protocol", "proto"],
            )?,
            bgp_established: gauge(
                "trickles_anycast_bgp_session_established",
                "1 when the BGP protocol's session is Established",
                &["protocol"],
            )?,
            bfd_session_up: gauge(
                "trickles_anycast_bfd_session_up",
                "1 when BIRD's BFD session to the bfd_address is Up",
                &["address"],
            )?,
            draining: IntGauge::new("trickles_anycast_draining", "1 once a drain started")?,
            safe_to_stop: IntGauge::new(
                "trickles_anycast_safe_to_stop",
                "1 once a drain withdrew every prefix and waited drain_wait_ms",
            )?,
            config_reloads: counter(
                "trickles_anycast_config_reloads_total",
                "Configuration reloads by result",
                &["result"],
            )?,
        };
        for result in ["ok", "error"] {
            metrics.config_reloads.with_label_values(&[result]);
        }
        for kind in ["not_up", "io", "garbage", "refused", "missing_protocol"] {
            metrics.bird_errors.with_label_values(&[kind]);
        }
        let r = &metrics.registry;
        r.register(Box::new(metrics.prefix_announced.clone()))?;
        r.register(Box::new(metrics.transitions.clone()))?;
        r.register(Box::new(metrics.probes.clone()))?;
        r.register(Box::new(metrics.probe_seconds.clone()))?;
        r.register(Box::new(metrics.check_up.clone()))?;
        r.register(Box::new(metrics.bird_up.clone()))?;
        r.register(Box::new(metrics.bird_errors.clone()))?;
        r.register(Box::new(metrics.bird_protocol_up.clone()))?;
        r.register(Box::new(metrics.bgp_established.clone()))?;
        r.register(Box::new(metrics.bfd_session_up.clone()))?;
        r.register(Box::new(metrics.draining.clone()))?;
        r.register(Box::new(metrics.safe_to_stop.clone()))?;
        r.register(Box::new(metrics.config_reloads.clone()))?;
        Ok(metrics)
    }

    /// Pre-create the series of `prefix` (announced 0, every cause 0).
    pub fn add_prefix(&self, prefix: &str) {
        self.prefix_announced.with_label_values(&[prefix]);
        for cause in Cause::ALL {
            self.transitions.with_label_values(&[prefix, cause.name()]);
        }
    }
}
