//! Claims about the HTTP/TCP baseline and the metrics endpoint, over real TCP on 127.0.0.1:
//! files arrive byte-exact, `Range: bytes=N-` resumes a transfer, the path rules are the
//! Trickles application's, and `/metrics` and `/healthz` answer.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use tokio::sync::watch;

use trickles_server::http_baseline;
use trickles_server::http_listener;
use trickles_server::metrics::ServerMetrics;
use trickles_server::static_files::StaticFiles;

struct Running {
    http: SocketAddr,
    metrics: SocketAddr,
    body: Vec<u8>,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A root with a 1 MiB file and a secret outside it; the baseline and the metrics endpoint on
/// ephemeral ports.
async fn start() -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("d")).expect("mkdir");
    std::fs::write(dir.path().join("secret"), b"secret").expect("write");
    let body: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(root.join("d/big file.bin"), &body).expect("write");

    let metrics = ServerMetrics::new().expect("metrics");
    let files = Arc::new(StaticFiles::new(&root).expect("root"));
    let (stop, shutdown) = watch::channel(false);
    let localhost: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let http_listener = http_listener::bind(localhost).await.expect("bind http");
    let metrics_listener = http_listener::bind(localhost).await.expect("bind metrics");
    let running = Running {
        http: http_listener.local_addr().expect("addr"),
        metrics: metrics_listener.local_addr().expect("addr"),
        body,
        _stop: stop,
        _dir: dir,
    };
    tokio::spawn(http_listener::serve(
        http_listener,
        http_baseline::handler(files, metrics.http.clone()),
        shutdown.clone(),
        "http",
    ));
    tokio::spawn(http_listener::serve(
        metrics_listener,
        trickles_server::metrics::handler(metrics.registry.clone()),
        shutdown,
        "metrics",
    ));
    running
}

struct Answer {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

async fn fetch(addr: SocketAddr, method: &str, path: &str, range: Option<&str>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "test");
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let request = request.body(Empty::<Bytes>::new()).expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn file_is_served_byte_exact() {
    let server = start().await;
    let answer = fetch(server.http, "GET", "/d/big%20file.bin", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-length"], "1048576");
    assert!(answer.body == server.body, "body differs");
}

#[tokio::test]
async fn open_ended_range_resumes_the_transfer() {
    let server = start().await;
    let answer = fetch(server.http, "GET", "/d/big%20file.bin", Some("bytes=1000-")).await;
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        answer.headers["content-range"],
        "bytes 1000-1048575/1048576"
    );
    assert!(answer.body == server.body[1000..], "ranged body differs");
}

#[tokio::test]
async fn range_past_the_end_is_416() {
    let server = start().await;
    let answer = fetch(
        server.http,
        "GET",
        "/d/big%20file.bin",
        Some("bytes=1048576-"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(answer.headers["content-range"], "bytes */1048576");
}

#[tokio::test]
async fn head_sends_the_length_without_the_body() {
    let server = start().await;
    let answer = fetch(server.http, "HEAD", "/d/big%20file.bin", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-length"], "1048576");
    assert!(answer.body.is_empty());
}

#[tokio::test]
async fn traversal_is_refused_and_missing_file_is_404() {
    let server = start().await;
    for path in ["/%2e%2e/secret", "/d/%2E%2E/%2e%2e/secret", "/d/", "/d"] {
        let answer = fetch(server.http, "GET", path, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
    }
    assert_eq!(
        fetch(server.http, "GET", "/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(server.http, "POST", "/d/big%20file.bin", None)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn metrics_endpoint_exposes_every_server_metric() {
    let server = start().await;
    fetch(server.http, "GET", "/nope", None).await;
    let answer = fetch(server.metrics, "GET", "/metrics", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = String::from_utf8(answer.body).expect("utf-8");
    for name in [
        "trickles_server_packets_received_total",
        "trickles_server_packets_sent_total",
        "trickles_server_bytes_received_total",
        "trickles_server_bytes_sent_total",
        "trickles_server_continuations_verified_total",
        "trickles_server_continuations_rejected_total{reason=\"malformed\"}",
        "trickles_server_continuations_rejected_total{reason=\"mac\"}",
        "trickles_server_hellos_total",
        "trickles_server_http_requests_total 1",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let server = start().await;
    let answer = fetch(server.metrics, "GET", "/healthz", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        fetch(server.metrics, "GET", "/other", None).await.status,
        StatusCode::NOT_FOUND
    );
}

/// True if the server closes `stream` within 10 s (end of stream or reset).
fn closed_by_the_server(stream: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_closes_connections_over_its_cap_and_slow_headers_on_ipv4_and_ipv6() {
    use std::io::Write;
    use std::time::Duration;
    use trickles_netfn::http_limits::HttpLimits;

    let dir = tempfile::tempdir().expect("tempdir");
    let files = Arc::new(StaticFiles::new(dir.path()).expect("root"));
    let metrics = ServerMetrics::new().expect("metrics");
    let (_stop, shutdown) = watch::channel(false);
    let mut ips = vec!["127.0.0.1:0"];
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        ips.push("[::1]:0");
    }
    for ip in ips {
        let listener = http_listener::bind(ip.parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = HttpLimits {
            max_connections: 1,
            header_timeout: Duration::from_millis(300),
        };
        tokio::spawn(http_listener::serve_within(
            listener,
            http_baseline::handler(files.clone(), metrics.http.clone()),
            shutdown.clone(),
            "http",
            limits,
        ));
        let (over_cap, slow_closed) = tokio::task::spawn_blocking(move || {
            let mut slow = std::net::TcpStream::connect(addr).expect("connect");
            slow.write_all(b"GET / HTTP/1.1\r\n")
                .expect("half a header");
            std::thread::sleep(Duration::from_millis(100));
            let mut second = std::net::TcpStream::connect(addr).expect("connect");
            (
                closed_by_the_server(&mut second),
                closed_by_the_server(&mut slow),
            )
        })
        .await
        .expect("join");
        assert!(over_cap, "a connection over the cap was kept on {ip}");
        assert!(slow_closed, "a slow header held the connection on {ip}");
    }
}
