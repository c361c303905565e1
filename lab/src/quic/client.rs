//! `trickles-lab quic-get`: fetches one file from `quic-serve` over one stream, hashes the body
//! with SHA-256, optionally writes it to `--output`, and writes a `--stats-json` document in
//! `trickles-client`'s format (protocol `"quic"`; `retransmissions` is quinn's count of lost
//! packets). Goodput is measured as the client does: from before connecting to the last byte.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{LabError, Result};
use crate::service::client::TransferStats;

/// Settings of `quic-get`.
#[derive(Clone, Debug)]
pub struct GetOptions {
    /// The server's address.
    pub server: SocketAddr,
    /// The server's certificate (DER), the only one trusted.
    pub cert: PathBuf,
    /// The file's name.
    pub path: String,
    /// Where the body goes; `None` discards it (it is hashed either way).
    pub output: Option<PathBuf>,
    /// Give up after this long without a new byte.
    pub idle_timeout: Duration,
    /// Where the statistics go (JSON), if anywhere.
    pub stats_json: Option<PathBuf>,
}

/// Runs one transfer, writes its statistics to `--stats-json` and returns them.
pub fn get(opts: &GetOptions) -> Result<TransferStats> {
    let stats = super::runtime()?.block_on(get_async(opts))?;
    if let Some(path) = &opts.stats_json {
        let text = serde_json::to_string_pretty(&stats).map_err(|e| LabError::Stats {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|e| LabError::io(path, e))?;
    }
    Ok(stats)
}

async fn get_async(opts: &GetOptions) -> Result<TransferStats> {
    let cert = std::fs::read(&opts.cert).map_err(|e| LabError::io(&opts.cert, e))?;
    let config = super::tls::client_config(&cert)?;
    let mut output = match &opts.output {
        Some(path) => Some((
            std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| LabError::io(path, e))?,
            ),
            path,
        )),
        None => None,
    };
    let url = format!("quic://{}/{}", opts.server, opts.path);
    let start = Instant::now();
    let bind = match opts.server.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let endpoint = quinn::Endpoint::client(SocketAddr::new(bind, 0))
        .map_err(|e| LabError::quic("binding the client's socket", e))?;
    let connecting = endpoint
        .connect_with(config, opts.server, super::SERVER_NAME)
        .map_err(|e| LabError::quic(format!("connecting to {}", opts.server), e))?;
    let connection = within(opts.idle_timeout, "the handshake", connecting)
        .await?
        .map_err(|e| LabError::quic(format!("connecting to {}", opts.server), e))?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| LabError::quic("opening a stream", e))?;
    send.write_all(opts.path.as_bytes())
        .await
        .map_err(|e| LabError::quic("sending the request", e))?;
    send.finish()
        .map_err(|e| LabError::quic("finishing the request", e))?;

    let mut hasher = Sha256::new();
    let (mut bytes, mut first_byte, mut last, mut longest_stall) = (0u64, None, start, 0f64);
    loop {
        let chunk = within(
            opts.idle_timeout,
            "the body",
            recv.read_chunk(usize::MAX, true),
        )
        .await?
        .map_err(|e| match e {
            quinn::ReadError::Reset(code) => {
                LabError::quic(&url, format!("the server refused (reset, code {code})"))
            }
            other => LabError::quic(format!("reading {url}"), other),
        })?;
        let Some(chunk) = chunk else { break };
        let now = Instant::now();
        match first_byte {
            None => first_byte = Some(now - start),
            Some(_) => longest_stall = longest_stall.max((now - last).as_secs_f64()),
        }
        last = now;
        hasher.update(&chunk.bytes);
        bytes += chunk.bytes.len() as u64;
        if let Some((out, path)) = output.as_mut() {
            out.write_all(&chunk.bytes)
                .map_err(|e| LabError::io(&**path, e))?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some((out, path)) = output.as_mut() {
        out.flush().map_err(|e| LabError::io(&**path, e))?;
    }
    let lost_packets = connection.stats().path.lost_packets;
    connection.close(quinn::VarInt::from_u32(0), b"done");
    endpoint.wait_idle().await;
    Ok(TransferStats {
        url,
        protocol: "quic".to_owned(),
        bytes,
        seconds,
        goodput_mbps: if seconds > 0.0 {
            bytes as f64 * 8.0 / seconds / 1e6
        } else {
            0.0
        },
        retransmissions: lost_packets,
        longest_stall_ms: longest_stall * 1e3,
        first_byte_ms: first_byte.unwrap_or_default().as_secs_f64() * 1e3,
        reconnects: 0,
        unreachables: 0,
        replica_moves: 0,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// `future`, or a timeout error naming `what` after `limit`.
async fn within<T>(
    limit: Duration,
    what: &str,
    future: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| LabError::timeout(format!("quic-get: {what}"), limit))
}
