//! The network-functions chain on loopback, with real processes: `trickles-client --via` →
//! `trickles-mirror` (emulated delay and loss) → `trickles-balancer` (Maglev, the mirror as
//! its `upstreams:`) → three `trickles-server --balancer VIP` replicas sharing one key, while a
//! random replica is SIGKILLed every few seconds and restarted (same key, same port) shortly
//! after. [`run_chain`] checks every transfer's SHA-256 and reports the longest stall.
//!
//! The mirror delivers each client datagram to the VIP as `header(peer = client) ‖ datagram`;
//! the balancer trusts that from the mirror only and tells the replica, in a VIA option, to send
//! the reply back through the mirror (docs/NETWORK-FUNCTIONS.md §3.8, §4.6). Every child is
//! killed when the run ends, however it ends ([`ChildProcess`] kills on drop).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::binaries::{Binaries, Profile};
use crate::children::ChildProcess;
use crate::client_stats::{self, ParallelReport};
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::server_process::{ServerProcess, ServerSpec};
use crate::{http_probe, interrupt, ports};

/// The mirror's executable name.
pub const MIRROR_BIN: &str = "trickles-mirror";
/// Replicas behind the balancer.
pub const REPLICAS: usize = 3;
/// The balancer's health-check interval.
pub const HEALTH_INTERVAL_MS: u64 = 200;
/// How long the mirror and the balancer may take to become ready.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How often the run loop looks at the client and the kill schedule.
const TICK: Duration = Duration::from_millis(10);
/// The served file's name.
const FILE_NAME: &str = "file";

/// How to run the chain.
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// Loopback address everything binds to.
    pub ip: IpAddr,
    /// Concurrent downloads (`--parallel`).
    pub clients: u32,
    /// Size of the served file.
    pub size: u64,
    /// Seed of the file's content, of the kill schedule and of the mirror's draws.
    pub seed: u64,
    /// The mirror's one-way delay, each direction.
    pub delay_ms: f64,
    /// The mirror's independent loss probability, each direction.
    pub loss: f64,
    /// Time between two kills.
    pub kill_every: Duration,
    /// Time between a kill and the restart of the killed replica.
    pub restart_after: Duration,
    /// The client's `--timeout` (no progress for this long fails a transfer).
    pub idle_timeout: Duration,
    /// Give up after this long.
    pub limit: Duration,
    /// Keep the temporary directory (key, file, configurations, logs) and print its path.
    pub keep_temp: bool,
}

/// What a chain run measured.
#[derive(Clone, Debug)]
pub struct ChainReport {
    /// Transfers whose SHA-256 is the served file's.
    pub ok: usize,
    /// Transfers missing from the client's report or with another digest.
    pub failed: usize,
    /// The longest stall of any transfer (the client's `longest_stall_ms`), milliseconds.
    pub longest_stall_ms: f64,
    /// The client's aggregate goodput, Mbit/s.
    pub goodput_mbps: f64,
    /// Bytes delivered in all.
    pub bytes: u64,
    /// Wall-clock seconds of the client's run.
    pub seconds: f64,
    /// Retransmission requests in all.
    pub retransmissions: u64,
    /// Replicas SIGKILLed during the run.
    pub kills: usize,
    /// The temporary directory, when it was kept.
    pub kept_dir: Option<PathBuf>,
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "transfers ok:      {}", self.ok)?;
        writeln!(f, "transfers failed:  {}", self.failed)?;
        writeln!(
            f,
            "longest stall:     {:.0} ms (max over transfers of the client's longest_stall_ms)",
            self.longest_stall_ms
        )?;
        writeln!(
            f,
            "aggregate goodput: {:.1} Mbit/s ({} bytes in {:.2} s, {} retransmission requests)",
            self.goodput_mbps, self.bytes, self.seconds, self.retransmissions
        )?;
        writeln!(f, "kills performed:   {}", self.kills)?;
        if let Some(dir) = &self.kept_dir {
            writeln!(f, "kept:              {}", dir.display())?;
        }
        Ok(())
    }
}

