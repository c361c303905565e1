//! The one HTTP/1.1 accept loop of the binary, shared by the HTTP/TCP baseline and the metrics
//! endpoint: accept on a tokio listener, serve each connection with hyper on its own task. When
//! the shutdown signal turns true it stops accepting, lets responses in flight finish for up to
//! [`DRAIN_TIMEOUT`], then drops what is left. At most [`BASELINE_LIMITS`] connections are
//! served at once (more are closed when accepted), and a request header must arrive within
//! its timeout (netfn's [`trickles_netfn::http_limits`]).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;
use trickles_netfn::http_limits::{ConnectionCap, HttpLimits, HEADER_TIMEOUT};

/// The limits of the HTTP/TCP baseline: enough connections for the experiments' many clients,
/// not enough to exhaust the process's descriptors (1024 by default).
pub const BASELINE_LIMITS: HttpLimits = HttpLimits {
    max_connections: 512,
    header_timeout: HEADER_TIMEOUT,
};

/// How long a shutdown waits for responses in flight.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The response body type of every handler.
pub type HttpBody = BoxBody<Bytes, io::Error>;

/// A request handler: synchronous, because both handlers only look things up; a streamed body
/// does its I/O later, when hyper polls it.
pub type Handler = Arc<dyn Fn(Request<Incoming>) -> Response<HttpBody> + Send + Sync>;

/// Serve `handler` on `listener` until `shutdown` turns true, within [`BASELINE_LIMITS`].
/// `what` names the listener in logs.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    shutdown: watch::Receiver<bool>,
    what: &'static str,
) {
    serve_within(listener, handler, shutdown, what, BASELINE_LIMITS).await;
}

/// [`serve`] within `limits`.
pub async fn serve_within(
    listener: TcpListener,
    handler: Handler,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
    limits: HttpLimits,
) {
    let cap = ConnectionCap::new(limits.max_connections);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(listener = what, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(permit) = cap.admit(what, peer) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            // Handlers that need the client's address (the watermark) find it here.
            request.extensions_mut().insert(peer);
            let response = handler(request);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = graceful.watch(
            limits
                .http1()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
        );
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection.await {
                tracing::debug!(listener = what, %peer, error = %e, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            listener = what,
            "responses still in flight dropped at shutdown"
        );
    }
}

/// Bind a TCP listener, naming the address in the error.
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, crate::error::ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| crate::error::ServerError::Bind { addr, source })
}
