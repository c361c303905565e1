//! The kernel-TCP baseline: HTTP/1.1 GET with hyper's client connection API.
//!
//! We connect ourselves (to the addresses the URL resolved to, in order) and speak HTTP/1.1 on
//! that one connection, so connection errors are ours to see: with `http_range_resume` a broken
//! connection (refused, reset, closed mid-body) is reopened after a short backoff and the
//! transfer continues with `Range: bytes=N-`, N being the bytes already delivered. That is
//! the "TCP client modified to reconnect" of the failover experiment. A server that ignores the
//! range and answers 200 is handled too: the first N bytes of its answer are skipped.
//!
//! The idle timeout covers everything: connecting, waiting for the response head, each body
//! chunk and the pauses between reconnections. It is measured from the last delivered byte.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, HOST, RANGE, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{ClientError, Result};
use crate::metrics::TransportTotals;
use crate::options::FetchOptions;
use crate::recorder::TransferRecorder;
use crate::stats::TransferStats;
use crate::url::TargetUrl;

/// How one connection attempt ended badly.
enum AttemptError {
    /// The connection broke; resuming may help.
    Broken(String),
    /// Resuming cannot help (not found, bad status, timeout, output error).
    Fatal(ClientError),
}

/// Fetches `url` over HTTP/1.1 into `recorder`, resuming after connection errors if asked to.
pub async fn fetch_http(
    url: &TargetUrl,
    addrs: &[SocketAddr],
    opts: &FetchOptions,
    mut recorder: TransferRecorder,
) -> Result<TransferStats> {
    let mut reconnects = 0u32;
    let mut total_len = None;
    let mut delay = opts.resume_delay;
    loop {
        match fetch_once(url, addrs, opts, &mut recorder, &mut total_len).await {
            Ok(()) => break,
            Err(AttemptError::Fatal(error)) => return Err(error),
            Err(AttemptError::Broken(reason)) => {
                if !opts.http_range_resume || reconnects >= opts.max_resume_attempts {
                    let reason = if reconnects > 0 {
                        format!("{reason} (after {reconnects} reconnections)")
                    } else {
                        reason
                    };
                    return Err(ClientError::Connection {
                        url: url.to_string(),
                        reason,
                    });
                }
                let deadline = recorder.last_progress() + opts.idle_timeout;
                if Instant::now() + delay >= deadline {
                    return Err(timeout(url, opts, recorder.delivered()));
                }
                tracing::debug!(%url, %reason, delivered = recorder.delivered(), "reconnecting");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(opts.max_resume_delay);
                reconnects += 1;
            }
        }
    }
    recorder
        .finish(url, TransportTotals::default(), reconnects)
        .map_err(ClientError::Output)
}

