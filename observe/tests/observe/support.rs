//! The real binaries on loopback: a replica, a dead backend, the balancer in front of them, the
//! packet mirror in front of the balancer, and a client with `--parallel 2 --metrics` fetching
//! through the whole chain (the mirror limits the rate, so the transfers last). Metrics
//! endpoints are on 127.0.0.1 and [::1]; the mirror listens on both families.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where cargo put the binaries of the workspace (built once per test run).
pub fn binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--bins"])
            .args(["-p", "trickles-server", "-p", "trickles-balancer"])
            .args(["-p", "trickles-mirror", "-p", "trickles-client"])
            .current_dir(trickles_observe::workspace::root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
        let exe = std::env::current_exe().expect("test executable");
        // target/debug/deps/observe-HASH → target/debug
        exe.parent()
            .and_then(Path::parent)
            .expect("target directory")
            .to_owned()
    })
}

/// A free TCP port on `ip` (for a metrics endpoint).
pub fn free_tcp(ip: &str) -> SocketAddr {
    TcpListener::bind(format!("{ip}:0"))
        .and_then(|l| l.local_addr())
        .expect("free TCP port")
}

/// A free UDP port on `ip`.
pub fn free_udp(ip: &str) -> SocketAddr {
    UdpSocket::bind(format!("{ip}:0"))
        .and_then(|s| s.local_addr())
        .expect("free UDP port")
}

/// A child process killed when dropped; its stderr goes to a log file.
pub struct Process {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(name: &'static str, dir: &Path, args: &[String]) -> Process {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(binaries().join(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process { name, child, log }
    }

    /// Kill it now (SIGKILL: a crash, nothing flushed).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One running component and its metrics address.
pub struct Component {
    /// The Prometheus job it belongs to (`trickles-server`, ...).
    pub job: &'static str,
    pub metrics: SocketAddr,
    pub process: Process,
}

/// Everything running.
pub struct Testbed {
    pub components: Vec<Component>,
    /// The replica's command line, to start it again after a kill.
    server_args: Vec<String>,
    /// Holds the files of the run (removed when the testbed is dropped).
    pub dir: tempfile::TempDir,
}

/// Size of the file the client fetches: at the mirror's 8 Mbit/s, about a minute for both
/// transfers together; the tests end well before.
const BODY_LEN: usize = 48 << 20;

impl Testbed {
    pub fn start() -> Testbed {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        let root = d.join("root");
        std::fs::create_dir(&root).expect("root");
        // The watermarking application registers its metrics when it is enabled.
        let images = d.join("images");
        std::fs::create_dir(&images).expect("images");
        let body: Vec<u8> = (0..BODY_LEN).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), body).expect("body");
        let key = d.join("key");
        let keygen = Command::new(binaries().join("trickles-server"))
            .args(["keygen", "-o"])
            .arg(&key)
            .output()
            .expect("keygen");
        assert!(keygen.status.success(), "keygen: {keygen:?}");

        let vip = free_udp("127.0.0.1");
        let replica = free_udp("127.0.0.1");
        let dead = free_udp("127.0.0.1");
        let mirror_v4 = free_udp("127.0.0.1");
        let mirror_v6 = free_udp("[::1]");
        let server_metrics = free_tcp("127.0.0.1");
        let balancer_metrics = free_tcp("[::1]");
        let mirror_metrics = free_tcp("127.0.0.1");
        let client_metrics = free_tcp("[::1]");
        let s = |v: &dyn std::fmt::Display| v.to_string();

