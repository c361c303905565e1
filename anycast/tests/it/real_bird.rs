//! Against the real BIRD 2 (root: a network namespace of its own; skipped with a message
//! otherwise): the example site configuration (`examples/bird.conf`) and the controller binary.
//! The controller enables the static protocols and BIRD's `show route` shows the service
//! prefixes; a failed check withdraws them; SIGSTOP and then SIGKILL of the controller make
//! BIRD's BFD drop the routes within the bound (3 × 100 ms detection; asserted under 2 s).

use std::fs::File;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trickles_anycast::bird::BirdClient;

/// The BFD bound the example configures is 3 × 100 ms; the test allows 2 s (≥ 5×) for a
/// loaded CI machine.
const WITHDRAW_BOUND: Duration = Duration::from_secs(2);
const LIMIT: Duration = Duration::from_secs(30);

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with the veth pair of the example, deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create() -> Self {
        let name = format!("tka{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(&["ip", "netns", "add", &name]);
        let ns = Namespace { name };
        let n = ns.name.as_str();
        run(&["ip", "-n", n, "link", "set", "lo", "up"]);
        run(&[
            "ip",
            "-n",
            n,
            "link",
            "add",
            "anycast-bird",
            "type",
            "veth",
            "peer",
            "name",
            "anycast-ctl",
        ]);
        for (dev, v4, v6) in [
            ("anycast-bird", "198.18.255.1/30", "2001:2:0:ff::1/64"),
            ("anycast-ctl", "198.18.255.2/30", "2001:2:0:ff::2/64"),
        ] {
            run(&["ip", "-n", n, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", n, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", n, "link", "set", dev, "up"]);
        }
        // The service addresses (the balancer's VIP in a real site).
        run(&["ip", "-n", n, "addr", "add", "198.18.0.10/32", "dev", "lo"]);
        run(&[
            "ip",
            "-n",
            n,
            "addr",
            "add",
            "2001:2::10/128",
            "dev",
            "lo",
            "nodad",
        ]);
        // BIRD's BFD packets to the controller arrive on anycast-ctl from a local source.
        run(&[
            "ip",
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            "net.ipv4.conf.anycast-ctl.accept_local=1",
        ]);
        ns
    }

    fn spawn(&self, args: &[&str], log: &Path) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(log.with_extension("out")).expect("log"))
            .stderr(File::create(log).expect("log"))
            .spawn()
            .expect("spawn")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

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
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {signal}");
}

