//! The network-functions chain on loopback, with real processes: `trickles-client --via` →
//! `trickles-mirror` (emulated delay and loss) → `trickles-balancer` (Maglev, the mirror as
//! its `upstreams:`) → three `trickles-server --balancer VIP` replicas sharing one key, while a
//! random replica is SIGKILLed every few seconds and restarted (same key, same port) shortly
//! after. [`run_chain`] checks every transfer's SHA-256 and reports the longest stall.
//!
//! The processes are a [`ReplicaPool`] with the [`FrontEnd::MirroredBalancer`] front end: the
//! mirror delivers each client datagram to the VIP as `header(peer = client) ‖ datagram`; the
//! balancer trusts that from the mirror only and tells the replica, in a VIA option, to send
//! the reply back through the mirror (docs/NETWORK-FUNCTIONS.md §3.8, §4.6). Every child is
//! killed when the run ends, however it ends (the pool and the client kill on drop).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::measure::transfer::drive;
use crate::pool::{FrontEnd, Pool, PoolSpec};
use crate::schedule::{Action, FailureSchedule, Target, Trigger};
use crate::service::balancer::PolicyFile;
use crate::service::client::{ClientProcess, ClientSpec, ParallelReport};
use crate::service::mirror::EmulatedWan;
use crate::topology::Topology;

/// Replicas behind the balancer.
pub const REPLICAS: usize = 3;
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
    /// Seed of the file's content and of the kill schedule.
    pub seed: u64,
    /// The mirror's emulated path.
    pub wan: EmulatedWan,
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

/// Runs the chain once and returns what it measured; fails if a process dies unexpectedly or
/// the run exceeds `options.limit`.
pub fn run_chain(binaries: &Binaries, options: &ChainOptions) -> Result<ChainReport> {
    if options.clients == 0 {
        return Err(LabError::Usage("--clients must be at least 1".to_owned()));
    }
    let mut fixture = ServiceFixture::new(binaries)?;
    let digest = fixture.add_file(FILE_NAME, options.size, options.seed)?;
    let dir = fixture.path().to_path_buf();
    let topology = Topology::loopback(options.ip)?;
    let mut pool = Pool::start(
        binaries,
        &topology,
        &fixture,
        PoolSpec {
            workers: Some(1),
            ..PoolSpec::new(
                REPLICAS,
                FrontEnd::MirroredBalancer(PolicyFile::Maglev, options.wan),
            )
        },
    )?;
    let mut client = ClientProcess::start(
        binaries,
        &topology.host("client"),
        ClientSpec {
            url: pool.trickles_url(FILE_NAME),
            output: None,
            stats_json: dir.join("client.stats.json"),
            idle_timeout: options.idle_timeout,
            parallel: Some(options.clients),
            via: pool.via(),
            log: dir.join("client.log"),
            ..ClientSpec::default()
        },
    )?;
    let schedule = random_kills(options);
    let start = Instant::now();
    let fired = drive(
        &mut client,
        start,
        options.limit,
        || 0,
        &schedule,
        &mut pool,
    )?
    .fired;
    let kills = schedule
        .steps
        .iter()
        .zip(&fired)
        .filter(|(step, at)| matches!(step.action, Action::Kill(_)) && at.is_some())
        .count();
    // The client has exited: reading its report does not wait.
    let report = client.finish_parallel(Duration::from_millis(10))?;
    pool.stop()?;
    let kept_dir = options.keep_temp.then(|| fixture.keep());
    Ok(summarize(
        &report,
        options.clients as usize,
        &digest,
        kills,
        kept_dir,
    ))
}

/// A random replica killed every `kill_every` and restarted `restart_after` later, over the
/// whole `limit` (seeded, so a run repeats).
fn random_kills(options: &ChainOptions) -> FailureSchedule {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let every = options.kill_every.as_secs_f64();
    let kills = (options.limit.as_secs_f64() / every) as usize;
    let mut schedule = FailureSchedule::default();
    for k in 1..=kills {
        let victim = Target::Replica(rng.gen_range(0..REPLICAS));
        schedule = schedule
            .then(Trigger::At(k as f64 * every), Action::Kill(victim.clone()))
            .then(
                Trigger::After(options.restart_after.as_secs_f64()),
                Action::Restart(victim),
            );
    }
    schedule
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
