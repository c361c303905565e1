//! The HTTP/1.1 baseline over TCP (`--tcp-listen`): the same files from the same root with the
//! same path rules as the Trickles application, so every experiment compares Trickles and kernel
//! TCP serving identical content from one process.
//!
//! `GET` and `HEAD` only. The URL path is percent-decoded and then checked by
//! [`crate::static_files::request_path`]. Files are streamed in [`CHUNK_LEN`] pieces read with
//! positioned reads on a blocking thread (never buffered whole), and a single `Range` is honoured
//! ([`crate::http_range`]) so an interrupted download resumes with `Range: bytes=N-`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use hyper::{Method, Request, Response, StatusCode};
use prometheus::IntCounter;
use tokio::task::JoinHandle;

use crate::http_listener::{Handler, HttpBody};
use crate::http_range::{self, RangeAnswer};
use crate::static_files::{OpenFile, StaticFiles};
use trickles::app::AppError;

/// Bytes read from the file per body frame.
pub const CHUNK_LEN: usize = 128 * 1024;

/// Counters of the HTTP baseline (registered in [`crate::metrics::ServerMetrics`]).
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    /// `trickles_server_http_requests_total`: HTTP requests answered by the baseline.
    pub requests: IntCounter,
}

impl HttpMetrics {
    /// Fresh, unregistered counters.
    pub fn new() -> prometheus::Result<Self> {
        Ok(HttpMetrics {
            requests: IntCounter::new(
                "trickles_server_http_requests_total",
                "HTTP requests answered by the HTTP/TCP baseline",
            )?,
        })
    }

    /// Register every counter in `registry`.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))
    }
}

/// The request handler of the baseline, for [`crate::http_listener::serve`].
pub fn handler(files: Arc<StaticFiles>, metrics: HttpMetrics) -> Handler {
    Arc::new(move |request| respond(&files, &metrics, &request))
}

/// The response to one request (no I/O happens here apart from opening the file).
pub fn respond<B>(
    files: &StaticFiles,
    metrics: &HttpMetrics,
    request: &Request<B>,
) -> Response<HttpBody> {
    metrics.requests.inc();
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
    let Some(path) = percent_decode(request.uri().path()) else {
        return text(StatusCode::BAD_REQUEST, "bad percent-encoding\n");
    };
    let file = match files.open_file(&path) {
        Ok(file) => file,
        Err(e) => return app_error(e),
    };
    let length = file.length();
    let (status, start, end) = match byte_range(request, length) {
        Ok(range) => range,
        Err(response) => return *response,
    };
    let body = if head_only {
        Empty::new().map_err(|never| match never {}).boxed()
    } else {
        FileBody::new(file, start, end).boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    insert(&mut response, CONTENT_LENGTH, (end - start).to_string());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
        .headers_mut()
        .insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        insert(
            &mut response,
            CONTENT_RANGE,
            format!("bytes {start}-{}/{length}", end - 1),
        );
    }
    response
}

/// The HTTP answer to an application error.
pub(crate) fn app_error(e: AppError) -> Response<HttpBody> {
    match e {
        AppError::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
        AppError::BadRequest(why) => text(StatusCode::BAD_REQUEST, &format!("{why}\n")),
        e => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}

/// The status and half-open byte range to serve of a body of `length` bytes, from the request's
/// `Range` header; the 416 response when the range cannot be satisfied.
pub(crate) fn byte_range<B>(
    request: &hyper::Request<B>,
    length: u64,
) -> Result<(StatusCode, u64, u64), Box<Response<HttpBody>>> {
    let range_header = request.headers().get(RANGE).and_then(|v| v.to_str().ok());
    match http_range::answer(range_header, length) {
        RangeAnswer::Whole => Ok((StatusCode::OK, 0, length)),
        RangeAnswer::Partial { start, last } => Ok((StatusCode::PARTIAL_CONTENT, start, last + 1)),
        RangeAnswer::Unsatisfiable => {
            let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            insert(&mut response, CONTENT_RANGE, format!("bytes */{length}"));
            Err(Box::new(response))
        }
    }
}

/// Set header `name` to `value`, skipping values that are not valid header text.
pub(crate) fn insert(
    response: &mut Response<HttpBody>,
    name: hyper::header::HeaderName,
    value: String,
) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

/// A plain-text response with `status`.
pub(crate) fn text(status: StatusCode, message: &str) -> Response<HttpBody> {
    let body = Full::new(Bytes::copy_from_slice(message.as_bytes()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Decode `%XX` escapes; `None` if an escape is malformed.
pub fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some(decoded)
}

/// A response body streaming bytes `next..end` of a file, one chunk at a time, each read on
/// tokio's blocking pool.
struct FileBody {
    file: Arc<OpenFile>,
    next: u64,
    end: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    fn new(file: Arc<OpenFile>, start: u64, end: u64) -> Self {
        FileBody {
            file,
            next: start,
            end,
            pending: None,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.next >= this.end && this.pending.is_none() {
            return Poll::Ready(None);
        }
        let pending = this.pending.get_or_insert_with(|| {
            let file = this.file.clone();
            let offset = this.next;
            let len = usize::try_from(this.end - this.next).map_or(CHUNK_LEN, |n| n.min(CHUNK_LEN));
            tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; len];
                let read = file.read_at(offset, &mut buf)?;
                if read < len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    ));
                }
                Ok(Bytes::from(buf))
            })
        });
        let joined = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(joined) => joined,
        };
        this.pending = None;
        match joined {
            Ok(Ok(chunk)) => {
                this.next += chunk.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Ok(Err(e)) => {
                this.next = this.end;
                Poll::Ready(Some(Err(e)))
            }
            Err(join_error) => {
                this.next = this.end;
                Poll::Ready(Some(Err(io::Error::other(join_error))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.next >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end.saturating_sub(self.next))
    }
}
