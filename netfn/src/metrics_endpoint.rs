//! [`MetricsEndpoint`]: the HTTP endpoint every network function serves: `GET /metrics` (the
//! Prometheus text format of one registry) and `GET /healthz` (200 when the process says it is
//! healthy, 503 otherwise, with a one-line reason).
//!
//! It runs as a task on the caller's tokio runtime (hyper, HTTP/1.1) and stops when the shutdown
//! signal turns true. It serves at most [`HttpLimits::METRICS`] connections at once and closes
//! one that does not deliver a request header in time ([`crate::http_limits`]). Metric names follow `trickles_<component>_...`; each binary declares its
//! metrics next to the code that counts them and registers them in one registry.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::NetfnError;
use crate::http_limits::{ConnectionCap, HttpLimits};

/// What `/healthz` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Healthy (200) or not (503).
    pub ok: bool,
    /// One line for humans (e.g. "2 of 3 backends up").
    pub detail: String,
}

impl Health {
    /// Healthy, with a detail line.
    pub fn ok(detail: impl Into<String>) -> Self {
        Health {
            ok: true,
            detail: detail.into(),
        }
    }

    /// Unhealthy, with the reason.
    pub fn failing(detail: impl Into<String>) -> Self {
        Health {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Computes the health at each `/healthz` request.
pub type HealthFn = Arc<dyn Fn() -> Health + Send + Sync>;

/// A health function that always answers healthy.
pub fn always_healthy() -> HealthFn {
    Arc::new(|| Health::ok(""))
}

/// The Prometheus text exposition of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut text = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut text) {
        tracing::warn!(error = %e, "cannot encode metrics");
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The answer to one request.
pub fn respond<B>(
    registry: &Registry,
    health: &HealthFn,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(registry),
        ),
        "/healthz" => {
            let health = health();
            let status = if health.ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let word = if health.ok { "ok" } else { "failing" };
            let body = if health.detail.is_empty() {
                format!("{word}\n")
            } else {
                format!("{word}: {}\n", health.detail)
            };
            (status, "text/plain; charset=utf-8", body)
        }
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

/// A running endpoint.
#[derive(Debug)]
pub struct MetricsEndpoint {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Bind `addr` and serve `registry` and `health` until `shutdown` turns true, within
    /// [`HttpLimits::METRICS`]. Must be called within a tokio runtime.
    pub async fn start(
        addr: SocketAddr,
        registry: Registry,
        health: HealthFn,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, NetfnError> {
        Self::start_with_limits(addr, registry, health, shutdown, HttpLimits::METRICS).await
    }

    /// [`MetricsEndpoint::start`] within `limits`.
    pub async fn start_with_limits(
        addr: SocketAddr,
        registry: Registry,
        health: HealthFn,
        shutdown: watch::Receiver<bool>,
        limits: HttpLimits,
    ) -> Result<Self, NetfnError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| NetfnError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| NetfnError::Bind { addr, source })?;
        let task = tokio::spawn(serve(listener, registry, health, shutdown, limits));
        Ok(MetricsEndpoint { local_addr, task })
    }

    /// The bound address (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Wait for the endpoint to stop (after the shutdown signal).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

async fn serve(
    listener: TcpListener,
    registry: Registry,
    health: HealthFn,
    mut shutdown: watch::Receiver<bool>,
    limits: HttpLimits,
) {
    let cap = ConnectionCap::new(limits.max_connections);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(permit) = cap.admit("metrics", peer) else {
            drop(stream);
            continue;
        };
        let registry = registry.clone();
        let health = health.clone();
        let builder = limits.http1();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&registry, &health, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = builder.serve_connection(io, service).await {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_get::http_get;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_metrics_and_health_then_stops() {
        let registry = Registry::new();
        let counter =
            prometheus::IntCounter::new("trickles_test_things_total", "things").expect("counter");
        registry
            .register(Box::new(counter.clone()))
            .expect("register");
        counter.inc_by(7);
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let health: HealthFn = Arc::new(move || {
            if flag.load(Ordering::SeqCst) {
                Health::ok("3 of 3 up")
            } else {
                Health::failing("0 of 3 up")
            }
        });
        let (stop, shutdown) = watch::channel(false);
        let endpoint = MetricsEndpoint::start(
            "127.0.0.1:0".parse().expect("addr"),
            registry,
            health,
            shutdown,
        )
        .await
        .expect("start");
        let addr = endpoint.local_addr();
        let get = move |path: &'static str| {
            tokio::task::spawn_blocking(move || http_get(addr, path, Duration::from_secs(2)))
        };
        let metrics = get("/metrics").await.expect("join").expect("get");
        assert_eq!(metrics.status, 200);
        assert!(metrics.body.contains("trickles_test_things_total 7"));
        let ok = get("/healthz").await.expect("join").expect("get");
        assert_eq!((ok.status, ok.body.as_str()), (200, "ok: 3 of 3 up\n"));
        healthy.store(false, Ordering::SeqCst);
        let failing = get("/healthz").await.expect("join").expect("get");
        assert_eq!(failing.status, 503);
        assert_eq!(get("/other").await.expect("join").expect("get").status, 404);
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(2), endpoint.stopped())
            .await
            .expect("stops");
    }

    /// An endpoint on `ip` within `limits`, its address and its stop switch.
    async fn limited(ip: &str, limits: HttpLimits) -> (MetricsEndpoint, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        let addr = format!("{ip}:0").parse().expect("addr");
        let endpoint = MetricsEndpoint::start_with_limits(
            addr,
            Registry::new(),
            always_healthy(),
            shutdown,
            limits,
        )
        .await
        .expect("start");
        (endpoint, stop)
    }

    /// True if the server closes `stream` within 10 s (end of stream or reset).
    fn closed_by_the_server(stream: &mut std::net::TcpStream) -> bool {
        use std::io::Read;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    fn loopbacks() -> Vec<&'static str> {
        let mut ips = vec!["127.0.0.1"];
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            ips.push("[::1]");
        }
        ips
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_beyond_the_cap_are_closed_and_served_again_once_one_leaves() {
        for ip in loopbacks() {
            let limits = HttpLimits {
                max_connections: 2,
                header_timeout: Duration::from_secs(30),
            };
            let (endpoint, stop) = limited(ip, limits).await;
            let addr = endpoint.local_addr();
            let outcome = tokio::task::spawn_blocking(move || {
                let idle: Vec<_> = (0..2)
                    .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
                    .collect();
                std::thread::sleep(Duration::from_millis(200));
                let mut third = std::net::TcpStream::connect(addr).expect("connect");
                let refused = closed_by_the_server(&mut third);
                drop(idle);
                let mut served = None;
                for _ in 0..100 {
                    served = http_get(addr, "/metrics", Duration::from_secs(2)).ok();
                    if served.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                (refused, served.map(|r| r.status))
            })
            .await
            .expect("join");
            assert_eq!(outcome, (true, Some(200)), "over {ip}");
            stop.send(true).expect("stop");
            endpoint.stopped().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_without_a_whole_request_header_is_closed_after_the_timeout() {
        for ip in loopbacks() {
            let limits = HttpLimits {
                max_connections: 8,
                header_timeout: Duration::from_millis(300),
            };
            let (endpoint, stop) = limited(ip, limits).await;
            let addr = endpoint.local_addr();
            let closed = tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut slow = std::net::TcpStream::connect(addr).expect("connect");
                slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                    .expect("half a header");
                closed_by_the_server(&mut slow)
            })
            .await
            .expect("join");
            assert!(
                closed,
                "a half-sent header held the connection open over {ip}"
            );
            stop.send(true).expect("stop");
            endpoint.stopped().await;
        }
    }
}
