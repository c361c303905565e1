//! The controller's decisions against a fake BIRD control socket: announce and withdraw by
//! enable/disable, both families independently, a missing protocol, a socket that answers
//! garbage, BIRD not up yet, BIRD reconfigured behind the controller's back, drain, metrics.

use std::path::Path;
use std::time::Duration;

use trickles_anycast::config::AnycastConfig;
use trickles_anycast::service::RunningController;
use trickles_anycast::state_file::{Phase, StateFile};
use trickles_netfn::ConfigSource;

use crate::support::{config_text, wait_until, FakeBird, FakeService, Mode};

const LIMIT: Duration = Duration::from_secs(10);

fn announcements(v4_check: &str, v6_check: &str) -> String {
    format!(
        "  - protocol: anycast4\n    family: ipv4\n    prefixes: [198.18.0.10/32]\n    checks: [\"{v4_check}\"]\n  - protocol: anycast6\n    family: ipv6\n    prefixes: [\"2001:2::10/128\"]\n    checks: [\"{v6_check}\"]\n"
    )
}

fn config(dir: &Path, announcements: &str) -> AnycastConfig {
    let text = config_text(
        &dir.join("bird.ctl"),
        &dir.join("state.json"),
        announcements,
    );
    AnycastConfig::from_source(&ConfigSource::from_text(dir.join("anycast.yaml"), text))
        .expect("valid test config")
}

fn announced(controller: &RunningController, prefix: &str) -> i64 {
    controller
        .metrics()
        .prefix_announced
        .with_label_values(&[prefix])
        .get()
}

fn transitions(controller: &RunningController, prefix: &str, cause: &str) -> u64 {
    controller
        .metrics()
        .transitions
        .with_label_values(&[prefix, cause])
        .get()
}