/// `trickles-mirror` beside the other binaries: built with cargo (profile `profile`) when the
/// workspace sources are here, else looked up in the binaries' directory.
pub fn mirror_binary(binaries: &Binaries, profile: Profile) -> Result<PathBuf> {
    let dir = binaries.server.parent().unwrap_or_else(|| Path::new("."));
    let path = dir.join(MIRROR_BIN);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|workspace| workspace.join("Cargo.toml"));
    if let Some(manifest) = manifest.filter(|m| m.is_file()) {
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo
            .arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["-p", "trickles-mirror", "--bin", MIRROR_BIN]);
        if profile == Profile::Release {
            cargo.arg("--release");
        }
        let status = cargo
            .status()
            .map_err(|e| LabError::process("running cargo", e))?;
        if !status.success() {
            return Err(LabError::Build {
                what: MIRROR_BIN.to_owned(),
                reason: format!("cargo exited with {status}"),
            });
        }
    }
    if path.is_file() {
        Ok(path)
    } else {
        Err(LabError::MissingBinary {
            binary: MIRROR_BIN,
            path,
        })
    }
}

/// The mirror's YAML: clients anywhere on loopback, the VIP as the server side answering them.
pub fn mirror_yaml(
    listen: SocketAddr,
    metrics: SocketAddr,
    vip: SocketAddr,
    options: &ChainOptions,
) -> String {
    let clients = match options.ip {
        IpAddr::V4(_) => "127.0.0.0/8",
        IpAddr::V6(_) => "::1/128",
    };
    format!(
        "listen: [\"{listen}\"]\nmetrics: \"{metrics}\"\nworkers: 1\nseed: {seed}\npeers:\n  \
         - {{name: clients, addresses: [\"{clients}\"], side: client}}\n  \
         - {{name: vip, addresses: [\"{vip}\"], side: server, reach: any}}\n\
         wan:\n  both: {{delay_ms: {delay}, loss: {loss}}}\n",
        seed = options.seed,
        delay = options.delay_ms,
        loss = options.loss,
    )
}

/// The balancer's YAML: Maglev, relay mode, fast health checks, the mirror as the one upstream.
pub fn balancer_yaml(
    vip: SocketAddr,
    metrics: SocketAddr,
    mirror: SocketAddr,
    backends: &[SocketAddr],
) -> String {
    let mut text = format!(
        "listen: [\"{vip}\"]\nmetrics: \"{metrics}\"\nworkers: 1\nmode: relay\npolicy: maglev\n\
         watch_config: false\nupstreams: [\"{mirror}\"]\nhealth:\n  probe: udp\n  \
         interval_ms: {HEALTH_INTERVAL_MS}\n  timeout_ms: {}\n  rise: 1\n  fall: 2\n  \
         down_on_refused: true\nbackends:\n",
        HEALTH_INTERVAL_MS / 2
    );
    for (i, addr) in backends.iter().enumerate() {
        text.push_str(&format!("  - name: r{i}\n    address: \"{addr}\"\n"));
    }
    text
}

/// One replica's fixed address and the process serving it, if any.
struct Replica {
    listen: SocketAddr,
    process: Option<ServerProcess>,
    starts: usize,
}