        let server_args: Vec<String> = vec![
            "--listen".into(),
            s(&replica),
            "--root".into(),
            s(&root.display()),
            "--key-file".into(),
            s(&key.display()),
            "--metrics".into(),
            s(&server_metrics),
            "--balancer".into(),
            s(&vip),
            "--workers".into(),
            "1".into(),
            "--watermark-root".into(),
            s(&images.display()),
        ];
        let server = Process::start("trickles-server", d, &server_args);
        let balancer_yaml = d.join("balancer.yaml");
        std::fs::write(
            &balancer_yaml,
            format!(
                "listen: [\"{vip}\"]\nmetrics: \"{balancer_metrics}\"\nworkers: 1\nupstreams: [\"{mirror_v4}\"]\n\
                 health:\n  interval_ms: 200\n  timeout_ms: 100\n  rise: 1\n  fall: 1\n\
                 backends:\n  - name: r0\n    address: \"{replica}\"\n  - name: r1\n    address: \"{dead}\"\n"
            ),
        )
        .expect("balancer config");
        let balancer = Process::start(
            "trickles-balancer",
            d,
            &["--config".into(), s(&balancer_yaml.display())],
        );
        let mirror_yaml = d.join("mirror.yaml");
        std::fs::write(
            &mirror_yaml,
            format!(
                "listen: [\"{mirror_v4}\", \"{mirror_v6}\"]\nworkers: 1\nmetrics: \"{mirror_metrics}\"\n\
                 peers:\n  - name: clients\n    addresses: [\"127.0.0.0/8\", \"::1\"]\n    side: client\n\
                 \x20 - name: vip\n    addresses: [\"{vip}\"]\n    side: server\n    reach: any\n\
                 wan:\n  both: {{ delay_ms: 2, rate_mbit: 8 }}\n"
            ),
        )
        .expect("mirror config");
        let mirror = Process::start(
            "trickles-mirror",
            d,
            &["--config".into(), s(&mirror_yaml.display())],
        );
        let mut components = vec![
            Component {
                job: "trickles-server",
                metrics: server_metrics,
                process: server,
            },
            Component {
                job: "trickles-balancer",
                metrics: balancer_metrics,
                process: balancer,
            },
            Component {
                job: "trickles-mirror",
                metrics: mirror_metrics,
                process: mirror,
            },
        ];
        for c in &components {
            wait_for_metrics(c);
        }
        let client = Process::start(
            "trickles-client",
            d,
            &[
                "get".into(),
                format!("trickles://{vip}/big.bin"),
                "--via".into(),
                s(&mirror_v4),
                "--parallel".into(),
                "2".into(),
                "--metrics".into(),
                s(&client_metrics),
                "--timeout".into(),
                "120".into(),
                "--quiet".into(),
            ],
        );
        components.push(Component {
            job: "trickles-client",
            metrics: client_metrics,
            process: client,
        });
        wait_for_metrics(components.last().expect("client"));
        Testbed {
            components,
            server_args,
            dir,
        }
    }

    /// Kill the replica (the balancer's only live backend).
    pub fn kill_replica(&mut self) {
        self.component_mut("trickles-server").process.kill();
    }

    /// Start the replica again: same address, same key, same metrics port.
    pub fn restart_replica(&mut self) {
        let process = Process::start("trickles-server", self.dir.path(), &self.server_args);
        let c = self.component_mut("trickles-server");
        c.process = process;
        wait_for_metrics(c);
    }

    fn component_mut(&mut self, job: &str) -> &mut Component {
        self.components
            .iter_mut()
            .find(|c| c.job == job)
            .unwrap_or_else(|| panic!("no {job}"))
    }

    /// `GET /metrics` of the component of `job`.
    pub fn scrape(&self, job: &str) -> String {
        let c = self
            .components
            .iter()
            .find(|c| c.job == job)
            .unwrap_or_else(|| panic!("no {job}"));
        scrape(c).unwrap_or_else(|e| panic!("{job} /metrics: {e}\n{}", c.process.log()))
    }

    /// Wait until the client has delivered bytes (the chain forwards).
    pub fn wait_for_delivery(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.scrape("trickles-client");
            let delivered = text
                .lines()
                .find_map(|l| l.strip_prefix("trickles_client_delivered_bytes_total "))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            if delivered > 0.0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the client delivered nothing in 60 s\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every component's log.
    pub fn logs(&self) -> String {
        self.components
            .iter()
            .map(|c| format!("== {}\n{}", c.process.name, c.process.log()))
            .collect()
    }
}

fn scrape(c: &Component) -> std::io::Result<String> {
    let answer = trickles_netfn::http_get(c.metrics, "/metrics", Duration::from_secs(10))?;
    if answer.status == 200 {
        Ok(answer.body)
    } else {
        Err(std::io::Error::other(format!("HTTP {}", answer.status)))
    }
}

fn wait_for_metrics(c: &Component) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while scrape(c).is_err() {
        assert!(
            Instant::now() < deadline,
            "{} serves no /metrics on {} within 30 s:\n{}",
            c.job,
            c.metrics,
            c.process.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
