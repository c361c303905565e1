//! Claims about the watermarking application in running servers, over real sockets on
//! 127.0.0.1: two replicas sharing one key, with the client's packets alternating between them,
//! deliver a megabyte-sized watermarked JPEG byte-exact (the second replica renders it again
//! from the continuation alone); the HTTP/TCP baseline serves the same bytes to the same
//! address and resumes with `Range`; the YAML keys configure the application.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::dir_with_root_and_keys;
use trickles_server::cli::RunArgs;
use trickles_server::service::RunningServer;
use trickles_server::watermark::sample_image;
use trickles_testkit::{fetch_with_core, ClientPath};

/// The request every test makes.
const REQUEST: &str = "/wm/photo.jpg?text=Trickles+replica+test";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Static root, image root with a `width`×`height` grainy picture (at 1600×1200 its
    /// rendering is ~1.3 MB), key file.
    fn new(width: u32, height: u32) -> Self {
        let dir = dir_with_root_and_keys();
        std::fs::create_dir(dir.path().join("images")).expect("mkdir");
        sample_image::write_jpeg(&dir.path().join("images/photo.jpg"), width, height, 48, 7)
            .expect("source image");
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn args(&self) -> RunArgs {
        RunArgs {
            listen: vec!["127.0.0.1:0".parse().expect("addr")],
            tcp_listen: Some("127.0.0.1:0".parse().expect("addr")),
            root: Some(self.path("www")),
            key_file: Some(self.path("keys.yaml")),
            watermark_root: Some(self.path("images")),
            workers: Some(1),
            ..RunArgs::default()
        }
    }
}

/// Fetch `request` with the core's client, sending datagram `i` to `replicas[i % n]`.
fn fetch_alternating(replicas: &[SocketAddr], request: &str) -> Result<Vec<u8>, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let path = ClientPath::Alternating(replicas.to_vec());
    fetch_with_core(
        &socket,
        replicas[0],
        request,
        &path,
        Duration::from_secs(60),
    )
    .into_body()
}

/// A minimal HTTP/1.1 GET: status line, headers (lower-cased names) and body.
fn http_get(
    server: SocketAddr,
    target: &str,
    range: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(server).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: test\r\n{range}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, response[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The decoded image carries near-white text in its darkened bottom band.
fn assert_carries_text(jpeg: &[u8]) {
    let image = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .expect("the transfer decodes as a JPEG")
        .into_rgb8();
    assert_eq!(image.dimensions(), (1600, 1200));
    let white = (1200 - 180..1200)
        .flat_map(|y| (0..1600).map(move |x| (x, y)))
        .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&c| c > 230))
        .count();
    assert!(white > 5_000, "only {white} near-white pixels in the band");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_alternating_packets_deliver_the_image_byte_exact() {
    let fixture = Fixture::new(1600, 1200);
    let first = RunningServer::start(fixture.args())
        .await
        .expect("first replica");
    let second = RunningServer::start(fixture.args())
        .await
        .expect("second replica");
    let replicas = vec![first.udp_addrs()[0], second.udp_addrs()[0]];
    let fetched = tokio::task::spawn_blocking(move || fetch_alternating(&replicas, REQUEST))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("alternating fetch: {e}"));
    eprintln!("alternating transfer: {} bytes", fetched.len());
    assert!(
        (1_000_000..=5_000_000).contains(&fetched.len()),
        "the image is {} bytes",
        fetched.len()
    );
    // Both replicas sent part of it, and each rendered the image once (the second from the
    // continuation alone), as their metrics say.
    for replica in [&first, &second] {
        assert!(replica.metrics().udp.bytes_sent.get() > 100_000);
        let renders = replica
            .metrics()
            .registry
            .gather()
            .iter()
            .find(|f| f.get_name() == "trickles_server_watermark_renders_total")
            .map(|f| f.get_metric()[0].get_counter().get_value());
        assert_eq!(renders, Some(1.0));
    }
    // The HTTP baseline of either replica serves the same bytes to the same address.
    let http = first.tcp_addr().expect("tcp");
    let (status, headers, body) =
        tokio::task::spawn_blocking(move || http_get(http, REQUEST, None))
            .await
            .expect("join");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    assert!(body == fetched, "HTTP and Trickles bytes differ");
    assert_carries_text(&fetched);
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_baseline_resumes_with_range_and_refuses_bad_requests() {
    let fixture = Fixture::new(320, 240);
    std::fs::write(fixture.path("www/plain.txt"), b"plain").expect("write");
    let server = RunningServer::start(fixture.args()).await.expect("start");
    let http = server.tcp_addr().expect("tcp");
    let get = move |target: &'static str, range: Option<&'static str>| {
        tokio::task::spawn_blocking(move || http_get(http, target, range))
    };
    let (status, headers, whole) = get(REQUEST, None).await.expect("join");
    assert_eq!(status, 200);
    let (status, headers_tail, tail) = get(REQUEST, Some("bytes=1000-")).await.expect("join");
    assert_eq!(status, 206);
    assert_eq!(tail, whole[1000..]);
    assert_eq!(
        header(&headers_tail, "content-range"),
        Some(format!("bytes 1000-{}/{}", whole.len() - 1, whole.len()).as_str())
    );
    assert_eq!(header(&headers, "etag"), header(&headers_tail, "etag"));
    assert_eq!(get("/wm/none.jpg", None).await.expect("join").0, 404);
    assert_eq!(
        get("/wm/photo.jpg?text=%0a", None).await.expect("join").0,
        400
    );
    // Other paths still reach the static files.
    let (status, _, plain) = get("/plain.txt", None).await.expect("join");
    assert_eq!((status, plain.as_slice()), (200, &b"plain"[..]));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_keys_configure_the_application_and_a_bad_font_is_refused() {
    let fixture = Fixture::new(320, 240);
    let config = fixture.path("server.yaml");
    std::fs::write(
        &config,
        "root: www\nkey_file: keys.yaml\ntcp_listen: 127.0.0.1:0\n\
         watermark_root: images\nwatermark_cache_mb: 16\n",
    )
    .expect("write");
    let args = RunArgs {
        config: Some(config.clone()),
        ..RunArgs::default()
    };
    let server = RunningServer::start(args.clone()).await.expect("start");
    let watermark = server.settings().watermark.clone().expect("configured");
    assert_eq!(watermark.cache_mb, 16);
    assert_eq!(watermark.root, fixture.path("images"));
    server.shutdown().await;

    std::fs::write(fixture.path("bad.ttf"), b"not a font").expect("write");
    std::fs::write(
        &config,
        "root: www\ntcp_listen: 127.0.0.1:0\nwatermark_root: images\nwatermark_font: bad.ttf\n",
    )
    .expect("write");
    let error = RunningServer::start(args)
        .await
        .err()
        .expect("bad font refused");
    assert!(error.to_string().contains("bad.ttf"), "{error}");
    assert!(Path::new(&fixture.path("bad.ttf")).exists());
}
