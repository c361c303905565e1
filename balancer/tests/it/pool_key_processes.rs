//! The pool key end to end, with real processes on loopback (IPv4 and IPv6): the
//! `trickles-balancer` executable with `pool_key:` in front of two `trickles-server` executables
//! started with `--pool-key` and no `--balancer` list (the tag is the only trust). Claims: a
//! download through them is byte-exact in relay and in direct-return mode, with no tag drop on
//! either side; a reply spoofed from a backend's address without the tag, or with another key's,
//! is counted (`missing_tag`, `bad_tag`), logged with its source and never reaches the client.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{body, sha256};
use trickles_client::{fetch, DiscardSink, FetchOptions, TargetUrl};
use trickles_netfn::encap::EncapRepr;
use trickles_netfn::hop_auth::{self, Direction};
use trickles_netfn::{http_get, AuthKey, PoolKey};
use trickles_testkit::ports::{free_tcp_addr_on, free_udp_addr_on};
use trickles_testkit::{workspace_binary, ChildProcess};

const SECRET: &str = "5b1e0f9a8c7d6e5f4a3b2c1d0e0f1a2b";
const LIMIT: Duration = Duration::from_secs(20);

struct Pool {
    dir: tempfile::TempDir,
    body: Vec<u8>,
    vip: SocketAddr,
    metrics: SocketAddr,
    backends: Vec<SocketAddr>,
    _replicas: Vec<ChildProcess>,
    balancer: ChildProcess,
}

