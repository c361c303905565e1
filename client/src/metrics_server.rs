//! [`MetricsServer`]: the client's `/metrics` and `/healthz` endpoint (netfn's
//! [`MetricsEndpoint`], the same as every network function's), on a runtime thread of its own so
//! that it answers scrapes while the fetch blocks the calling thread.

use std::net::SocketAddr;

use tokio::sync::watch;
use trickles_netfn::metrics_endpoint::always_healthy;
use trickles_netfn::MetricsEndpoint;

use crate::error::ClientError;
use crate::metrics::ClientMetrics;

/// A running endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl MetricsServer {
    /// Serve `metrics` on `addr` (port 0: any free port).
    pub fn start(addr: SocketAddr, metrics: &ClientMetrics) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("metrics")
            .enable_all()
            .build()
            .map_err(ClientError::Socket)?;
        let (stop, shutdown) = watch::channel(false);
        let endpoint = runtime
            .block_on(MetricsEndpoint::start(
                addr,
                metrics.registry.clone(),
                always_healthy(),
                shutdown,
            ))
            .map_err(|e| ClientError::Socket(std::io::Error::other(format!("--metrics: {e}"))))?;
        Ok(MetricsServer {
            local_addr: endpoint.local_addr(),
            stop,
            runtime: Some(runtime),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            // Waits for the endpoint's tasks to end, so the port is closed on return.
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn serves_the_client_metrics_from_a_blocking_caller() {
        let metrics = ClientMetrics::new().expect("metrics");
        let transfer = metrics.start_transfer();
        transfer.delivered(4096, None);
        let server =
            MetricsServer::start("127.0.0.1:0".parse().expect("addr"), &metrics).expect("start");
        let response =
            trickles_netfn::http_get(server.local_addr(), "/metrics", Duration::from_secs(5))
                .expect("scrape");
        assert_eq!(response.status, 200);
        assert!(response
            .body
            .contains("trickles_client_delivered_bytes_total 4096"));
        assert!(response.body.contains("trickles_client_active_transfers 1"));
        let addr = server.local_addr();
        drop(server);
        assert!(trickles_netfn::http_get(addr, "/metrics", Duration::from_secs(1)).is_err());
    }
}