/// The Trickles service the controller checks: echoes on 198.18.0.10:4433 and
/// [2001:2::10]:4433 inside the namespace until stopped.
struct EchoService {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoService {
    fn start(namespace: &str) -> Self {
        let path = format!("/run/netns/{namespace}");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready, bound) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let file = File::open(&path).expect("netns file");
            // SAFETY: setns(2) on this thread only, with a namespace file we opened.
            assert_eq!(
                unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns"
            );
            let sockets: Vec<UdpSocket> = ["198.18.0.10:4433", "[2001:2::10]:4433"]
                .iter()
                .map(|a| {
                    let s = UdpSocket::bind(a).expect("bind the service");
                    s.set_read_timeout(Some(Duration::from_millis(5)))
                        .expect("timeout");
                    s
                })
                .collect();
            ready.send(()).expect("ready");
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::SeqCst) {
                for s in &sockets {
                    if let Ok((n, from)) = s.recv_from(&mut buf) {
                        let _ = s.send_to(&buf[..n], from);
                    }
                }
            }
        });
        bound.recv().expect("service bound");
        EchoService {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EchoService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How many of the two static protocols' routes BIRD's `show route` lists (a route line names
/// its protocol: `198.18.0.10/32  unicast [anycast4 12:00:00.000] * (200)`), and the states
/// of `show protocols`.
fn bird_view(socket: &Path) -> Option<(usize, String)> {
    let mut bird = BirdClient::connect(socket, Duration::from_secs(2)).ok()?;
    let routes = bird.command("show route").ok()?;
    let text: Vec<String> = routes.lines.iter().map(|l| l.text.clone()).collect();
    let present = ["[anycast4 ", "[anycast6 "]
        .iter()
        .filter(|p| text.iter().any(|l| l.contains(*p)))
        .count();
    let protocols = bird.protocols().ok()?;
    let states = protocols
        .iter()
        .map(|p| format!("{}={}", p.name, p.state))
        .collect::<Vec<_>>()
        .join(" ");
    Some((present, states))
}

/// Wait until `present` prefixes are routed; returns how long it took.
fn wait_for_routes(socket: &Path, present: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let view = bird_view(socket);
        if view.as_ref().is_some_and(|(n, _)| *n == present) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{present} routes not reached in {limit:?}; BIRD: {view:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The routes stay away while nothing answers BFD (checked for a second).
fn stays_withdrawn(socket: &Path, after: &str) {
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        let view = bird_view(socket);
        assert!(
            view.as_ref().is_some_and(|(n, _)| *n == 0),
            "after {after}, a route came back: {view:?}"
        );
    }
}

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespace, BIRD's BFD on port 3784)");
    }
    if Command::new("bird").arg("--version").output().is_err() {
        return Some("bird not installed (scripts/setup installs bird2)");
    }
    None
}

#[test]
fn bird_follows_the_controller_and_drops_the_routes_when_it_is_stopped_or_killed() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let socket = dir.path().join("bird.ctl");
    let ns = Namespace::create();
    let _bird = Process(ns.spawn(
        &[
            "bird",
            "-f",
            "-c",
            example("bird.conf").to_str().expect("path"),
            "-s",
            socket.to_str().expect("path"),
        ],
        &dir.path().join("bird.log"),
    ));
    let yaml = std::fs::read_to_string(example("anycast.yaml"))
        .expect("example")
        .replace("/run/bird/bird.ctl", socket.to_str().expect("path"))
        .replace(
            "/run/trickles-anycast/state.json",
            dir.path().join("state.json").to_str().expect("path"),
        )
        .replace("interval_ms: 1000", "interval_ms: 200")
        .replace("timeout_ms: 300", "timeout_ms: 100");
    let config = dir.path().join("anycast.yaml");
    std::fs::write(&config, yaml).expect("write");
    let service = EchoService::start(&ns.name);
    let controller_log = dir.path().join("controller.log");
    let controller = Process(ns.spawn(
        &[
            env!("CARGO_BIN_EXE_trickles-anycast"),
            "--config",
            config.to_str().expect("path"),
        ],
        &controller_log,
    ));
    let log = || std::fs::read_to_string(&controller_log).unwrap_or_default();

    let up = wait_for_routes(&socket, 2, LIMIT);
    let (_, states) = bird_view(&socket).expect("BIRD answers");
    assert!(
        states.contains("anycast4=up") && states.contains("anycast6=up"),
        "{states}"
    );
    eprintln!("announced {up:?} after start");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !log().contains("NOT guarded") && !log().contains("is not Up"),
        "BIRD must hold an Up BFD session to each bfd_address:\n{}",
        log()
    );

    // A failed check: the controller disables both protocols (fall = 2 rounds of 200 ms).
    service.stop();
    let withdrawn = wait_for_routes(&socket, 0, LIMIT);
    let (_, states) = bird_view(&socket).expect("BIRD answers");
    assert!(
        states.contains("anycast4=down") && states.contains("anycast6=down"),
        "{states}\n{}",
        log()
    );
    eprintln!("withdrawn {withdrawn:?} after the service stopped (disable)");
    let service = EchoService::start(&ns.name);
    wait_for_routes(&socket, 2, LIMIT);

    // SIGSTOP: nothing answers BFD; BIRD drops the routes after the detection time.
    signal(&controller.0, libc::SIGSTOP);
    let stopped = wait_for_routes(&socket, 0, WITHDRAW_BOUND);
    eprintln!("SIGSTOP: both routes withdrawn by BIRD's BFD in {stopped:?}");
    stays_withdrawn(&socket, "SIGSTOP");
    signal(&controller.0, libc::SIGCONT);
    let back = wait_for_routes(&socket, 2, LIMIT);
    eprintln!("SIGCONT: routes back in {back:?}");

    // SIGKILL: the same, and for good.
    signal(&controller.0, libc::SIGKILL);
    let killed = wait_for_routes(&socket, 0, WITHDRAW_BOUND);
    eprintln!("SIGKILL: both routes withdrawn by BIRD's BFD in {killed:?}");
    stays_withdrawn(&socket, "SIGKILL");
    let (_, states) = bird_view(&socket).expect("BIRD answers");
    assert!(
        states.contains("anycast4=up"),
        "the protocol stays enabled; BFD alone withdrew: {states}"
    );
    drop(service);
}
