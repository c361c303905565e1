//! The configuration file: a complete example loads into the rules it says, and every kind of
//! mistake is reported with the file, the line and the reason.

use std::io::Write;

use trickles::time::Duration;
use trickles_mirror::auth::{Reach, Side};
use trickles_mirror::config::MirrorSettings;
use trickles_netfn::config::ConfigSource;

const EXAMPLE: &str = "\
listen: [\"127.0.0.1:7000\", \"[::1]:7000\"]
workers: 2
metrics: 127.0.0.1:9300
seed: 42
peers:
  - name: lab-clients
    addresses: [\"127.0.0.0/8\"]
    side: client
  - name: vip
    addresses: [\"127.0.0.1:4433\"]
    side: server
    reach: any
  - name: laptop
    keys: [{ id: 1, secret: \"000102030405060708090a0b0c0d0e0f\" }]
    side: client
wan:
  both: { delay_ms: 40, loss: 0.01 }
  to_client:
    delay_ms: 20.5
    jitter_ms: 2
    burst_loss: { loss: 0.02, mean_burst: 3 }
    rate_mbit: 100
    bottleneck_packets: 500
delay_queue: { packets: 100, bytes: 100000 }
source_limits: { packets_per_sec: 0, bytes_per_sec: 1000000, byte_burst: 50000 }
";

fn load(text: &str) -> Result<MirrorSettings, String> {
    MirrorSettings::from_source(&ConfigSource::from_text("mirror.yaml", text))
        .map_err(|e| e.to_string())
}

fn error(text: &str) -> String {
    load(text).expect_err("configuration accepted")
}

#[test]
fn example_configuration_loads_into_its_rules() {
    let settings = load(EXAMPLE).expect("valid");
    assert_eq!(settings.listen.len(), 2);
    assert_eq!((settings.workers, settings.seed), (2, Some(42)));
    let rules = settings.rules;
    let peers = rules.peers.peers();
    assert_eq!(peers.len(), 3);
    assert_eq!((peers[1].side, peers[1].reach), (Side::Server, Reach::Any));
    assert_eq!(peers[2].keys[0].id, 1);
    assert_eq!(rules.wan.to_server.delay, Duration::from_millis(40));
    assert_eq!(rules.wan.to_server.loss, 0.01);
    assert_eq!(rules.wan.to_client.delay, Duration(20_500));
    assert_eq!(
        rules.wan.to_client.loss, 0.0,
        "a direction given replaces `both`"
    );
    assert_eq!(rules.wan.to_client.rate_bps, Some(100_000_000));
    assert!(rules.wan.to_client.burst_loss.is_some());
    assert_eq!(rules.delay_queue.packets, 100);
    assert_eq!(rules.guard.packets, None);
    assert_eq!(rules.guard.bytes.map(|r| r.burst), Some(50_000));
}

#[test]
fn value_errors_name_file_line_and_reason() {
    let bad_loss = EXAMPLE.replace("loss: 0.01 }", "loss: 1.5 }");
    let message = error(&bad_loss);
    assert!(message.starts_with("mirror.yaml:17:"), "{message}");
    assert!(message.contains("not a probability"), "{message}");

    let bad_pattern = EXAMPLE.replace("127.0.0.0/8", "127.0.0.1/8");
    let message = error(&bad_pattern);
    assert!(message.starts_with("mirror.yaml:7:"), "{message}");
    assert!(message.contains("host bits"), "{message}");

    let bad_secret = EXAMPLE.replace("0e0f", "0e");
    let message = error(&bad_secret);
    assert!(message.starts_with("mirror.yaml:14:"), "{message}");
    assert!(message.contains("hex digits"), "{message}");

    let typo = EXAMPLE.replace("jitter_ms: 2", "jiter_ms: 2");
    let message = error(&typo);
    assert!(message.starts_with("mirror.yaml:20:"), "{message}");
    assert!(message.contains("jiter_ms"), "{message}");
}

#[test]
fn cross_value_errors_point_at_the_offending_entry() {
    let duplicate = EXAMPLE.replace("name: laptop", "name: vip");
    let message = error(&duplicate);
    assert_eq!(message, "mirror.yaml:13: two peers are named `vip`");

    let burst = EXAMPLE.replace("mean_burst: 3", "mean_burst: 0.5");
    let message = error(&burst);
    assert!(message.starts_with("mirror.yaml:21:"), "{message}");
    assert!(message.contains("mean burst"), "{message}");

    let no_listen = EXAMPLE.replace("listen: [\"127.0.0.1:7000\", \"[::1]:7000\"]", "listen: []");
    assert_eq!(error(&no_listen), "mirror.yaml:1: no listen address");

    let nobody = "listen: [\"127.0.0.1:7000\"]\npeers: []\n";
    assert!(error(nobody).starts_with("mirror.yaml:2: no peers"));

    let zero_burst = EXAMPLE.replace("byte_burst: 50000", "byte_burst: 0");
    assert!(error(&zero_burst).contains("burst of at least 1"));
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let message = MirrorSettings::load(std::path::Path::new("/nonexistent/mirror.yaml"))
        .expect_err("missing file")
        .to_string();
    assert!(message.starts_with("/nonexistent/mirror.yaml"), "{message}");
}

#[test]
fn file_on_disk_loads() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(EXAMPLE.as_bytes()).expect("write");
    assert!(MirrorSettings::load(file.path()).is_ok());
}