const STATICS: [(&str, &str, bool); 3] = [
    ("anycast4", "Static", false),
    ("anycast6", "Static", false),
    ("uplink4", "BGP", true),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_family_is_announced_and_the_other_withdrawn_independently() {
    let dir = tempfile::tempdir().expect("dir");
    let bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Bird);
    let v4 = FakeService::start("127.0.0.1:0");
    let v6_closed = std::net::UdpSocket::bind("[::1]:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6_closed.to_string()),
    ))
    .await
    .expect("start");
    wait_until("anycast4 enabled", LIMIT, || {
        bird.protocol_state("anycast4").as_deref() == Some("up")
    })
    .await;
    wait_until("the v4 prefix announced", LIMIT, || {
        announced(&controller, "198.18.0.10/32") == 1
    })
    .await;
    assert_eq!(bird.protocol_state("anycast6").as_deref(), Some("down"));
    assert_eq!(announced(&controller, "2001:2::10/128"), 0);
    assert!(
        !bird.commands().iter().any(|c| c == "enable anycast6"),
        "an unhealthy family is never enabled"
    );
    assert_eq!(
        controller
            .metrics()
            .bgp_established
            .with_label_values(&["uplink4"])
            .get(),
        1
    );

    v4.stop();
    wait_until("anycast4 disabled", LIMIT, || {
        bird.protocol_state("anycast4").as_deref() == Some("down")
    })
    .await;
    wait_until("the v4 prefix withdrawn", LIMIT, || {
        announced(&controller, "198.18.0.10/32") == 0
    })
    .await;
    assert_eq!(transitions(&controller, "198.18.0.10/32", "healthy"), 1);
    assert_eq!(transitions(&controller, "198.18.0.10/32", "unhealthy"), 1);
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_missing_from_bird_is_refused_by_name_and_never_enabled() {
    let dir = tempfile::tempdir().expect("dir");
    let bird = FakeBird::start(
        &dir.path().join("bird.ctl"),
        &[("anycast4", "Static", false)],
        Mode::Bird,
    );
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6.addr.to_string()),
    ))
    .await
    .expect("start");
    wait_until("a round with both checks up", LIMIT, || {
        controller
            .status()
            .bird_error
            .is_some_and(|e| e.contains("BIRD has no protocol `anycast6`"))
    })
    .await;
    assert!(
        bird.commands().iter().all(|c| !c.contains("anycast6")),
        "nothing is sent for a missing protocol"
    );
    assert_eq!(announced(&controller, "2001:2::10/128"), 0);
    wait_until("anycast4 still announced", LIMIT, || {
        announced(&controller, "198.18.0.10/32") == 1
    })
    .await;
    assert!(
        controller
            .metrics()
            .bird_errors
            .with_label_values(&["missing_protocol"])
            .get()
            > 0
    );
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_answers_garbage_is_a_clear_error_and_nothing_is_announced() {
    let dir = tempfile::tempdir().expect("dir");
    let bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Garbage);
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6.addr.to_string()),
    ))
    .await
    .expect("start");
    let error = controller.status().bird_error.expect("an error");
    assert!(
        error.contains("answered garbage") && error.contains("HTTP/1.1 400"),
        "{error}"
    );
    assert!(
        bird.commands().is_empty(),
        "no command is sent to a socket that is not BIRD"
    );
    assert_eq!(announced(&controller, "198.18.0.10/32"), 0);
    assert_eq!(controller.metrics().bird_up.get(), 0);
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_before_bird_it_says_so_and_announces_once_bird_is_up() {
    let dir = tempfile::tempdir().expect("dir");
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6.addr.to_string()),
    ))
    .await
    .expect("starts without BIRD");
    let error = controller.status().bird_error.expect("an error");
    assert!(
        error.starts_with("BIRD is not up: cannot connect to"),
        "{error}"
    );
    let bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Bird);
    wait_until("both announced", LIMIT, || {
        announced(&controller, "198.18.0.10/32") == 1
            && announced(&controller, "2001:2::10/128") == 1
    })
    .await;
    assert_eq!(bird.protocol_state("anycast6").as_deref(), Some("up"));
    controller.shutdown().await;
    assert_eq!(
        bird.protocol_state("anycast4").as_deref(),
        Some("down"),
        "a stopping controller withdraws"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_bird_disabled_on_reconfigure_is_enabled_again() {
    let dir = tempfile::tempdir().expect("dir");
    let bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Bird);
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6.addr.to_string()),
    ))
    .await
    .expect("start");
    wait_until("anycast4 enabled", LIMIT, || {
        bird.protocol_state("anycast4").as_deref() == Some("up")
    })
    .await;
    bird.set_state("anycast4", "down");
    controller.recheck();
    wait_until("anycast4 enabled again", LIMIT, || {
        bird.commands()
            .iter()
            .filter(|c| *c == "enable anycast4")
            .count()
            == 2
    })
    .await;
    assert_eq!(bird.protocol_state("anycast4").as_deref(), Some("up"));
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_withdraws_waits_and_reports_safe_to_stop() {
    let dir = tempfile::tempdir().expect("dir");
    let bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Bird);
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6.addr.to_string()),
    ))
    .await
    .expect("start");
    wait_until("both announced", LIMIT, || {
        announced(&controller, "198.18.0.10/32") == 1
            && announced(&controller, "2001:2::10/128") == 1
    })
    .await;
    controller.drain();
    wait_until("both withdrawn", LIMIT, || {
        bird.protocol_state("anycast4").as_deref() == Some("down")
            && bird.protocol_state("anycast6").as_deref() == Some("down")
    })
    .await;
    let state_path = dir.path().join("state.json");
    wait_until("safe to stop", LIMIT, || {
        StateFile::read(&state_path).is_ok_and(|s| s.safe_to_stop)
    })
    .await;
    let state = StateFile::read(&state_path).expect("state");
    assert_eq!(state.state, Phase::Drained);
    assert_eq!(state.announced.values().filter(|on| **on).count(), 0);
    assert_eq!(controller.metrics().safe_to_stop.get(), 1);
    assert_eq!(transitions(&controller, "2001:2::10/128", "drain"), 1);
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_pass_promtool() {
    let Ok(status) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        eprintln!(
            "skipped: promtool not installed (scripts/setup installs the prometheus package)"
        );
        return;
    };
    assert!(status.status.success());
    let dir = tempfile::tempdir().expect("dir");
    let _bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Bird);
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let controller = RunningController::start(config(
        dir.path(),
        &announcements(&v4.addr.to_string(), &v6.addr.to_string()),
    ))
    .await
    .expect("start");
    let addr = controller.metrics_addr().expect("metrics");
    let body = tokio::task::spawn_blocking(move || {
        trickles_netfn::http_get(addr, "/metrics", Duration::from_secs(5))
    })
    .await
    .expect("join")
    .expect("GET /metrics");
    let text = body.body;
    for name in [
        "trickles_anycast_prefix_announced{prefix=\"198.18.0.10/32\"}",
        "trickles_anycast_transitions_total{cause=\"drain\",prefix=\"2001:2::10/128\"}",
        "trickles_anycast_probe_duration_seconds_bucket",
        "trickles_anycast_bird_protocol_up{proto=\"BGP\",protocol=\"uplink4\"}",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    use std::io::Write;
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_whose_bfd_address_bird_has_no_session_for_is_reported_unguarded() {
    let dir = tempfile::tempdir().expect("dir");
    let bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS[..1], Mode::Bird);
    let v4 = FakeService::start("127.0.0.1:0");
    let text = format!(
        "  - protocol: anycast4\n    family: ipv4\n    prefixes: [198.18.0.10/32]\n    bfd_address: 127.0.0.1\n    checks: [\"{}\"]\n",
        v4.addr
    );
    let controller = RunningController::start(config(dir.path(), &text))
        .await
        .expect("start");
    let address: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    wait_until("the warning", LIMIT, || {
        controller.status().unguarded == [address]
    })
    .await;
    let up = || {
        controller
            .metrics()
            .bfd_session_up
            .with_label_values(&["127.0.0.1"])
            .get()
    };
    assert_eq!(up(), 0);
    bird.add_bfd_session("127.0.0.1", "Up");
    controller.recheck();
    wait_until("the session seen", LIMIT, || {
        controller.status().unguarded.is_empty()
    })
    .await;
    assert_eq!(up(), 1);
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_moves_a_prefix_between_configs_moves_its_announced_state() {
    let dir = tempfile::tempdir().expect("dir");
    let _bird = FakeBird::start(&dir.path().join("bird.ctl"), &STATICS, Mode::Bird);
    let v4 = FakeService::start("127.0.0.1:0");
    let v6 = FakeService::start("[::1]:0");
    let first = announcements(&v4.addr.to_string(), &v6.addr.to_string());
    let controller = RunningController::start(config(dir.path(), &first))
        .await
        .expect("start");
    wait_until("announced", LIMIT, || {
        announced(&controller, "198.18.0.10/32") == 1
    })
    .await;
    controller.apply(config(
        dir.path(),
        &first.replace("198.18.0.10/32", "198.18.0.11/32"),
    ));
    wait_until("the new prefix announced", LIMIT, || {
        announced(&controller, "198.18.0.11/32") == 1
    })
    .await;
    assert_eq!(
        announced(&controller, "198.18.0.10/32"),
        0,
        "the prefix that left is withdrawn"
    );
    assert_eq!(
        announced(&controller, "2001:2::10/128"),
        1,
        "the other announcement is untouched"
    );
    controller.shutdown().await;
}
