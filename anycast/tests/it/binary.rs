//! The `trickles-anycast` executable against a fake BIRD: the readiness line, SIGUSR1 re-checks
//! at once, SIGHUP with a bad file keeps the running configuration, a good one retires a removed
//! announcement, `drain` returns once the site is safe to stop, `--check` names file:line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{config_text, FakeBird, FakeService, Mode};

const LIMIT: Duration = Duration::from_secs(10);
const BINARY: &str = env!("CARGO_BIN_EXE_trickles-anycast");

/// Kill on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn wait(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

fn within(mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > LIMIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn announcement(protocol: &str, family: &str, prefix: &str, check: &str) -> String {
    format!("  - protocol: {protocol}\n    family: {family}\n    prefixes: [\"{prefix}\"]\n    checks: [\"{check}\"]\n")
}

struct Site {
    dir: tempfile::TempDir,
    bird: FakeBird,
    v4: Option<FakeService>,
    v6: FakeService,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let bird = FakeBird::start(
            &dir.path().join("bird.ctl"),
            &[("anycast4", "Static", false), ("anycast6", "Static", false)],
            Mode::Bird,
        );
        Site {
            bird,
            v4: Some(FakeService::start("127.0.0.1:0")),
            v6: FakeService::start("[::1]:0"),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write the configuration (interval 5 s, fall 2: only a signal makes a round sooner).
    fn write_config(&self, with_v6: bool) -> PathBuf {
        let v4 = self.v4.as_ref().expect("v4").addr.to_string();
        let mut announcements = announcement("anycast4", "ipv4", "198.18.0.10/32", &v4);
        if with_v6 {
            announcements += &announcement(
                "anycast6",
                "ipv6",
                "2001:2::10/128",
                &self.v6.addr.to_string(),
            );
        }
        let text = config_text(
            &self.path("bird.ctl"),
            &self.path("state.json"),
            &announcements,
        )
        .replace("interval_ms: 100", "interval_ms: 5000")
        .replace("fall: 2", "fall: 1");
        let path = self.path("anycast.yaml");
        std::fs::write(&path, text).expect("write");
        path
    }

    fn start(&self, config: &Path) -> Process {
        Process(
            Command::new(BINARY)
                .arg("--config")
                .arg(config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(self.path("log")).expect("log"))
                .spawn()
                .expect("spawn"),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    fn is_up(&self, protocol: &str) -> bool {
        self.bird.protocol_state(protocol).as_deref() == Some("up")
    }
}

#[test]
fn sigusr1_withdraws_a_failed_site_long_before_the_check_interval() {
    let mut site = Site::new();
    let config = site.write_config(true);
    let controller = site.start(&config);
    wait("the readiness line", || {
        site.log().contains("trickles-anycast ready")
    });
    wait("anycast4 enabled", || site.is_up("anycast4"));
    site.v4.take().expect("v4").stop();
    let started = Instant::now();
    signal(&controller.0, libc::SIGUSR1);
    wait("anycast4 disabled", || !site.is_up("anycast4"));
    let took = started.elapsed();
    eprintln!("SIGUSR1 to withdraw: {took:?} (check interval 5 s)");
    assert!(
        took < Duration::from_millis(2500),
        "withdrawn after {took:?}, not at once"
    );
    assert!(site.is_up("anycast6"), "the other family is not affected");
}

#[test]
fn a_bad_reload_keeps_the_running_configuration_and_a_good_one_retires_an_announcement() {
    let site = Site::new();
    let config = site.write_config(true);
    let controller = site.start(&config);
    wait("both enabled", || {
        site.is_up("anycast4") && site.is_up("anycast6")
    });
    std::fs::write(
        &config,
        "announcements:\n  - protocol: anycast4\n    family: ipv5\n",
    )
    .expect("write");
    signal(&controller.0, libc::SIGHUP);
    if !within(|| site.log().contains("reload failed")) {
        let mut controller = controller;
        panic!(
            "no reload error logged; controller {:?}:\n{}",
            controller.0.try_wait(),
            site.log()
        );
    }
    let log = site.log();
    assert!(
        log.contains("anycast.yaml:3:"),
        "the error names file and line: {log}"
    );
    signal(&controller.0, libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        site.is_up("anycast4") && site.is_up("anycast6"),
        "the old configuration still runs"
    );
    site.write_config(false);
    signal(&controller.0, libc::SIGHUP);
    wait("anycast6 retired", || !site.is_up("anycast6"));
    assert!(site.is_up("anycast4"));
}

#[test]
fn the_drain_subcommand_returns_once_the_site_is_safe_to_stop() {
    let site = Site::new();
    let config = site.write_config(true);
    let _controller = site.start(&config);
    wait("both enabled", || {
        site.is_up("anycast4") && site.is_up("anycast6")
    });
    let out = Command::new(BINARY)
        .arg("--config")
        .arg(&config)
        .arg("drain")
        .output()
        .expect("drain");
    assert!(
        out.status.success(),
        "drain: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("drained: safe to stop"));
    assert!(!site.is_up("anycast4") && !site.is_up("anycast6"));
    assert!(site.log().contains("drain complete: safe to stop"));
}

#[test]
fn check_names_the_file_and_line_of_a_wrong_family() {
    let site = Site::new();
    let config = site.write_config(true);
    let text = std::fs::read_to_string(&config)
        .expect("read")
        .replace("[\"198.18.0.10/32\"]", "[\"2001:2::99/128\"]");
    std::fs::write(&config, text).expect("write");
    let out = Command::new(BINARY)
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .output()
        .expect("check");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "anycast.yaml:15: prefix 2001:2::99/128 is ipv6, announcement `anycast4` is ipv4"
        ),
        "{stderr}"
    );
}
