//! Claims about fetching `http://` URLs with the library: byte-exact bodies over IPv4 and
//! IPv6, sane statistics, parallel transfers, clear errors, and range resume after cuts.

use std::collections::HashMap;
use std::io::Cursor;
use std::time::{Duration, Instant};

use crate::support::{sha256_hex, silent_tcp_listener, test_body, HttpTestServer, ServerScript};
use trickles_client::{
    fetch, fetch_parallel, BodySink, ClientError, FetchOptions, SeekSink, TargetUrl,
};

const BODY_LEN: usize = 1_000_003;

fn serve(bind: &str, script: ServerScript) -> (HttpTestServer, Vec<u8>) {
    let body = test_body(BODY_LEN, 7);
    let files = HashMap::from([("/file.bin".to_owned(), body.clone())]);
    (HttpTestServer::start(bind, files, script), body)
}

/// A sink that keeps the body in memory so the test can compare it (tests only).
#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Cursor<Vec<u8>>>>);

impl SharedBuffer {
    fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap().get_ref().clone()
    }
}

impl BodySink for SharedBuffer {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        SeekSink::new(&mut *self.0.lock().unwrap()).write_at(offset, data)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fetch_to_memory(
    url: &str,
    opts: &FetchOptions,
) -> (
    trickles_client::Result<trickles_client::TransferStats>,
    Vec<u8>,
) {
    let sink = SharedBuffer::default();
    let result = fetch(&TargetUrl::parse(url).unwrap(), opts, sink.clone());
    (result, sink.contents())
}

#[test]
fn http_get_over_ipv4_is_byte_exact_with_sane_stats() {
    let (server, body) = serve("127.0.0.1:0", ServerScript::default());
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &FetchOptions::default());
    let stats = result.unwrap();
    assert!(received == body, "body differs");
    assert_eq!(stats.sha256, sha256_hex(&body));
    assert_eq!(stats.bytes, BODY_LEN as u64);
    assert_eq!(stats.protocol, "http");
    assert_eq!(stats.url, server.url("/file.bin"));
    assert_eq!(stats.retransmissions, 0);
    assert_eq!(stats.reconnects, 0);
    assert!(stats.seconds > 0.0 && stats.seconds < 20.0, "{stats:?}");
    let expected_goodput = stats.bytes as f64 * 8.0 / stats.seconds / 1e6;
    assert!(
        (stats.goodput_mbps - expected_goodput).abs() < 1e-6,
        "{stats:?}"
    );
    assert!(stats.longest_stall_ms >= 0.0 && stats.longest_stall_ms <= stats.seconds * 1e3);
    assert!(stats.first_byte_ms <= stats.seconds * 1e3);
}

#[test]
fn http_get_over_ipv6_is_byte_exact() {
    let (server, body) = serve("[::1]:0", ServerScript::default());
    assert!(server.url("/file.bin").starts_with("http://[::1]:"));
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &FetchOptions::default());
    assert_eq!(result.unwrap().sha256, sha256_hex(&body));
    assert!(received == body, "body differs");
}

#[test]
fn missing_file_is_not_found() {
    let (server, _) = serve("127.0.0.1:0", ServerScript::default());
    let (result, _) = fetch_to_memory(&server.url("/nope.bin"), &FetchOptions::default());
    match result {
        Err(error @ ClientError::NotFound { .. }) => {
            assert!(error.to_string().contains("not found"), "{error}");
            assert_eq!(error.exit_code(), 3);
        }
        other => panic!("expected not found, got {other:?}"),
    }
}

#[test]
fn silent_server_times_out_after_the_idle_timeout() {
    let (addr, _listener) = silent_tcp_listener("127.0.0.1:0");
    let opts = FetchOptions {
        idle_timeout: Duration::from_millis(300),
        ..FetchOptions::default()
    };
    let started = Instant::now();
    let (result, _) = fetch_to_memory(&format!("http://{addr}/file.bin"), &opts);
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(ClientError::Timeout { .. })),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn refused_connection_without_resume_is_a_connection_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (result, _) = fetch_to_memory(
        &format!("http://127.0.0.1:{port}/x"),
        &FetchOptions::default(),
    );
    assert!(
        matches!(result, Err(ClientError::Connection { .. })),
        "{result:?}"
    );
}