/// One connection: connect, send the (range) request, stream the body into `recorder`.
async fn fetch_once(
    url: &TargetUrl,
    addrs: &[SocketAddr],
    opts: &FetchOptions,
    recorder: &mut TransferRecorder,
    total_len: &mut Option<u64>,
) -> std::result::Result<(), AttemptError> {
    let deadline = |recorder: &TransferRecorder| {
        tokio::time::Instant::from_std(recorder.last_progress() + opts.idle_timeout)
    };
    let fatal_timeout = |received| AttemptError::Fatal(timeout(url, opts, received));

    let stream = tokio::time::timeout_at(deadline(&*recorder), connect_any(addrs))
        .await
        .map_err(|_| fatal_timeout(recorder.delivered()))?
        .map_err(AttemptError::Broken)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| AttemptError::Broken(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "http connection ended");
        }
    });

    let resume_from = recorder.delivered();
    let request = build_request(url, resume_from).map_err(AttemptError::Fatal)?;
    let response = tokio::time::timeout_at(deadline(&*recorder), sender.send_request(request))
        .await
        .map_err(|_| fatal_timeout(recorder.delivered()))?
        .map_err(|e| AttemptError::Broken(e.to_string()))?;

    let status = response.status();
    let mut skip = 0u64;
    let announced_total = match status {
        StatusCode::OK => {
            // Either a first request, or a server that ignored our range: skip what we have.
            skip = resume_from;
            header_u64(response.headers().get(CONTENT_LENGTH))
        }
        StatusCode::PARTIAL_CONTENT if resume_from > 0 => {
            let (start, total) = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(parse_content_range)
                .ok_or_else(|| protocol_error(url, "206 without a usable Content-Range"))?;
            if start != resume_from {
                return Err(protocol_error(
                    url,
                    &format!("asked for bytes from {resume_from}, got a range from {start}"),
                ));
            }
            total
        }
        StatusCode::NOT_FOUND => {
            return Err(AttemptError::Fatal(ClientError::NotFound {
                url: url.to_string(),
            }))
        }
        other => {
            return Err(AttemptError::Fatal(ClientError::HttpStatus {
                url: url.to_string(),
                status: other.as_u16(),
            }))
        }
    };
    if total_len.is_none() {
        if let Some(total) = announced_total {
            *total_len = Some(total);
            recorder.announce_length(total);
        }
    }

    let mut body = response.into_body();
    let stall = opts.http_stall_resume.filter(|_| opts.http_range_resume);
    loop {
        let give_up = deadline(&*recorder);
        let resume = stall.map(|s| tokio::time::Instant::from_std(recorder.last_progress() + s));
        let wait = resume.map_or(give_up, |resume| resume.min(give_up));
        let frame = match tokio::time::timeout_at(wait, body.frame()).await {
            Err(_) if resume.is_some_and(|resume| resume < give_up) => {
                return Err(AttemptError::Broken(format!(
                    "no body byte for {:.1} s",
                    stall.unwrap_or_default().as_secs_f64()
                )));
            }
            Err(_) => return Err(fatal_timeout(recorder.delivered())),
            Ok(None) => break,
            Ok(Some(Err(error))) => return Err(AttemptError::Broken(error.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if skip > 0 {
            let dropped = skip.min(data.len() as u64);
            data = data.slice(dropped as usize..);
            skip -= dropped;
        }
        recorder
            .deliver(Instant::now(), &data)
            .map_err(|e| AttemptError::Fatal(ClientError::Output(e)))?;
    }
    match *total_len {
        Some(total) if recorder.delivered() < total => Err(AttemptError::Broken(format!(
            "connection closed after {} of {total} bytes",
            recorder.delivered()
        ))),
        Some(total) if recorder.delivered() > total => Err(protocol_error(
            url,
            &format!(
                "received {} bytes, more than the announced {total}",
                recorder.delivered()
            ),
        )),
        _ => Ok(()),
    }
}

/// Connects to the first address that accepts.
async fn connect_any(addrs: &[SocketAddr]) -> std::result::Result<TcpStream, String> {
    let mut last_error = String::from("no address to connect to");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Latency over batching, as any HTTP client; failure only costs speed.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) => last_error = format!("{addr}: {error}"),
        }
    }
    Err(last_error)
}

/// `GET path` with Host, User-Agent and, when resuming, `Range: bytes=N-`.
fn build_request(url: &TargetUrl, resume_from: u64) -> Result<Request<Empty<Bytes>>> {
    let invalid = |reason: String| ClientError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let mut builder = Request::get(url.path.as_str())
        .header(HOST, url.authority())
        .header(
            USER_AGENT,
            concat!("trickles-client/", env!("CARGO_PKG_VERSION")),
        );
    if resume_from > 0 {
        builder = builder.header(RANGE, format!("bytes={resume_from}-"));
    }
    builder
        .body(Empty::new())
        .map_err(|e| invalid(e.to_string()))
}

/// `Content-Range: bytes START-END/TOTAL` → (START, TOTAL if known).
fn parse_content_range(value: &HeaderValue) -> Option<(u64, Option<u64>)> {
    let text = value.to_str().ok()?.trim();
    let spec = text.strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

fn header_u64(value: Option<&HeaderValue>) -> Option<u64> {
    value?.to_str().ok()?.trim().parse().ok()
}

fn protocol_error(url: &TargetUrl, reason: &str) -> AttemptError {
    AttemptError::Fatal(ClientError::Protocol {
        url: url.to_string(),
        reason: reason.to_owned(),
    })
}

fn timeout(url: &TargetUrl, opts: &FetchOptions, received: u64) -> ClientError {
    ClientError::Timeout {
        url: url.to_string(),
        seconds: opts.idle_timeout.as_secs_f64(),
        received,
    }
}
