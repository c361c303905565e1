//! The metrics registry of the binary and its HTTP endpoint.
//!
//! Each part of the server declares its own counters next to the code that counts them
//! ([`crate::udp::metrics::UdpMetrics`], [`crate::http_baseline::HttpMetrics`]);
//! [`ServerMetrics::new`] registers them all, in this one place, in a private registry. The
//! endpoint (`--metrics ADDR`, netfn's [`trickles_netfn::MetricsEndpoint`], as in the balancer
//! and the mirror) answers `GET /metrics` in the Prometheus text format and `GET /healthz` with
//! `200 ok` (what a load balancer health-checks).
//!
//! | metric | meaning |
//! | --- | --- |
//! | `trickles_server_packets_received_total` | UDP datagrams received |
//! | `trickles_server_packets_sent_total` | UDP datagrams sent |
//! | `trickles_server_bytes_received_total` | UDP payload bytes received |
//! | `trickles_server_bytes_sent_total` | UDP payload bytes sent |
//! | `trickles_server_continuations_verified_total` | requests whose continuation verified |
//! | `trickles_server_continuations_rejected_total{reason}` | drops, by the core's `DropReason` name (`malformed`, `version`, `mac`, `epoch`, `stale`, `replay`, `proof`, `too_early`, `window`, `app`, ...) or the driver's `truncated` / `address_family` / `untrusted_encap` / `malformed_encap` (balancer relays, `udp::balancer_relay`) |
//! | `trickles_server_hellos_total` | HELLOs answered |
//! | `trickles_server_send_errors_total` | datagrams the kernel refused |
//! | `trickles_server_soft_state_bytes` | replay-filter memory (one filter per process) |
//! | `trickles_server_replay_inserts_total`, `_capacity`, `_occupancy_ratio`, `_false_positive_ratio` | the replay filter's load (`udp::replay_watch`) |
//! | `trickles_server_http_requests_total` | requests to the HTTP/TCP baseline |
//! | `trickles_server_build_info{version,profile}`, `process_*` | which build runs; CPU, memory, descriptors (netfn's standard metrics) |

use std::sync::Arc;

use http_body_util::BodyExt;
use prometheus::Registry;
use trickles_netfn::metrics_endpoint::{always_healthy, respond};

use crate::http_baseline::HttpMetrics;
use crate::http_listener::Handler;
use crate::udp::metrics::UdpMetrics;

/// Every metric of `trickles-server`, registered in one registry.
#[derive(Clone, Debug)]
pub struct ServerMetrics {
    /// The registry the endpoint renders.
    pub registry: Registry,
    /// Counters of the UDP driver.
    pub udp: UdpMetrics,
    /// Counters of the HTTP/TCP baseline.
    pub http: HttpMetrics,
}

impl ServerMetrics {
    /// Create and register every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let udp = UdpMetrics::new()?;
        let http = HttpMetrics::new()?;
        udp.register(&registry)?;
        http.register(&registry)?;
        trickles_netfn::register_standard_metrics(&registry, "server", env!("CARGO_PKG_VERSION"))?;
        Ok(ServerMetrics {
            registry,
            udp,
            http,
        })
    }
}

/// The endpoint's answers (netfn's, always healthy) as a handler for
/// [`crate::http_listener::serve`], to serve the registry on a listener of one's own. The
/// running server serves it with [`trickles_netfn::MetricsEndpoint`].
pub fn handler(registry: Registry) -> Handler {
    let health = always_healthy();
    Arc::new(move |request| {
        respond(&registry, &health, &request)
            .map(|body| body.map_err(|never| match never {}).boxed())
    })
}
