//! The metrics registry of the binary and its HTTP endpoint.
//!
//! Each part of the server declares its own counters next to the code that counts them
//! ([`crate::udp::metrics::UdpMetrics`], [`crate::http_baseline::HttpMetrics`]);
//! [`ServerMetrics::new`] registers them all, in this one place, in a private registry. The
//! endpoint (`--metrics ADDR`) answers `GET /metrics` in the Prometheus text format and
//! `GET /healthz` with `200 ok` (what a load balancer health-checks).
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
//! | `trickles_server_soft_state_bytes` | replay-filter memory of all workers |
//! | `trickles_server_http_requests_total` | requests to the HTTP/TCP baseline |

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use prometheus::{Encoder, Registry, TextEncoder};

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
        Ok(ServerMetrics {
            registry,
            udp,
            http,
        })
    }
}

/// The Prometheus text exposition of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut text = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut text) {
        tracing::warn!(error = %e, "cannot encode metrics");
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The answer of the endpoint to one request.
pub fn respond<B>(registry: &Registry, request: &Request<B>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(registry),
        ),
        "/healthz" => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "try /metrics or /healthz\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The request handler of the endpoint, for [`crate::http_listener::serve`].
pub fn handler(registry: Registry) -> Handler {
    Arc::new(move |request| {
        respond(&registry, &request).map(|body| body.map_err(|never| match never {}).boxed())
    })
}
