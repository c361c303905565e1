//! End to end with real processes on loopback: the `trickles-balancer` executable in front of
//! three `trickles-server` executables (started with `--balancer VIP`), fetched by the client
//! library. Claims: spraying serves one connection byte-exact from the three processes; a
//! replica process killed with SIGKILL mid-transfer is out of the table (as `/metrics` shows)
//! within one health-check interval and the transfer completes byte-exact; a bad configuration
//! sent with SIGHUP is refused with file and line while the balancer keeps serving.
//!
//! The server executable is built by cargo when out of date (the testkit's `workspace_binary`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{body, sha256, spread_percent};
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl, TransferStats};
use trickles_netfn::http_get;
use trickles_testkit::{free_tcp_addr, free_udp_addr, workspace_binary, ChildProcess};

struct Pool {
    dir: tempfile::TempDir,
    body: Vec<u8>,
    vip: SocketAddr,
    metrics: SocketAddr,
    replicas: Vec<(SocketAddr, ChildProcess)>,
    balancer: ChildProcess,
    config: PathBuf,
}

const INTERVAL_MS: u64 = 200;

fn balancer_yaml(
    vip: SocketAddr,
    metrics: SocketAddr,
    replicas: &[SocketAddr],
    policy: &str,
) -> String {
    let mut text = format!(
        "listen: [\"{vip}\"]\nmetrics: {metrics}\npolicy: {policy}\nhealth:\n  interval_ms: {INTERVAL_MS}\n  timeout_ms: 100\n  rise: 1\n  fall: 2\nbackends:\n"
    );
    for (i, addr) in replicas.iter().enumerate() {
        text.push_str(&format!("  - name: r{i}\n    address: \"{addr}\"\n"));
    }
    text
}

fn start_pool(body_len: usize, policy: &str) -> Pool {
    let server = workspace_binary("trickles-server", "trickles-server").expect("trickles-server");
    let dir = tempfile::tempdir().expect("dir");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).expect("www");
    let body = body(body_len);
    std::fs::write(www.join("object.bin"), &body).expect("object");
    let keys = dir.path().join("keys.yaml");
    let status = Command::new(&server)
        .args(["keygen", "-o"])
        .arg(&keys)
        .stdout(Stdio::null())
        .status()
        .expect("keygen");
    assert!(status.success());

    let vip = free_udp_addr();
    let metrics = free_tcp_addr();
    let replica_addrs: Vec<SocketAddr> = (0..3).map(|_| free_udp_addr()).collect();
    let config = dir.path().join("balancer.yaml");
    std::fs::write(&config, balancer_yaml(vip, metrics, &replica_addrs, policy)).expect("config");
    let replicas = replica_addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let mut command = Command::new(&server);
            command
                .args(["--root"])
                .arg(&www)
                .arg("--key-file")
                .arg(&keys)
                .args(["--listen", &addr.to_string()])
                .args(["--balancer", &vip.to_string()])
                .args(["--workers", "1"]);
            let log = dir.path().join(format!("r{i}.log"));
            let name = format!("trickles-server r{i}");
            (
                *addr,
                ChildProcess::spawn(name, command, &log).expect("spawn"),
            )
        })
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-balancer"));
    command.arg("--config").arg(&config);
    let log = dir.path().join("balancer.log");
    let mut balancer = ChildProcess::spawn("trickles-balancer", command, &log).expect("spawn");
    balancer
        .wait_until(
            "the pool to come up (3 of 3)",
            Duration::from_secs(20),
            || {
                http_get(metrics, "/healthz", Duration::from_secs(1))
                    .is_ok_and(|health| health.body.contains("3 of 3"))
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", balancer.log_text()));
    Pool {
        dir,
        body,
        vip,
        metrics,
        replicas,
        balancer,
        config,
    }
}

fn fetch_from(vip: SocketAddr) -> TransferStats {
    let url = TargetUrl::parse(&format!("trickles://{vip}/object.bin")).expect("url");
    let options = FetchOptions {
        idle_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    };
    fetch(&url, &options, DiscardSink).expect("transfer completes")
}

/// The value of the metric line starting with `prefix` (labels included).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn packets(pool: &Pool, backend: usize, direction: &str) -> u64 {
    let text = http_get(pool.metrics, "/metrics", Duration::from_secs(1))
        .map(|r| r.body)
        .unwrap_or_default();
    metric(
        &text,
        &format!(
            "trickles_balancer_packets_total{{backend=\"r{backend}\",direction=\"{direction}\"}}"
        ),
    )
    .unwrap_or(0.0) as u64
}