/// Runs the chain once and returns what it measured; fails if a process dies unexpectedly or
/// the run exceeds `options.limit`.
pub fn run_chain(
    binaries: &Binaries,
    mirror_bin: &Path,
    options: &ChainOptions,
) -> Result<ChainReport> {
    if options.clients == 0 {
        return Err(LabError::Usage("--clients must be at least 1".to_owned()));
    }
    let balancer_bin = binaries.balancer()?.to_path_buf();
    let mut fixture = ServiceFixture::new(binaries)?;
    let digest = fixture.add_file(FILE_NAME, options.size, options.seed)?;
    let dir = fixture.path().to_path_buf();
    let ip = options.ip;

    let vip = ports::free_udp(ip)?;
    let mirror_addr = ports::free_udp(ip)?;
    let mut replicas = Vec::with_capacity(REPLICAS);
    for _ in 0..REPLICAS {
        replicas.push(Replica {
            listen: ports::free_udp(ip)?,
            process: None,
            starts: 0,
        });
    }
    for i in 0..REPLICAS {
        start_replica(binaries, &fixture, &mut replicas, i, vip)?;
    }

    let mirror_metrics = ports::free_tcp(ip)?;
    let mirror_config = dir.join("mirror.yaml");
    write(
        &mirror_config,
        &mirror_yaml(mirror_addr, mirror_metrics, vip, options),
    )?;
    let mut mirror_command = Command::new(mirror_bin);
    mirror_command.arg("--config").arg(&mirror_config);
    let mut mirror = ChildProcess::spawn(MIRROR_BIN, mirror_command, &dir.join("mirror.log"))?;
    wait_ready(&mut mirror, mirror_metrics, |_| true)?;

    let balancer_metrics = ports::free_tcp(ip)?;
    let balancer_config = dir.join("balancer.yaml");
    let backends: Vec<SocketAddr> = replicas.iter().map(|r| r.listen).collect();
    write(
        &balancer_config,
        &balancer_yaml(vip, balancer_metrics, mirror_addr, &backends),
    )?;
    let mut balancer_command = Command::new(&balancer_bin);
    balancer_command.arg("--config").arg(&balancer_config);
    let mut balancer = ChildProcess::spawn(
        "trickles-balancer",
        balancer_command,
        &dir.join("balancer.log"),
    )?;
    wait_ready(&mut balancer, balancer_metrics, |body| {
        table_count(body).is_some_and(|(active, _)| active >= REPLICAS)
    })?;

    let stats_json = dir.join("client.stats.json");
    let mut client_command = Command::new(&binaries.client);
    client_command
        .arg("get")
        .arg(format!("trickles://{vip}/{FILE_NAME}"))
        .arg("--quiet")
        .arg("--via")
        .arg(mirror_addr.to_string())
        .arg("--parallel")
        .arg(options.clients.to_string())
        .arg("--timeout")
        .arg(format!("{}", options.idle_timeout.as_secs_f64()))
        .arg("--stats-json")
        .arg(&stats_json);
    let mut client =
        ChildProcess::spawn("trickles-client", client_command, &dir.join("client.log"))?;

    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let started = Instant::now();
    let mut next_kill = started + options.kill_every;
    let mut pending_restart: Option<(usize, Instant)> = None;
    let mut kills = 0;
    let status = loop {
        if let Some(status) = client.try_wait()? {
            break status;
        }
        interrupt::check()?;
        let now = Instant::now();
        if now.duration_since(started) >= options.limit {
            return Err(LabError::Timeout {
                what: "the chain's downloads".to_owned(),
                after: options.limit,
            });
        }
        if let Some((i, due)) = pending_restart {
            if now >= due {
                start_replica(binaries, &fixture, &mut replicas, i, vip)?;
                pending_restart = None;
            }
        }
        if pending_restart.is_none() && now >= next_kill {
            let i = rng.gen_range(0..REPLICAS);
            if let Some(mut process) = replicas[i].process.take() {
                process.kill_hard()?;
                kills += 1;
            }
            pending_restart = Some((i, Instant::now() + options.restart_after));
            next_kill += options.kill_every;
        }
        for child in [&mut mirror, &mut balancer] {
            if let Some(status) = child.try_wait()? {
                return Err(child.failure(Some(status)));
            }
        }
        std::thread::sleep(TICK);
    };
    if !status.success() {
        return Err(client.failure(Some(status)));
    }
    let report = client_stats::read_parallel(&stats_json)?;
    let kept_dir = options.keep_temp.then(|| fixture.keep());
    Ok(summarize(
        &report,
        options.clients as usize,
        &digest,
        kills,
        kept_dir,
    ))
}

