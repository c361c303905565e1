//! [`HttpLimits`]: what bounds the HTTP/1.1 endpoints of the binaries (the metrics endpoints,
//! the server's HTTP/TCP baseline), so that a client holding connections open cannot exhaust
//! a process's tasks and descriptors.
//!
//! - **A connection cap.** Each accepted connection takes a permit of a semaphore for its
//!   lifetime; a connection that finds none is closed at once (before hyper reads a byte), and a
//!   warning says so at most once a minute.
//! - **A header timeout.** A connection must deliver a whole request header within
//!   `header_timeout` of starting to send it (or of going idle between requests): hyper's
//!   `header_read_timeout`, which needs a timer (tokio's). A slowloris client is cut off.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default cap of a metrics endpoint (scrapers and health checks: a few at a time).
pub const METRICS_MAX_CONNECTIONS: usize = 64;
/// Default header timeout.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between two "connection refused" warnings.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The limits of one HTTP endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; more are closed when accepted.
    pub max_connections: usize,
    /// Longest a request header may take to arrive.
    pub header_timeout: Duration,
}

impl HttpLimits {
    /// The limits of a metrics endpoint.
    pub const METRICS: HttpLimits = HttpLimits {
        max_connections: METRICS_MAX_CONNECTIONS,
        header_timeout: HEADER_TIMEOUT,
    };

    /// A hyper HTTP/1.1 builder enforcing the header timeout.
    pub fn http1(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        builder
    }
}

/// The connection cap of one endpoint, shared by its accept loop and its connections.
#[derive(Clone, Debug)]
pub struct ConnectionCap {
    permits: Arc<Semaphore>,
    limit: usize,
    last_warning: Arc<Mutex<Option<Instant>>>,
}

impl ConnectionCap {
    /// At most `limit` (at least 1) connections at once.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        ConnectionCap {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            last_warning: Arc::new(Mutex::new(None)),
        }
    }

    /// A permit for one more connection (hold it as long as the connection lives), or `None`
    /// when `limit` are open: close the new one. `what` and `peer` name it in the warning.
    pub fn admit(&self, what: &str, peer: std::net::SocketAddr) -> Option<OwnedSemaphorePermit> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    *last = Some(Instant::now());
                    tracing::warn!(
                        listener = what,
                        %peer,
                        limit = self.limit,
                        "HTTP connection refused: the endpoint already serves its maximum \
                         (further refusals within a minute are not logged)"
                    );
                }
                None
            }
        }
    }

    /// Connections that may still be admitted.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_admits_up_to_its_limit_and_again_once_one_closes() {
        let cap = ConnectionCap::new(2);
        let peer = "127.0.0.1:1".parse().expect("addr");
        let first = cap.admit("test", peer).expect("first");
        let _second = cap.admit("test", peer).expect("second");
        assert!(cap.admit("test", peer).is_none());
        drop(first);
        assert!(cap.admit("test", peer).is_some());
    }
}