#[test]
fn three_server_processes_serve_one_sprayed_connection_byte_exact() {
    let pool = start_pool(4 << 20, "round_robin");
    let stats = fetch_from(pool.vip);
    assert_eq!(stats.sha256, sha256(&pool.body), "byte-exact");
    let requests: Vec<u64> = (0..3).map(|i| packets(&pool, i, "to_backend")).collect();
    let replies: Vec<u64> = (0..3).map(|i| packets(&pool, i, "to_client")).collect();
    println!(
        "real processes, one 4 MiB connection sprayed over 3 trickles-server: requests {requests:?} \
         (spread {:.1} %), data packets {replies:?} (spread {:.1} %), {:.1} Mb/s",
        spread_percent(&requests),
        spread_percent(&replies),
        stats.goodput_mbps
    );
    assert!(spread_percent(&requests) < 5.0, "{requests:?}");
    assert!(spread_percent(&replies) < 25.0, "{replies:?}");
    drop(pool.dir);
}

#[test]
fn a_killed_server_process_leaves_the_table_within_one_interval() {
    let mut pool = start_pool(32 << 20, "maglev");
    let vip = pool.vip;
    let transfer = std::thread::spawn(move || fetch_from(vip));
    let started = Instant::now();
    let serving = loop {
        if let Some(i) = (0..3).find(|&i| packets(&pool, i, "to_client") > 2_000) {
            break i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "transfer never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(!transfer.is_finished(), "killed mid-transfer");
    pool.replicas[serving].1.kill_hard().expect("SIGKILL");
    let killed = Instant::now();
    let line = format!("trickles_balancer_backend_in_table{{backend=\"r{serving}\"}}");
    loop {
        let text = http_get(pool.metrics, "/metrics", Duration::from_secs(1))
            .map(|r| r.body)
            .unwrap_or_default();
        if metric(&text, &line) == Some(0.0) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "never left the table"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let left = killed.elapsed();
    let stats = transfer.join().expect("client");
    println!(
        "trickles-server r{serving} SIGKILLed mid-transfer: out of the table (per /metrics) after \
         {:.0} ms, interval {INTERVAL_MS} ms; transfer byte-exact, longest stall {:.0} ms",
        left.as_secs_f64() * 1e3,
        stats.longest_stall_ms
    );
    assert!(left <= Duration::from_millis(INTERVAL_MS + 60), "{left:?}");
    assert_eq!(
        stats.sha256,
        sha256(&pool.body),
        "byte-exact after failover"
    );
}

#[test]
fn a_bad_configuration_on_sighup_is_refused_and_the_balancer_keeps_serving() {
    let mut pool = start_pool(1 << 20, "maglev");
    let good = std::fs::read_to_string(&pool.config).expect("config");
    std::fs::write(
        &pool.config,
        good.replace("policy: maglev", "policy: magic"),
    )
    .expect("write");
    pool.balancer.signal(libc::SIGHUP).expect("SIGHUP");
    let expected = format!("{}:3:", pool.config.display());
    pool.balancer
        .wait_for_log_text(&expected, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no located error: {e}"));
    let stats = fetch_from(pool.vip);
    assert_eq!(stats.sha256, sha256(&pool.body), "still serving");
}
