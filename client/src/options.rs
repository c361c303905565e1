//! [`FetchOptions`]: everything about a fetch that is not the URL or the output.

use std::sync::Arc;
use std::time::Duration;

use trickles::client::ClientConfig;

use crate::progress::ProgressReporter;

/// How to run a fetch. `FetchOptions::default()` is what the CLI uses without flags.
#[derive(Clone)]
pub struct FetchOptions {
    /// Give up when no new body byte arrived for this long (and, before the first byte, when
    /// nothing arrived for this long since the start). CLI `--timeout`, default 30 s.
    pub idle_timeout: Duration,
    /// HTTP only: on a connection error, reconnect and continue with `Range: bytes=N-`.
    pub http_range_resume: bool,
    /// HTTP only, with `http_range_resume`: a body that stalls this long counts as a broken
    /// connection and is resumed on a new one (a server whose host crashed sends nothing, not
    /// even a reset, to a client that is only receiving). CLI `--http-stall-resume`.
    pub http_stall_resume: Option<Duration>,
    /// HTTP only: at most this many reconnections per transfer.
    pub max_resume_attempts: u32,
    /// HTTP only: wait before the first reconnection; doubles up to `max_resume_delay`.
    pub resume_delay: Duration,
    /// HTTP only: the longest wait between reconnections.
    pub max_resume_delay: Duration,
    /// Trickles only: requested SO_RCVBUF/SO_SNDBUF of the UDP socket (the kernel may cap it).
    pub socket_buffer_bytes: usize,
    /// Trickles only: the core's client tunables (RTO bounds, receive window, ...).
    pub trickles: ClientConfig,
    /// Send to these addresses instead of the URL host's (CLI `--server`, repeated): for
    /// Trickles, replicas ranked by probing, the transfer moving down the ranking when one
    /// fails; for HTTP, tried in order.
    pub servers: Vec<std::net::SocketAddr>,
    /// Where to report progress, if anywhere.
    pub progress: Option<Arc<dyn ProgressReporter>>,
    /// Trickles only: send every datagram through this packet mirror (CLI `--via`).
    pub via: Option<trickles_netfn::MirrorRoute>,
    /// Count deliveries, stalls and retransmissions here (CLI `--metrics ADDR`).
    pub metrics: Option<crate::metrics::ClientMetrics>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            idle_timeout: Duration::from_secs(30),
            http_range_resume: false,
            http_stall_resume: None,
            max_resume_attempts: 40,
            resume_delay: Duration::from_millis(50),
            max_resume_delay: Duration::from_millis(500),
            socket_buffer_bytes: 8 << 20,
            trickles: ClientConfig::default(),
            servers: Vec::new(),
            progress: None,
            via: None,
            metrics: None,
        }
    }
}

impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchOptions")
            .field("idle_timeout", &self.idle_timeout)
            .field("http_range_resume", &self.http_range_resume)
            .field("http_stall_resume", &self.http_stall_resume)
            .field("max_resume_attempts", &self.max_resume_attempts)
            .field("resume_delay", &self.resume_delay)
            .field("max_resume_delay", &self.max_resume_delay)
            .field("socket_buffer_bytes", &self.socket_buffer_bytes)
            .field("trickles", &self.trickles)
            .field("servers", &self.servers)
            .field("progress", &self.progress.is_some())
            .field("via", &self.via.as_ref().map(|route| route.mirror()))
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}
