//! Test fixtures of the client's integration tests: a tiny hyper HTTP/1.1 server with
//! `Range: bytes=N-` support and scripted connection cuts, a silent TCP listener (for
//! timeouts) and deterministic bodies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use hyper::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

/// `len` deterministic, non-repeating-looking bytes (a xorshift stream).
pub fn test_body(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// How the test server misbehaves.
#[derive(Clone, Debug, Default)]
pub struct ServerScript {
    /// The first `cuts.len()` responses are cut (connection dropped) after this many body bytes.
    pub cuts: Vec<usize>,
    /// Answer range requests with the whole body (200), as servers without range support do.
    pub ignore_range: bool,
}

/// A hyper HTTP/1.1 server on its own thread and runtime, serving fixed bodies by path.
pub struct HttpTestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    ranges: Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpTestServer {
    /// Serves `files` on `bind` (port 0 picks one) following `script`.
    pub fn start(bind: &str, files: HashMap<String, Vec<u8>>, script: ServerScript) -> Self {
        let listener = TcpListener::bind(bind).expect("bind test server");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = Arc::new(State {
            files: files
                .into_iter()
                .map(|(k, v)| (k, Bytes::from(v)))
                .collect(),
            script,
            requests: requests.clone(),
            ranges: ranges.clone(),
        });
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = state.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(state.answer(req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        HttpTestServer {
            addr,
            requests,
            ranges,
        }
    }

    /// `http://ADDR/path` (IPv6 bracketed).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The `Range` headers it received, in order.
    pub fn ranges(&self) -> Vec<String> {
        self.ranges.lock().expect("lock").clone()
    }
}

struct State {
    files: HashMap<String, Bytes>,
    script: ServerScript,
    requests: Arc<AtomicUsize>,
    ranges: Arc<std::sync::Mutex<Vec<String>>>,
}

impl State {
    fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<CutBody> {
        let index = self.requests.fetch_add(1, Ordering::SeqCst);
        let Some(body) = self.files.get(req.uri().path()).cloned() else {
            let mut response =
                Response::new(CutBody::new(Bytes::from_static(b"no such file\n"), None));
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        };
        let cut = self.script.cuts.get(index).copied();
        let range_start = req
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .inspect(|v| self.ranges.lock().expect("lock").push((*v).to_owned()))
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.strip_suffix('-'))
            .and_then(|v| v.parse::<usize>().ok());
        let total = body.len();
        match range_start {
            Some(start) if !self.script.ignore_range && start < total => Response::builder()
                .status(StatusCode::PARTIAL_CONTENT)
                .header(CONTENT_LENGTH, total - start)
                .header(
                    CONTENT_RANGE,
                    format!("bytes {start}-{}/{total}", total - 1),
                )
                .body(CutBody::new(body.slice(start..), cut))
                .expect("response"),
            _ => Response::builder()
                .header(CONTENT_LENGTH, total)
                .body(CutBody::new(body, cut))
                .expect("response"),
        }
    }
}

/// A body sent in 16 KiB frames that fails (so hyper drops the connection) after `cut` bytes.
pub struct CutBody {
    rest: Bytes,
    cut_after: Option<usize>,
}

impl CutBody {
    fn new(rest: Bytes, cut_after: Option<usize>) -> Self {
        CutBody { rest, cut_after }
    }
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let mut len = self.rest.len().min(16 * 1024);
        if let Some(cut) = self.cut_after {
            if cut == 0 {
                return Poll::Ready(Some(Err(std::io::Error::other("scripted cut"))));
            }
            len = len.min(cut);
            self.cut_after = Some(cut - len);
        }
        let chunk = self.rest.split_to(len);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

/// A TCP listener that accepts connections and never says anything.
pub fn silent_tcp_listener(bind: &str) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind(bind).expect("bind silent listener");
    let addr = listener.local_addr().expect("local addr");
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
    });
    (addr, handle)
}

/// A UDP socket that receives and never answers (kept open while the handle lives).
pub fn silent_udp_socket(bind: &str) -> std::net::UdpSocket {
    std::net::UdpSocket::bind(bind).expect("bind silent udp socket")
}