/// Counts byte-exact transfers against `expected` transfers of a file with digest `digest`.
pub fn summarize(
    report: &ParallelReport,
    expected: usize,
    digest: &str,
    kills: usize,
    kept_dir: Option<PathBuf>,
) -> ChainReport {
    let ok = report
        .transfers
        .iter()
        .filter(|t| t.sha256 == digest)
        .count();
    let longest_stall_ms = report
        .transfers
        .iter()
        .map(|t| t.longest_stall_ms)
        .fold(report.totals.longest_stall_ms, f64::max);
    ChainReport {
        ok,
        failed: expected.max(report.transfers.len()) - ok,
        longest_stall_ms,
        goodput_mbps: report.totals.goodput_mbps,
        bytes: report.totals.bytes,
        seconds: report.totals.seconds,
        retransmissions: report.totals.retransmissions,
        kills,
        kept_dir,
    }
}

fn start_replica(
    binaries: &Binaries,
    fixture: &ServiceFixture,
    replicas: &mut [Replica],
    i: usize,
    vip: SocketAddr,
) -> Result<()> {
    let replica = &mut replicas[i];
    let spec = ServerSpec {
        root: fixture.root().to_path_buf(),
        key_file: fixture.key_file().to_path_buf(),
        listen: vec![replica.listen],
        tcp_listen: None,
        metrics: ports::free_tcp(replica.listen.ip())?,
        balancers: vec![vip],
        workers: Some(1),
        mss: None,
        log: fixture
            .path()
            .join(format!("replica-{i}.{}.log", replica.starts)),
    };
    replica.process = Some(ServerProcess::start(
        binaries,
        spec,
        &format!("replica {i}"),
    )?);
    replica.starts += 1;
    Ok(())
}

/// Waits until `child`'s `/healthz` answers 200 with a body `ready` accepts.
fn wait_ready(
    child: &mut ChildProcess,
    metrics: SocketAddr,
    ready: impl Fn(&str) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(child.failure(Some(status)));
        }
        interrupt::check()?;
        if let Some((200, body)) = http_probe::get(metrics, "/healthz", Duration::from_millis(500))
        {
            if ready(&body) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(LabError::Timeout {
                what: format!("{} to become ready", child.name()),
                after: START_LIMIT,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// "ok: 2 of 3 backends in the table" → `(2, 3)`.
fn table_count(health: &str) -> Option<(usize, usize)> {
    let words: Vec<&str> = health.split_whitespace().collect();
    words.windows(3).find_map(|w| match w {
        [active, "of", configured] => Some((active.parse().ok()?, configured.parse().ok()?)),
        _ => None,
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balancer_yaml_trusts_the_mirror_and_lists_every_replica() {
        let yaml = balancer_yaml(
            "127.0.0.1:4433".parse().expect("addr"),
            "127.0.0.1:9300".parse().expect("addr"),
            "127.0.0.1:7000".parse().expect("addr"),
            &[
                "127.0.0.1:5001".parse().expect("addr"),
                "127.0.0.1:5002".parse().expect("addr"),
            ],
        );
        assert!(yaml.contains("upstreams: [\"127.0.0.1:7000\"]"), "{yaml}");
        assert!(yaml.contains("policy: maglev"), "{yaml}");
        assert!(yaml.contains("interval_ms: 200"), "{yaml}");
        assert!(
            yaml.contains("name: r1\n    address: \"127.0.0.1:5002\""),
            "{yaml}"
        );
    }

    #[test]
    fn health_text_gives_the_table_count() {
        assert_eq!(
            table_count("ok: 2 of 3 backends in the table\n"),
            Some((2, 3))
        );
        assert_eq!(table_count("ok"), None);
    }
}