#[test]
fn cut_connection_without_resume_fails() {
    let script = ServerScript {
        cuts: vec![300_000],
        ..ServerScript::default()
    };
    let (server, _) = serve("127.0.0.1:0", script);
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &FetchOptions::default());
    assert!(
        matches!(result, Err(ClientError::Connection { .. })),
        "{result:?}"
    );
    assert!(received.len() < BODY_LEN);
}

#[test]
fn range_resume_survives_repeated_cuts_byte_exact() {
    let script = ServerScript {
        cuts: vec![300_000, 0, 250_000],
        ..ServerScript::default()
    };
    let (server, body) = serve("[::1]:0", script);
    let opts = FetchOptions {
        http_range_resume: true,
        resume_delay: Duration::from_millis(5),
        ..FetchOptions::default()
    };
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &opts);
    let stats = result.unwrap();
    assert!(received == body, "body differs");
    assert_eq!(stats.sha256, sha256_hex(&body));
    assert_eq!(stats.reconnects, 3);
    // The server may lose buffered bytes when it drops a connection, so the client can have
    // less than was sent: each resume starts at what it *has*, never beyond what was sent.
    let starts: Vec<u64> = server
        .ranges()
        .iter()
        .map(|r| {
            r.strip_prefix("bytes=")
                .unwrap()
                .strip_suffix('-')
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(starts[0] > 0 && starts[0] <= 300_000, "{starts:?}");
    assert!(
        starts[1] == starts[0],
        "nothing was sent in between: {starts:?}"
    );
    assert!(
        starts[2] > starts[1] && starts[2] <= starts[1] + 250_000,
        "{starts:?}"
    );
}

#[test]
fn range_resume_skips_what_it_has_when_the_server_ignores_ranges() {
    let script = ServerScript {
        cuts: vec![400_000],
        ignore_range: true,
    };
    let (server, body) = serve("127.0.0.1:0", script);
    let opts = FetchOptions {
        http_range_resume: true,
        ..FetchOptions::default()
    };
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &opts);
    assert_eq!(result.unwrap().sha256, sha256_hex(&body));
    assert!(received == body, "body differs");
}

#[test]
fn range_resume_gives_up_after_the_attempt_bound() {
    let script = ServerScript {
        cuts: vec![1000; 10],
        ..ServerScript::default()
    };
    let (server, _) = serve("127.0.0.1:0", script);
    let opts = FetchOptions {
        http_range_resume: true,
        max_resume_attempts: 3,
        resume_delay: Duration::from_millis(1),
        ..FetchOptions::default()
    };
    let (result, _) = fetch_to_memory(&server.url("/file.bin"), &opts);
    match result {
        Err(ClientError::Connection { reason, .. }) => {
            assert!(reason.contains("after 3 reconnections"), "{reason}")
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert_eq!(server.requests(), 4);
}

#[test]
fn parallel_http_transfers_each_get_the_whole_body() {
    let (server, body) = serve("127.0.0.1:0", ServerScript::default());
    let sinks: Vec<SharedBuffer> = (0..4).map(|_| SharedBuffer::default()).collect();
    let boxed = sinks
        .iter()
        .map(|s| Box::new(s.clone()) as Box<dyn BodySink>)
        .collect();
    let url = TargetUrl::parse(&server.url("/file.bin")).unwrap();
    let report = fetch_parallel(&url, &FetchOptions::default(), boxed).unwrap();
    assert_eq!(report.parallel, 4);
    assert_eq!(report.transfers.len(), 4);
    assert_eq!(report.totals.bytes, 4 * BODY_LEN as u64);
    for (sink, stats) in sinks.iter().zip(&report.transfers) {
        assert!(sink.contents() == body, "body differs");
        assert_eq!(stats.sha256, sha256_hex(&body));
    }
    assert_eq!(server.requests(), 4);
}
