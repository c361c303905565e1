//! Claims about the `trickles-server` executable: config errors reach the user with file and
//! line, a direct-return VIP missing from the host stops the start with the command that adds
//! it, keygen writes a private file, SIGHUP reloads and SIGTERM stops the server cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.yaml");
    let status = binary()
        .args(["keygen", "-o"])
        .arg(&keys)
        .stdout(Stdio::null())
        .status()
        .expect("keygen");
    assert!(status.success());
    std::fs::create_dir(dir.path().join("www")).expect("mkdir");
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

/// Lines of the child's standard error, as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (lines, receiver) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("the server never logged {needle:?}");
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[test]
fn sighup_reloads_and_sigterm_stops_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.yaml");
    let status = binary()
        .args(["keygen", "-o"])
        .arg(&keys)
        .stdout(Stdio::null())
        .status()
        .expect("keygen");
    assert!(status.success());
    let root = dir.path().join("www");
    std::fs::create_dir(&root).expect("mkdir");
    let mut child = binary()
        .args(["--listen", "127.0.0.1:0", "--workers", "1", "--root"])
        .arg(&root)
        .arg("--key-file")
        .arg(&keys)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server");
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, "serving Trickles over UDP");

    signal(&child, libc::SIGHUP);
    wait_for_line(&lines, "configuration reloaded");

    signal(&child, libc::SIGTERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
