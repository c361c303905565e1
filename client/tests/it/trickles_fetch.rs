//! Claims about fetching `trickles://` URLs end to end: the client driver against the core's
//! server endpoint over real UDP sockets on 127.0.0.1 and ::1, including loss, answers from
//! another address, a server restart, parallel transfers sharing one socket, and errors.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{sha256_hex, silent_udp_socket, test_body};
use trickles_client::{
    fetch, fetch_parallel, BodySink, ClientError, FetchOptions, SeekSink, TargetUrl, TransferStats,
};
use trickles_testkit::{memory_app, FaultScript, TestServer};

const BODY_LEN: usize = 1_500_007;

fn serve(bind: &str, script: FaultScript) -> (TestServer, Vec<u8>) {
    let body = test_body(BODY_LEN, 3);
    let app = memory_app([("/file.bin", body.clone())]);
    (TestServer::start(bind, app, script), body)
}

/// Keeps the body in memory so the test can compare it.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Cursor<Vec<u8>>>>);

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

fn fast_options() -> FetchOptions {
    let mut opts = FetchOptions {
        idle_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    };
    // The first HELLO's RTO; min_rto stays at its default, which must not be below the
    // server's `min_restart_age` (100 ms) or slow-start restarts are refused as too early.
    opts.trickles.initial_rto = trickles::time::Duration::from_millis(200);
    opts
}

fn fetch_to_memory(
    url: &str,
    opts: &FetchOptions,
) -> (trickles_client::Result<TransferStats>, Vec<u8>) {
    let sink = SharedBuffer::default();
    let result = fetch(&TargetUrl::parse(url).unwrap(), opts, sink.clone());
    (result, sink.contents())
}

fn assert_exact(stats: &TransferStats, received: &[u8], body: &[u8]) {
    assert_eq!(received.len(), body.len(), "length");
    assert!(received == body, "body differs");
    assert_eq!(stats.sha256, sha256_hex(body));
    assert_eq!(stats.bytes, body.len() as u64);
}

#[test]
fn trickles_get_over_ipv4_is_byte_exact_with_sane_stats() {
    let (server, body) = serve("127.0.0.1:0", FaultScript::default());
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &fast_options());
    let stats = result.unwrap();
    assert_exact(&stats, &received, &body);
    assert_eq!(stats.protocol, "trickles");
    assert_eq!(stats.url, server.url("/file.bin"));
    assert!(stats.seconds > 0.0 && stats.seconds < 20.0, "{stats:?}");
    assert!(stats.goodput_mbps > 0.0, "{stats:?}");
    assert!(stats.longest_stall_ms <= stats.seconds * 1e3, "{stats:?}");
}

#[test]
fn trickles_get_over_ipv6_is_byte_exact() {
    let (server, body) = serve("[::1]:0", FaultScript::default());
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &fast_options());
    assert_exact(&result.unwrap(), &received, &body);
}

#[test]
fn lossy_path_is_recovered_and_counted_as_retransmissions() {
    let script = FaultScript {
        drop_every: Some(37),
        ..FaultScript::default()
    };
    let (server, body) = serve("127.0.0.1:0", script);
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &fast_options());
    let stats = result.unwrap();
    assert_exact(&stats, &received, &body);
    assert!(stats.retransmissions > 0, "{stats:?}");
}

#[test]
fn loss_burst_longer_than_the_sack_gap_is_recovered() {
    let script = FaultScript {
        drop_burst: Some((400, 60)),
        ..FaultScript::default()
    };
    let (server, body) = serve("127.0.0.1:0", script);
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &fast_options());
    assert_exact(&result.unwrap(), &received, &body);
}

/// The body is 1251 packets; the server's 1200th to 1259th datagrams (the stream's tail and
/// the answers to the requests they would have triggered) are lost.
#[test]
fn loss_of_the_stream_tail_is_recovered() {
    let script = FaultScript {
        drop_burst: Some((1200, 60)),
        ..FaultScript::default()
    };
    let (server, body) = serve("127.0.0.1:0", script);
    // Recovery takes a chain of backed-off timeouts today (~6.3 s unloaded: the transport
    // issue's tail-loss probe will shorten it); the idle bound is 5x that, for a loaded machine.
    let opts = FetchOptions {
        idle_timeout: Duration::from_secs(40),
        ..fast_options()
    };
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &opts);
    assert_exact(&result.unwrap(), &received, &body);
}

#[test]
fn answers_from_another_address_are_accepted() {
    let script = FaultScript {
        answer_from_other_socket: true,
        ..FaultScript::default()
    };
    let (server, body) = serve("127.0.0.1:0", script);
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &fast_options());
    assert_exact(&result.unwrap(), &received, &body);
}

#[test]
fn restarted_server_is_only_a_stall() {
    let dead_for = Duration::from_millis(400);
    let script = FaultScript {
        crash_after: Some(300),
        dead_for,
        ..FaultScript::default()
    };
    let (server, body) = serve("127.0.0.1:0", script);
    let (result, received) = fetch_to_memory(&server.url("/file.bin"), &fast_options());
    let stats = result.unwrap();
    assert_exact(&stats, &received, &body);
    assert!(
        stats.longest_stall_ms >= 300.0,
        "the outage shows as a stall: {stats:?}"
    );
}

