//! The watermarking application over the HTTP/TCP baseline: `GET /wm/<image>?text=...` answers
//! the same bytes a Trickles client receives from the same address, with `Range: bytes=N-`
//! honoured, so both transports are compared on identical content.
//!
//! [`handler`] wraps the baseline's handler: `/wm/` requests are answered here, everything
//! else goes to the static files. The client address is the TCP peer, which the accept loop
//! stores in the request's extensions. Rendering runs on the calling thread, moved out of the
//! async workers' way with `block_in_place` on a multi-threaded runtime.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
};
use hyper::{Method, Request, Response, StatusCode};

use super::{request, Watermark};
use crate::http_baseline::{app_error, byte_range, insert, text, HttpMetrics};
use crate::http_listener::{Handler, HttpBody};

/// `inner` with `/wm/` requests answered by `watermark`.
pub fn handler(inner: Handler, watermark: Arc<Watermark>, metrics: HttpMetrics) -> Handler {
    Arc::new(move |request| {
        let target = request.uri().path().as_bytes();
        if request::is_watermark_request(target) {
            metrics.requests.inc();
            respond(&watermark, &request)
        } else {
            inner(request)
        }
    })
}

/// The response to one `/wm/` request.
pub fn respond<B>(watermark: &Watermark, request: &Request<B>) -> Response<HttpBody> {
    let head_only = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            response
                .headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
    };
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let client = request
        .extensions()
        .get::<SocketAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), SocketAddr::ip);
    let rendered = off_the_async_workers(|| watermark.respond(target.as_bytes(), client));
    let response = match rendered {
        Ok(response) => response,
        Err(e) => return app_error(e),
    };
    let jpeg = &response.image.image.jpeg;
    let length = jpeg.len() as u64;
    let (status, start, end) = match byte_range(request, length) {
        Ok(range) => range,
        Err(response) => return *response,
    };
    let body = if head_only {
        Empty::new().map_err(|never| match never {}).boxed()
    } else {
        // `Bytes::slice` shares the cached buffer: no copy.
        Full::new(jpeg.slice(start as usize..end as usize))
            .map_err(|never| match never {})
            .boxed()
    };
    let mut http = Response::new(body);
    *http.status_mut() = status;
    insert(&mut http, CONTENT_LENGTH, (end - start).to_string());
    insert(
        &mut http,
        ETAG,
        format!("\"{}\"", hex::encode(response.image.image.digest)),
    );
    let headers = http.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
    if status == StatusCode::PARTIAL_CONTENT {
        insert(
            &mut http,
            CONTENT_RANGE,
            format!("bytes {start}-{}/{length}", end - 1),
        );
    }
    http
}

/// Run `work` (which may render for a while) without stalling other tasks of a multi-threaded
/// tokio runtime; elsewhere just run it.
fn off_the_async_workers<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
