//! The one HTTP/1.1 accept loop of the binary, shared by the HTTP/TCP baseline and the metrics
//! endpoint: accept on a tokio listener, serve each connection with hyper on its own task, stop
//! accepting when the shutdown signal turns true.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = handler(request);
                async move { Ok::<_, Infallible>(response) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(listener = what, %peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Bind a TCP listener, naming the address in the error.
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, crate::error::ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| crate::error::ServerError::Bind { addr, source })
}