fn write_pool_key(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("id: 7\nsecret: {SECRET}\n")).expect("pool key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A balancer with a pool key in `mode` in front of `replicas` keyed replicas, plus `fake`
/// backend addresses nobody serves (their probes fail; their "replies" are the test's).
fn start_pool(ip: IpAddr, mode: &str, replicas: usize, fake: &[SocketAddr]) -> Pool {
    let server = workspace_binary("trickles-server", "trickles-server").expect("trickles-server");
    let dir = tempfile::tempdir().expect("dir");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).expect("www");
    let body = body(3 << 20);
    std::fs::write(www.join("object.bin"), &body).expect("object");
    let keys = dir.path().join("keys.yaml");
    let status = Command::new(&server)
        .args(["keygen", "-o"])
        .arg(&keys)
        .stdout(Stdio::null())
        .status()
        .expect("keygen");
    assert!(status.success());
    let pool_key = dir.path().join("pool.key");
    write_pool_key(&pool_key);

    let vip = free_udp_addr_on(ip).expect("vip");
    let metrics = free_tcp_addr_on(ip).expect("metrics");
    let mut backends: Vec<SocketAddr> = (0..replicas)
        .map(|_| free_udp_addr_on(ip).expect("replica"))
        .collect();
    let replica_processes = backends
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let mut command = Command::new(&server);
            command
                .env("RUST_LOG", "info")
                .args(["--root"])
                .arg(&www)
                .arg("--key-file")
                .arg(&keys)
                .arg("--pool-key")
                .arg(&pool_key)
                .args(["--listen", &addr.to_string()])
                .args(["--workers", "1"]);
            let log = dir.path().join(format!("r{i}.log"));
            ChildProcess::spawn(format!("trickles-server r{i}"), command, &log).expect("spawn")
        })
        .collect();
    backends.extend_from_slice(fake);
    let mut yaml = format!(
        "listen: [\"{vip}\"]\nmetrics: \"{metrics}\"\nmode: {mode}\npool_key: pool.key\nhealth:\n  interval_ms: 200\n  timeout_ms: 100\n  rise: 1\n  fall: 1\nbackends:\n"
    );
    for (i, addr) in backends.iter().enumerate() {
        yaml.push_str(&format!("  - name: r{i}\n    address: \"{addr}\"\n"));
    }
    let config = dir.path().join("balancer.yaml");
    std::fs::write(&config, yaml).expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-balancer"));
    command.env("RUST_LOG", "info").arg("--config").arg(&config);
    let log = dir.path().join("balancer.log");
    let mut balancer = ChildProcess::spawn("trickles-balancer", command, &log).expect("spawn");
    let up = format!("{replicas} of {}", backends.len());
    balancer
        .wait_until("the keyed replicas to come up", LIMIT, || {
            http_get(metrics, "/healthz", Duration::from_secs(1))
                .is_ok_and(|health| health.body.contains(&up))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", balancer.log_text()));
    assert!(
        balancer.log_text().contains("pool key set"),
        "{}",
        balancer.log_text()
    );
    Pool {
        dir,
        body,
        vip,
        metrics,
        backends,
        _replicas: replica_processes,
        balancer,
    }
}

/// The balancer's `trickles_balancer_drops_total{reason}`.
fn drops(pool: &Pool, reason: &str) -> u64 {
    let text = http_get(pool.metrics, "/metrics", Duration::from_secs(1))
        .map(|r| r.body)
        .unwrap_or_default();
    let prefix = format!("trickles_balancer_drops_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn download_is_byte_exact(ip: IpAddr, mode: &str) {
    let pool = start_pool(ip, mode, 2, &[]);
    let url = TargetUrl::parse(&format!("trickles://{}/object.bin", pool.vip)).expect("url");
    let options = FetchOptions {
        idle_timeout: Duration::from_secs(10),
        ..FetchOptions::default()
    };
    let stats = fetch(&url, &options, DiscardSink)
        .unwrap_or_else(|e| panic!("{e}\n{}", pool.balancer.log_text()));
    assert_eq!(stats.sha256, sha256(&pool.body), "byte-exact");
    for reason in ["missing_tag", "bad_tag", "stale_tag"] {
        assert_eq!(drops(&pool, reason), 0, "{reason}");
    }
    println!(
        "pool key, {mode}, {ip}: 3 MiB byte-exact through the balancer, {:.1} Mb/s",
        stats.goodput_mbps
    );
    drop(pool.dir);
}

#[test]
fn a_download_with_a_pool_key_is_byte_exact_in_relay_mode_over_ipv4() {
    download_is_byte_exact(IpAddr::from([127, 0, 0, 1]), "relay");
}

#[test]
fn a_download_with_a_pool_key_is_byte_exact_in_direct_return_mode_over_ipv4() {
    download_is_byte_exact(IpAddr::from([127, 0, 0, 1]), "direct_return");
}

#[test]
fn a_download_with_a_pool_key_is_byte_exact_in_relay_mode_over_ipv6() {
    let ip = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    if UdpSocket::bind((ip, 0)).is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    download_is_byte_exact(ip, "relay");
}

fn spoofed_replies_are_refused(ip: IpAddr) {
    // A "backend" the test controls: what anyone able to send from its address can send.
    let spoofer = UdpSocket::bind((ip, 0)).expect("bind");
    let client = UdpSocket::bind((ip, 0)).expect("bind");
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let pool = start_pool(ip, "relay", 1, &[spoofer.local_addr().expect("addr")]);
    assert_eq!(pool.backends.len(), 2);
    let to_client = EncapRepr::new(client.local_addr().expect("addr"));
    let untagged = to_client.encapsulate(b"spoofed reply");
    let other_key = PoolKey(AuthKey::from_hex(7, &"11".repeat(16)).expect("key"));
    let mut wrong = vec![0u8; hop_auth::TAGGED_HEADER_MAX];
    let len = hop_auth::sign_header(
        &to_client,
        None,
        pool.vip,
        Direction::ToBalancer,
        &other_key,
        hop_auth::unix_now() as u32,
        &mut wrong,
    )
    .expect("fits");
    wrong.truncate(len);
    wrong.extend_from_slice(b"spoofed reply");

    let deadline = Instant::now() + LIMIT;
    while drops(&pool, "missing_tag") == 0 || drops(&pool, "bad_tag") == 0 {
        assert!(Instant::now() < deadline, "{}", pool.balancer.log_text());
        spoofer.send_to(&untagged, pool.vip).expect("send");
        spoofer.send_to(&wrong, pool.vip).expect("send");
        let mut buf = [0u8; 64];
        assert!(
            client.recv_from(&mut buf).is_err(),
            "a spoofed reply reached the client"
        );
    }
    let log = pool.balancer.log_text();
    let source = spoofer.local_addr().expect("addr");
    assert!(log.contains(&format!("the last from {source}")), "{log}");

    // The same reply tagged with the pool's key is relayed: the tag is what is checked.
    let right_key = PoolKey(AuthKey::from_hex(7, SECRET).expect("key"));
    let mut right = vec![0u8; hop_auth::TAGGED_HEADER_MAX];
    let len = hop_auth::sign_header(
        &to_client,
        None,
        pool.vip,
        Direction::ToBalancer,
        &right_key,
        hop_auth::unix_now() as u32,
        &mut right,
    )
    .expect("fits");
    right.truncate(len);
    right.extend_from_slice(b"tagged reply");
    let mut buf = [0u8; 64];
    let received = loop {
        assert!(Instant::now() < deadline, "the tagged reply never arrived");
        spoofer.send_to(&right, pool.vip).expect("send");
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            break n;
        }
    };
    assert_eq!(&buf[..received], b"tagged reply");
}

#[test]
fn a_reply_without_or_with_a_wrong_tag_is_refused_by_the_balancer_over_ipv4() {
    spoofed_replies_are_refused(IpAddr::from([127, 0, 0, 1]));
}

#[test]
fn a_reply_without_or_with_a_wrong_tag_is_refused_by_the_balancer_over_ipv6() {
    let ip = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    if UdpSocket::bind((ip, 0)).is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    spoofed_replies_are_refused(ip);
}
