//! [`run_unprivileged`]: a workspace binary run as a process without privileges (as `nobody`
//! when the tests run as root), to check what it does and says without capabilities; its log
//! is read until a wanted line appears.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What an unprivileged run showed.
#[derive(Clone, Debug)]
pub struct UnprivilegedRun {
    /// Its standard error up to the wanted line (or 20 s).
    pub log: String,
    /// Whether it was still running then (after up to 10 s for it to exit when
    /// `expect_exit`).
    pub still_running: bool,
}

/// Runs `binary --config FILE` (FILE holding `config`) without privileges until a line of its
/// standard error contains `wanted`; kills it then.
pub fn run_unprivileged(
    binary: &Path,
    config: &str,
    wanted: &str,
    expect_exit: bool,
) -> UnprivilegedRun {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "trickles-unprivileged-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let _cleanup = RemoveOnDrop(dir.clone());
    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(&dir, open.clone()).expect("chmod");
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).expect("write the configuration");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // A copy `nobody` can reach whatever the permissions of the checkout's directories.
    let program = dir.join(binary.file_name().expect("a file name"));
    std::fs::copy(binary, &program).expect("copy the binary");
    std::fs::set_permissions(&program, open).expect("chmod");
    let mut command = Command::new(&program);
    command
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(65534).gid(65534);
    }
    // A thread forking while the copy was open for writing can make exec fail with ETXTBSY
    // for a moment: retry a few times.
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("start {}: {e}", program.display()),
        }
    };
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    while let Ok(line) = received.recv_timeout(Duration::from_secs(20)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains(wanted) {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while expect_exit && child.try_wait().expect("status").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let still_running = child.try_wait().expect("status").is_none();
    let _ = child.kill();
    let _ = child.wait();
    UnprivilegedRun { log, still_running }
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
