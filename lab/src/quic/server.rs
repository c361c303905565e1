//! `trickles-lab quic-serve`: serves one file over QUIC until killed. It makes its certificate,
//! writes it (DER) to `--cert-out`, binds, logs the UDP offloads quinn-udp finds on its socket
//! (`udp offload: GSO up to N segments, GRO up to M segments`), and then logs
//! `listening on ADDR`, the line the lab waits for. Every connection may open streams; each stream names the file and gets its bytes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::tls::SelfSigned;
use crate::error::{LabError, Result};

/// The line the server logs once it accepts connections, followed by its address.
pub const LISTENING: &str = "listening on ";

/// The line the server logs, before [`LISTENING`], saying which UDP offloads its socket has.
pub const OFFLOAD: &str = "udp offload: ";

/// The longest request (a file name) the server reads.
const MAX_REQUEST: usize = 4096;

/// Bytes read from the file per write to the stream.
const CHUNK: usize = 1 << 20;

/// Settings of `quic-serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// UDP address to bind (port 0: any free one; the log says which).
    pub listen: SocketAddr,
    /// The one file served; clients ask for it by its file name.
    pub file: PathBuf,
    /// Where the certificate goes (DER), for the client to trust.
    pub cert_out: PathBuf,
}

/// Serves until the process is killed.
pub fn serve(opts: &ServeOptions) -> Result<()> {
    super::runtime()?.block_on(serve_async(opts))
}

async fn serve_async(opts: &ServeOptions) -> Result<()> {
    let name = file_name(&opts.file)?;
    let identity = SelfSigned::generate()?;
    write_atomically(&opts.cert_out, &identity.cert)?;
    let socket = std::net::UdpSocket::bind(opts.listen)
        .map_err(|e| LabError::quic(format!("binding {}", opts.listen), e))?;
    // What quinn-udp finds this socket can do (quinn probes the same socket the same way).
    let offload = quinn::udp::UdpSocketState::new((&socket).into())
        .map_err(|e| LabError::quic("probing the socket's offloads", e))?;
    println!(
        "{OFFLOAD}GSO up to {} segments, GRO up to {} segments",
        offload.max_gso_segments(),
        offload.gro_segments()
    );
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(identity.server_config()?),
        socket,
        std::sync::Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| LabError::quic(format!("starting the endpoint on {}", opts.listen), e))?;
    let local = endpoint
        .local_addr()
        .map_err(|e| LabError::quic("reading the bound address", e))?;
    println!("{LISTENING}{local}");
    while let Some(incoming) = endpoint.accept().await {
        let (file, name) = (opts.file.clone(), name.clone());
        tokio::spawn(async move {
            if let Err(error) = serve_connection(incoming, file, name).await {
                eprintln!("quic-serve: {error}");
            }
        });
    }
    Ok(())
}

async fn serve_connection(incoming: quinn::Incoming, file: PathBuf, name: String) -> Result<()> {
    let connection = incoming
        .await
        .map_err(|e| LabError::quic("accepting a connection", e))?;
    let peer = connection.remote_address();
    loop {
        let (send, recv) = match connection.accept_bi().await {
            Ok(streams) => streams,
            // The client closes the connection once it has the whole body.
            Err(quinn::ConnectionError::ApplicationClosed(_)) => return Ok(()),
            Err(e) => return Err(LabError::quic(format!("connection from {peer}"), e)),
        };
        let (file, name) = (file.clone(), name.clone());
        tokio::spawn(async move {
            if let Err(error) = serve_stream(send, recv, &file, &name).await {
                eprintln!("quic-serve: stream from {peer}: {error}");
            }
        });
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    file: &Path,
    name: &str,
) -> Result<()> {
    let request = recv
        .read_to_end(MAX_REQUEST)
        .await
        .map_err(|e| LabError::quic("reading the request", e))?;
    if request != name.as_bytes() {
        let _ = send.reset(quinn::VarInt::from_u32(super::NOT_FOUND));
        return Err(LabError::quic(
            "request",
            format!(
                "asked for {:?}, serving only {name:?}",
                String::from_utf8_lossy(&request)
            ),
        ));
    }
    let mut reader = tokio::fs::File::open(file)
        .await
        .map_err(|e| LabError::io(file, e))?;
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = reader
            .read(&mut chunk)
            .await
            .map_err(|e| LabError::io(file, e))?;
        if n == 0 {
            break;
        }
        send.write_all(&chunk[..n])
            .await
            .map_err(|e| LabError::quic("sending the body", e))?;
    }
    send.finish()
        .map_err(|e| LabError::quic("finishing the stream", e))?;
    // Keep the stream until the peer has read it all (or the connection ends).
    let _ = send.stopped().await;
    Ok(())
}

fn file_name(file: &Path) -> Result<String> {
    file.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| LabError::Usage(format!("{}: no UTF-8 file name", file.display())))
}

/// Writes `bytes` to a temporary file beside `path` and renames it, so a reader never sees a
/// partial certificate.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| LabError::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| LabError::io(path, e))
}