#[test]
fn parallel_transfers_share_one_socket_and_each_get_the_body() {
    let (server, body) = serve("127.0.0.1:0", FaultScript::default());
    let sinks: Vec<SharedBuffer> = (0..4).map(|_| SharedBuffer::default()).collect();
    let boxed = sinks
        .iter()
        .map(|s| Box::new(s.clone()) as Box<dyn BodySink>)
        .collect();
    let url = TargetUrl::parse(&server.url("/file.bin")).unwrap();
    let report = fetch_parallel(&url, &fast_options(), boxed).unwrap();
    assert_eq!(report.transfers.len(), 4);
    assert_eq!(report.totals.bytes, 4 * BODY_LEN as u64);
    for (sink, stats) in sinks.iter().zip(&report.transfers) {
        assert_exact(stats, &sink.contents(), &body);
    }
    assert_eq!(
        server.sources().len(),
        1,
        "one socket: {:?}",
        server.sources()
    );
}

#[test]
fn refused_request_is_not_found() {
    let (server, _) = serve("[::1]:0", FaultScript::default());
    let (result, _) = fetch_to_memory(&server.url("/missing.bin"), &fast_options());
    match result {
        Err(error @ ClientError::NotFound { .. }) => {
            assert!(error.to_string().contains("not found"))
        }
        other => panic!("expected not found, got {other:?}"),
    }
}

#[test]
fn silent_server_times_out_after_the_idle_timeout() {
    let silent = silent_udp_socket("127.0.0.1:0");
    let url = format!("trickles://{}/file.bin", silent.local_addr().unwrap());
    let opts = FetchOptions {
        idle_timeout: Duration::from_millis(500),
        ..fast_options()
    };
    let started = Instant::now();
    let (result, _) = fetch_to_memory(&url, &opts);
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(ClientError::Timeout { .. })),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let mut probe = [0u8; 2048];
    silent.set_nonblocking(true).unwrap();
    assert!(
        silent.recv_from(&mut probe).is_ok(),
        "the client did send HELLOs"
    );
}

/// A server that dies closes its port, and the port answers "unreachable": the client acts on
/// the ICMP error (counted in its stats) instead of only waiting for its timer, and resumes
/// from the restarted server byte-exact.
fn killed_server_is_heard_of_by_icmp_and_resumed(bind: &str) {
    let body = test_body(BODY_LEN, 3);
    let app = || memory_app([("/file.bin", body.clone())]);
    let mut server = TestServer::start(bind, app(), FaultScript::default());
    let (addr, url, opts) = (server.addr(), server.url("/file.bin"), fast_options());
    let fetching = std::thread::spawn(move || fetch_to_memory(&url, &opts));
    let started = Instant::now();
    while server.handled() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "transfer never got going"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    let _restarted = TestServer::builder(app()).bind(addr).start();
    let (result, received) = fetching.join().expect("client thread");
    let stats = result.expect("the transfer survives the restart");
    assert_exact(&stats, &received, &body);
    assert!(
        stats.unreachables >= 1,
        "the closed port's ICMP errors were acted on: {stats:?}"
    );
}

#[test]
fn killed_server_is_heard_of_by_icmp_and_resumed_over_ipv4() {
    killed_server_is_heard_of_by_icmp_and_resumed("127.0.0.1:0");
}

#[test]
fn killed_server_is_heard_of_by_icmp_and_resumed_over_ipv6() {
    killed_server_is_heard_of_by_icmp_and_resumed("[::1]:0");
}

/// A client given three replicas (`--server` three times) ranks them, uses one, and when that
/// one is killed mid-transfer moves to another at the first "port unreachable", without a
/// timeout, and finishes byte-exact there.
fn killed_replica_is_left_for_the_next(bind: &str) {
    let body = test_body(BODY_LEN, 5);
    let mut replicas: Vec<TestServer> = (0..3)
        .map(|_| {
            let app = memory_app([("/file.bin", body.clone())]);
            TestServer::start(bind, app, FaultScript::default())
        })
        .collect();
    let url = replicas[0].url("/file.bin");
    let mut opts = fast_options();
    opts.servers = replicas.iter().map(TestServer::addr).collect();
    let fetching = std::thread::spawn(move || fetch_to_memory(&url, &opts));
    let started = Instant::now();
    let (serving, before) = loop {
        let handled: Vec<u64> = replicas.iter().map(TestServer::handled).collect();
        if handled.iter().sum::<u64>() >= 200 {
            let most = handled.iter().max().copied().unwrap_or(0);
            break (
                handled.iter().position(|&h| h == most).unwrap_or(0),
                handled,
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "transfer never got going"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    replicas[serving].kill();
    let (result, received) = fetching.join().expect("client thread");
    let stats = result.expect("the transfer survives the replica's death");
    assert_exact(&stats, &received, &body);
    assert!(stats.replica_moves >= 1, "{stats:?}");
    assert!(stats.unreachables >= 1, "moved on ICMP: {stats:?}");
    let served_after: u64 = (0..3)
        .filter(|&i| i != serving)
        .map(|i| replicas[i].handled() - before[i])
        .sum();
    assert!(served_after > 0, "another replica served the rest");
}

#[test]
fn killed_replica_is_left_for_the_next_over_ipv4() {
    killed_replica_is_left_for_the_next("127.0.0.1:0");
}

#[test]
fn killed_replica_is_left_for_the_next_over_ipv6() {
    killed_replica_is_left_for_the_next("[::1]:0");
}
