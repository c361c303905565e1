//! Claims about the `trickles-server` executable: config errors reach the user with file and
//! line, a direct-return VIP missing from the host stops the start with the command that adds
//! it, keygen writes a private file, SIGHUP reloads and SIGTERM stops the server cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::dir_with_root_and_keys;
use trickles_testkit::ChildProcess;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trickles-server"));
    command.env("RUST_LOG", "info").env("NO_COLOR", "1");
    command
}

#[test]
fn bad_config_exits_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "root: .\nworkers: many\n").expect("write");
    let output = binary().arg("--config").arg(&config).output().expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:2:"), "{stderr}");
}

#[test]
fn a_dsr_vip_not_on_any_interface_stops_the_start_with_the_fix() {
    let dir = dir_with_root_and_keys();
    let keys = dir.path().join("keys.yaml");
    // 198.18.255.252 is on no interface of a test host (benchmarking range, RFC 2544).
    let output = binary()
        .arg("--root")
        .arg(dir.path().join("www"))
        .arg("--key-file")
        .arg(&keys)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--dsr-vip",
            "198.18.255.252:4433",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("direct-return VIP 198.18.255.252:4433"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ip addr add 198.18.255.252/32 dev lo"),
        "{stderr}"
    );
}

#[test]
fn keygen_writes_a_private_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.yaml");
    let status = binary()
        .args(["keygen", "--epoch", "3", "-o"])
        .arg(&keys)
        .stdout(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success());
    let mode = std::fs::metadata(&keys).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&keys)
        .expect("read")
        .contains("epoch: 3"));
}

#[test]
fn sighup_reloads_and_sigterm_stops_the_server() {
    let dir = dir_with_root_and_keys();
    let keys = dir.path().join("keys.yaml");
    let root = dir.path().join("www");
    let mut command = binary();
    command
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--root"])
        .arg(&root)
        .arg("--key-file")
        .arg(&keys);
    let log = dir.path().join("server.log");
    let mut child = ChildProcess::spawn("trickles-server", command, &log).expect("start server");
    let limit = Duration::from_secs(10);
    child
        .wait_for_log_text("serving Trickles over UDP", limit)
        .expect("the server starts");

    child.signal(libc::SIGHUP).expect("SIGHUP");
    child
        .wait_for_log_text("configuration reloaded", limit)
        .expect("the server reloads");

    child.terminate(Duration::from_secs(5)).expect("stops");
    let status = child.exit_status().expect("reaped");
    assert!(
        status.success(),
        "exit status {status}: SIGTERM ignored or failed"
    );
}
