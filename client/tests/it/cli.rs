//! Claims about the `trickles-client` binary: files and stats JSON for http:// URLs, one file
//! per `--parallel` transfer, and clear messages with distinct non-zero exit codes on errors.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::{sha256_hex, silent_tcp_listener, test_body, HttpTestServer, ServerScript};
use trickles_testkit::{memory_app, FaultScript, TestServer};

const BODY_LEN: usize = 777_777;

fn serve(bind: &str) -> (HttpTestServer, Vec<u8>) {
    let body = test_body(BODY_LEN, 11);
    let files = HashMap::from([("/dir/file.bin".to_owned(), body.clone())]);
    (
        HttpTestServer::start(bind, files, ServerScript::default()),
        body,
    )
}

fn client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trickles-client"))
        .args(args)
        .output()
        .expect("run trickles-client")
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `trickles-client get URL -o DIR/copy --stats-json DIR/stats.json EXTRA..`, checked to
/// succeed: the directory (the copies are `copy`, or `copy.N` in parallel), the output and the
/// statistics.
fn get_with_stats(url: &str, extra: &[&str]) -> (tempfile::TempDir, Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let (out, stats) = (dir.path().join("copy"), dir.path().join("stats.json"));
    let mut args = vec![
        "get",
        url,
        "-o",
        out.to_str().unwrap(),
        "--stats-json",
        stats.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = client(&args);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let json = read_json(&stats);
    (dir, output, json)
}

#[test]
fn get_writes_the_file_and_a_stats_json_with_every_field() {
    let (server, body) = serve("127.0.0.1:0");
    let url = server.url("/dir/file.bin");
    let (dir, output, json) = get_with_stats(&url, &["--quiet"]);
    let file = std::fs::read(dir.path().join("copy")).unwrap();
    assert!(file == body, "file differs");
    assert_eq!(json["url"], url.as_str());
    assert_eq!(json["protocol"], "http");
    assert_eq!(json["bytes"], BODY_LEN as u64);
    assert_eq!(json["sha256"], sha256_hex(&body).as_str());
    assert_eq!(json["retransmissions"], 0);
    let seconds = json["seconds"].as_f64().unwrap();
    assert!(seconds > 0.0 && seconds < 20.0, "{json}");
    assert!(json["goodput_mbps"].as_f64().unwrap() > 0.0, "{json}");
    let stall = json["longest_stall_ms"].as_f64().unwrap();
    assert!((0.0..=seconds * 1e3).contains(&stall), "{json}");
    assert!(
        output.stdout.is_empty(),
        "quiet run with -o prints nothing on stdout"
    );
}

#[test]
fn get_without_output_streams_the_body_to_stdout_over_ipv6() {
    let (server, body) = serve("[::1]:0");
    let output = client(&["get", &server.url("/dir/file.bin")]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(output.stdout == body, "stdout differs from the body");
    assert!(
        stderr_of(&output).contains(&format!("{BODY_LEN} bytes")),
        "summary line on stderr"
    );
}

#[test]
fn parallel_writes_one_correct_file_per_transfer_and_totals() {
    let (server, body) = serve("127.0.0.1:0");
    let url = server.url("/dir/file.bin");
    let (dir, _, json) = get_with_stats(&url, &["--parallel", "3", "-q"]);
    for i in 0..3 {
        let copy = std::fs::read(dir.path().join(format!("copy.{i}"))).unwrap();
        assert!(copy == body, "copy.{i} differs");
    }
    assert!(!dir.path().join("copy.3").exists());
    assert_eq!(json["parallel"], 3);
    assert_eq!(json["transfers"].as_array().unwrap().len(), 3);
    assert_eq!(json["transfers"][2]["sha256"], sha256_hex(&body).as_str());
    assert_eq!(json["totals"]["bytes"], 3 * BODY_LEN as u64);
    assert!(json["totals"]["goodput_mbps"].as_f64().unwrap() > 0.0);
}

#[test]
fn explicit_parallel_one_uses_the_parallel_file_names_and_report() {
    let (server, body) = serve("127.0.0.1:0");
    let url = server.url("/dir/file.bin");
    let (dir, _, json) = get_with_stats(&url, &["--parallel", "1", "-q"]);
    assert!(
        std::fs::read(dir.path().join("copy.0")).unwrap() == body,
        "copy.0 differs"
    );
    assert_eq!(json["parallel"], 1);
    assert_eq!(json["totals"]["bytes"], BODY_LEN as u64);
}

/// Getting `url`, which names no file, exits with status 3 and says "not found".
fn assert_missing_file_is_exit_3(url: &str) {
    let output = client(&["get", url, "-o", "/dev/null"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("error:") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn not_found_exits_non_zero_with_a_clear_message() {
    let (server, _) = serve("127.0.0.1:0");
    assert_missing_file_is_exit_3(&server.url("/missing.bin"));
}

#[test]
fn dns_failure_exits_non_zero_naming_the_host() {
    let output = client(&[
        "get",
        "trickles://no-such-host.invalid:4433/x",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(output.status.code(), Some(5));
    assert!(stderr_of(&output).contains("cannot resolve host \"no-such-host.invalid\""));
}

#[test]
fn bad_url_exits_non_zero_with_the_reason() {
    let output = client(&["get", "trickles://[::1]/x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("explicit port"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn silent_server_times_out_with_a_clear_message() {
    let (addr, _listener) = silent_tcp_listener("127.0.0.1:0");
    let url = format!("http://{addr}/x");
    let output = client(&["get", &url, "-o", "/dev/null", "--timeout", "0.3"]);
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stderr_of(&output).contains("timed out"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn parallel_bodies_on_stdout_are_refused() {
    let output = client(&["get", "http://127.0.0.1:9/x", "-o", "-", "--parallel", "2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("one file per transfer"));
}

fn serve_trickles(bind: &str) -> (TestServer, Vec<u8>) {
    let body = test_body(BODY_LEN, 13);
    let app = memory_app([("/dir/file.bin", body.clone())]);
    (TestServer::start(bind, app, FaultScript::default()), body)
}

#[test]
fn trickles_get_writes_the_file_and_a_stats_json() {
    let (server, body) = serve_trickles("[::1]:0");
    let url = server.url("/dir/file.bin");
    let (dir, _, json) = get_with_stats(&url, &["-q"]);
    let file = std::fs::read(dir.path().join("copy")).unwrap();
    assert!(file == body, "file differs");
    assert_eq!(json["protocol"], "trickles");
    assert_eq!(json["url"], url.as_str());
    assert_eq!(json["bytes"], BODY_LEN as u64);
    assert_eq!(json["sha256"], sha256_hex(&body).as_str());
    assert!(json["retransmissions"].is_u64(), "{json}");
    assert!(json["longest_stall_ms"].as_f64().is_some(), "{json}");
}

#[test]
fn trickles_parallel_writes_one_correct_file_per_transfer() {
    let (server, body) = serve_trickles("127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy");
    let output = client(&[
        "get",
        &server.url("/dir/file.bin"),
        "-o",
        out.to_str().unwrap(),
        "--parallel",
        "3",
        "-q",
    ]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    for i in 0..3 {
        let copy = std::fs::read(dir.path().join(format!("copy.{i}"))).unwrap();
        assert!(copy == body, "copy.{i} differs");
    }
    assert_eq!(
        server.sources().len(),
        1,
        "all transfers share one UDP socket"
    );
}

#[test]
fn trickles_not_found_exits_non_zero_with_a_clear_message() {
    let (server, _) = serve_trickles("127.0.0.1:0");
    assert_missing_file_is_exit_3(&server.url("/missing.bin"));
}

#[test]
fn trickles_silent_server_times_out_with_a_clear_message() {
    let silent = crate::support::silent_udp_socket("127.0.0.1:0");
    let url = format!("trickles://{}/x", silent.local_addr().unwrap());
    let output = client(&["get", &url, "-o", "/dev/null", "--timeout", "0.5"]);
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stderr_of(&output).contains("timed out"),
        "{}",
        stderr_of(&output)
    );
}

/// Names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Getting `url` (no such file) into `-o DIR/copy`: exit 3, and nothing left in DIR.
fn assert_missing_file_leaves_no_output(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy");
    let output = client(&["get", url, "-o", out.to_str().unwrap(), "-q"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn trickles_not_found_leaves_no_output_file() {
    let (server, _) = serve_trickles("127.0.0.1:0");
    assert_missing_file_leaves_no_output(&server.url("/missing.bin"));
}

#[test]
fn http_not_found_leaves_no_output_file() {
    let (server, _) = serve("[::1]:0");
    assert_missing_file_leaves_no_output(&server.url("/missing.bin"));
}

#[test]
fn completed_get_leaves_only_the_named_file() {
    let (server, body) = serve_trickles("127.0.0.1:0");
    let (dir, _, _) = get_with_stats(&server.url("/dir/file.bin"), &["-q"]);
    assert_eq!(names_in(dir.path()), ["copy", "stats.json"]);
    assert!(std::fs::read(dir.path().join("copy")).unwrap() == body);
}
