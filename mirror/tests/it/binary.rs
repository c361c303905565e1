//! The `trickles-mirror` executable: it refuses a bad configuration with file, line and
//! reason; it mirrors, serves `/metrics` and `/healthz`, applies a reloaded configuration,
//! keeps the old one when the new file is bad, and stops on SIGTERM.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use trickles_mirror::MirrorRoute;
use trickles_netfn::http_get;
use trickles_testkit::ChildProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_trickles-mirror");

fn config(client: SocketAddr, server: SocketAddr, delay_ms: u32) -> String {
    format!(
        "listen: [\"127.0.0.1:0\"]\n\
         metrics: 127.0.0.1:0\n\
         peers:\n\
         \x20 - name: client\n\
         \x20   addresses: [\"{client}\"]\n\
         \x20   side: client\n\
         \x20 - name: server\n\
         \x20   addresses: [\"{server}\"]\n\
         \x20   side: server\n\
         wan:\n\
         \x20 both: {{ delay_ms: {delay_ms} }}\n"
    )
}

/// A running mirror process (killed on drop) and the addresses it announced.
struct MirrorProcess {
    child: ChildProcess,
    udp: SocketAddr,
    metrics: SocketAddr,
}

impl MirrorProcess {
    /// Starts the mirror on `config`, logging next to it.
    fn start(config: &Path) -> Self {
        let mut command = Command::new(BINARY);
        command
            .arg("--config")
            .arg(config)
            .args(["--watch-ms", "50"]);
        let log = config.with_extension("log");
        let mut child = ChildProcess::spawn("trickles-mirror", command, &log).expect("spawn");
        let mut address = |prefix: &str| -> SocketAddr {
            let rest = child
                .wait_for_log_line(prefix, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("the mirror announces its addresses: {e}"));
            rest.parse()
                .unwrap_or_else(|e| panic!("`{prefix}{rest}`: {e}"))
        };
        let udp = address("trickles-mirror: listening on ");
        let metrics = address("trickles-mirror: metrics on ");
        MirrorProcess {
            child,
            udp,
            metrics,
        }
    }

    /// The metrics text once it contains `wanted` (counts are added after each batch is
    /// sent, so a datagram can arrive a moment before it is counted).
    fn metrics_containing(&self, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.metrics_text();
            if text.contains(wanted) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn metrics_text(&self) -> String {
        let response = http_get(self.metrics, "/metrics", Duration::from_secs(2)).expect("GET");
        assert_eq!(response.status, 200);
        response.body
    }
}

fn bind() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    socket
}

/// Send one datagram from `client` through the mirror to `server`; return its one-way time,
/// or `None` if it did not arrive.
fn one_way(client: &UdpSocket, server: &UdpSocket, mirror: SocketAddr) -> Option<Duration> {
    let route = MirrorRoute::new(mirror);
    let to = server.local_addr().expect("addr");
    let started = Instant::now();
    client
        .send_to(&route.wrap(to, b"through", 0), mirror)
        .expect("send");
    let mut buf = [0u8; 256];
    let (n, from) = server.recv_from(&mut buf).ok()?;
    let (sender, inner) = route
        .unwrap(from, &buf[..n])
        .expect("delivered by the mirror");
    assert_eq!(sender, client.local_addr().expect("addr"));
    assert_eq!(inner, b"through");
    Some(started.elapsed())
}

#[test]
fn bad_configuration_is_refused_with_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mirror.yaml");
    let text = config(
        "127.0.0.1:1".parse().expect("addr"),
        "127.0.0.1:2".parse().expect("addr"),
        5,
    )
    .replace("delay_ms: 5", "delay_ms: -5");
    std::fs::write(&path, text).expect("write");
    let output = Command::new(BINARY)
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("trickles-mirror: {}:11:", path.display());
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("not a duration"), "{stderr}");
}

#[test]
fn running_mirror_forwards_reports_and_reloads() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mirror.yaml");
    let (client, server) = (bind(), bind());
    let (client_addr, server_addr) = (
        client.local_addr().expect("addr"),
        server.local_addr().expect("addr"),
    );
    std::fs::write(&path, config(client_addr, server_addr, 30)).expect("write");
    let mirror = MirrorProcess::start(&path);

    let took = one_way(&client, &server, mirror.udp).expect("forwarded");
    assert!(took >= Duration::from_millis(30), "{took:?}");
    let health = http_get(mirror.metrics, "/healthz", Duration::from_secs(2)).expect("GET");
    assert_eq!(health.status, 200);
    let forwarded = "trickles_mirror_forwarded_packets_total{peer=\"client\"} 1";
    let text = mirror.metrics_containing(forwarded);
    assert!(text.contains(forwarded), "{text}");

    // A bad file is logged and ignored: the mirror keeps its rules.
    std::fs::write(&path, "peers: [oops\n").expect("write");
    std::thread::sleep(Duration::from_millis(300));
    assert!(one_way(&client, &server, mirror.udp).is_some());
    let failed_reload = "trickles_mirror_config_reloads_total{result=\"error\"}";
    assert!(mirror
        .metrics_containing(failed_reload)
        .contains(failed_reload));

    // A good file is applied: no more delay.
    std::fs::write(&path, config(client_addr, server_addr, 0)).expect("write");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let took = one_way(&client, &server, mirror.udp).expect("forwarded");
        if took < Duration::from_millis(20) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new configuration never applied"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_the_mirror() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mirror.yaml");
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    std::fs::write(&path, config(addr, addr, 0)).expect("write");
    let mut mirror = MirrorProcess::start(&path);
    mirror
        .child
        .terminate(Duration::from_secs(5))
        .expect("stops");
    let status = mirror.child.exit_status().expect("reaped");
    assert!(
        status.success(),
        "{status:?}: still running after SIGTERM, or failed"
    );
}
