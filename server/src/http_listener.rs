//! The one HTTP/1.1 accept loop of the binary, shared by the HTTP/TCP baseline and the metrics
//! endpoint: accept on a tokio listener, serve each connection with hyper on its own task. When
//! the shutdown signal turns true it stops accepting, lets responses in flight finish for up to
//! [`DRAIN_TIMEOUT`], then drops what is left.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a shutdown waits for responses in flight.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The response body type of every handler.
pub type HttpBody = BoxBody<Bytes, io::Error>;

/// A request handler: synchronous, because both handlers only look things up; a streamed body
/// does its I/O later, when hyper polls it.
pub type Handler = Arc<dyn Fn(Request<Incoming>) -> Response<HttpBody> + Send + Sync>;

/// Serve `handler` on `listener` until `shutdown` turns true. `what` names the listener in logs.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
) {
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
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            // Handlers that need the client's address (the watermark) find it here.
            request.extensions_mut().insert(peer);
            let response = handler(request);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = graceful.watch(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
        );
        tokio::spawn(async move {
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
