//! # trickles-client: fetch `trickles://` and `http://` URLs
//!
//! The thin driver around the sans-IO core's client state machine
//! ([`trickles::client::ClientConnection`]): it owns the UDP socket, the clock and the output.
//! The same library fetches `http://` URLs over kernel TCP with hyper, the baseline every
//! experiment compares against, and reports both the same way ([`TransferStats`]).
//!
//! ```no_run
//! use trickles_client::{fetch, FetchOptions, SeekSink, TargetUrl};
//! let url = TargetUrl::parse("trickles://[::1]:4433/big.bin")?;
//! let file = std::fs::File::create("big.bin").map_err(trickles_client::ClientError::Output)?;
//! let stats = fetch(&url, &FetchOptions::default(), SeekSink::new(file))?;
//! println!("{} bytes at {:.1} Mb/s", stats.bytes, stats.goodput_mbps);
//! # Ok::<(), trickles_client::ClientError>(())
//! ```
//!
//! [`fetch_parallel`] runs N concurrent transfers of one URL (load generation): Trickles
//! transfers share one UDP socket and are told apart by connection id, HTTP transfers are N
//! tokio tasks. Both entry points block the calling thread (they run their own tokio runtime),
//! so call them from ordinary threads, not from inside an async runtime.
//!
//! Map of the crate: [`url`] parses URLs, [`sink`] is where bodies go, [`recorder`] hashes and
//! times deliveries, [`stats`] is the `--stats-json` schema, [`http_fetch`] the TCP baseline, [`metrics`] what `--metrics` exports and [`metrics_server`] serves it,
//! [`trickles_fetch`] the UDP driver and [`udp_socket`] its socket, [`progress`] the progress
//! bar, [`via_mirror`] the `--via` packet-mirror path, [`options`] the knobs and [`error`] the
//! failures.

pub mod error;
pub mod http_fetch;
pub mod metrics;
pub mod metrics_server;
pub mod options;
pub mod output;
pub mod progress;
pub mod recorder;
pub mod replicas;
pub mod sink;
pub mod stats;
pub mod trickles_fetch;
pub mod udp_socket;
pub mod url;
pub mod via_mirror;

use std::time::Instant;

pub use error::{ClientError, Result};
pub use metrics::ClientMetrics;
pub use metrics_server::MetricsServer;
pub use options::FetchOptions;
pub use output::OutputFile;
pub use progress::{ProgressBarReporter, ProgressReporter};
pub use sink::{BodySink, DiscardSink, SeekSink, StreamSink};
pub use stats::{ParallelReport, ParallelTotals, TransferStats};
pub use url::{Host, Scheme, TargetUrl};

use recorder::TransferRecorder;

/// Fetches `url` into `sink`; returns the transfer's statistics once the whole body is there.
pub fn fetch(
    url: &TargetUrl,
    opts: &FetchOptions,
    sink: impl BodySink + 'static,
) -> Result<TransferStats> {
    let mut report = fetch_parallel(url, opts, vec![Box::new(sink)])?;
    report.transfers.pop().ok_or_else(|| ClientError::Protocol {
        url: url.to_string(),
        reason: "the transfer produced no statistics".to_owned(),
    })
}

/// Fetches `url` once per sink, all transfers concurrently; fails with the first transfer's
/// error (by index) if any transfer fails, after all have ended.
pub fn fetch_parallel(
    url: &TargetUrl,
    opts: &FetchOptions,
    sinks: Vec<Box<dyn BodySink>>,
) -> Result<ParallelReport> {
    let started = Instant::now();
    let addrs = if opts.servers.is_empty() {
        url.resolve()?
    } else {
        opts.servers.clone()
    };
    let count = sinks.len();
    let runtime = build_runtime(url.scheme, count).map_err(ClientError::Socket)?;
    let recorders: Vec<TransferRecorder> = sinks
        .into_iter()
        .map(|sink| {
            TransferRecorder::new(sink, opts.progress.clone()).with_metrics(opts.metrics.as_ref())
        })
        .collect();
    let outcomes = runtime.block_on(async {
        match url.scheme {
            Scheme::Http => fetch_http_tasks(url, &addrs, opts, recorders).await,
            Scheme::Trickles => trickles_fetch::fetch_trickles(url, &addrs, opts, recorders).await,
        }
    });
    if let Some(progress) = &opts.progress {
        progress.finish();
    }
    let transfers = outcomes.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(ParallelReport::new(
        url.to_string(),
        url.scheme.name().to_owned(),
        transfers,
        started.elapsed().as_secs_f64(),
    ))
}

/// One tokio task per HTTP transfer; results in transfer order.
async fn fetch_http_tasks(
    url: &TargetUrl,
    addrs: &[std::net::SocketAddr],
    opts: &FetchOptions,
    recorders: Vec<TransferRecorder>,
) -> Vec<Result<TransferStats>> {
    let handles: Vec<_> = recorders
        .into_iter()
        .map(|recorder| {
            let (url, addrs, opts) = (url.clone(), addrs.to_vec(), opts.clone());
            tokio::spawn(async move { http_fetch::fetch_http(&url, &addrs, &opts, recorder).await })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(handles.len());
    for handle in handles {
        outcomes.push(handle.await.unwrap_or_else(|join_error| {
            Err(ClientError::Protocol {
                url: url.to_string(),
                reason: format!("transfer task failed: {join_error}"),
            })
        }));
    }
    outcomes
}

/// A single-threaded runtime for one transfer or for the Trickles driver (one socket, one
/// loop); worker threads for parallel HTTP transfers.
fn build_runtime(scheme: Scheme, transfers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if scheme == Scheme::Trickles || transfers <= 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(transfers.min(cores))
        .enable_all()
        .build()
}
