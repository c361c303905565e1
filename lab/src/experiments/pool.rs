//! `trickles-lab exp pool`: a replica pool behind `trickles-balancer` (Maglev, relay or direct
//! return), each replica on its own host, the balancer on its own host (in relay mode its address
//! is the VIP), the client on a third, the client's link shaped. Mid-transfer, the replica serving the transfer (the
//! backend whose `to_backend` datagram counter grew, [`crate::pool::watch`]) is SIGKILLed; unless
//! `--no-restart`, a new process (same key, address and port) takes its place `--restart-after`
//! seconds later. The same unmodified client must finish byte-exact.
//!
//! Reported: bytes delivered and lost (SHA-256 against the served file; a differing download is
//! compared byte by byte), the stall (the client's `longest_stall_ms` and the delivery trace's,
//! [`crate::measure::recovery`]), which replica took over, when the balancer took the dead replica out of
//! its table. Written: `pool.csv` (goodput per 100 ms bin), `pool-samples.csv` (raw delivery
//! samples and events), `pool-summary.csv` (the table), `pool.png` / `.svg`.
//!
//! How fast the balancer drops the dead replica depends on the replica host's ICMP rate limit
//! (`--unlimited-icmp` turns it off): its health probe gets "port unreachable" only while the
//! host still has ICMP budget left, and the client datagrams relayed to the dead port spend it.
//!
//! `--mode relay` (default): the balancer's host address is the VIP and replies come back
//! through it. `--mode direct-return`: the VIP is a separate address
//! ([`crate::pool::direct_return`]) on the balancer's loopback, routed to it by the router, and on every replica's
//! loopback too (with `arp_ignore`/`arp_announce`, and `accept_local`, since the balancer
//! forwards from the VIP the replica also holds); replicas run `--dsr-vip VIP` and answer the
//! client straight from the VIP, so the data never crosses the balancer
//! (docs/NETWORK-FUNCTIONS.md §3.1).
//!
//! `--xdp`: the balancer runs its XDP datapath, natively attached to its host's veth
//! ([`crate::pool::xdp_front`], docs/XDP.md); the table says whether the program was attached
//! and how many frames it handed up to the userspace datapath.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::context::{BaseArgs, Context};
use super::report::{millis, write_goodput_series, Report};
use super::results_table::ResultTable;
use super::tcp_congestion;
use crate::binaries::Profile;
use crate::byte_size::parse_byte_size;
use crate::dashboard_render::RenderedDashboard;
use crate::error::{LabError, Result};
use crate::measure::recovery::{legend, RECOVERY_RULE};
use crate::observe;
use crate::pool::failover::{fetch_through_failover, FailoverRun};
use crate::pool::{xdp_front, FrontEnd, HostSetup, Pool, PoolSpec};
use crate::schedule::{Action, FailureSchedule, Target, Trigger};
use crate::service::balancer::{ModeFile, PolicyFile};
use crate::service::client::ClientSpec;

/// The served file's name.
const FILE: &str = "pool.bin";

/// How replies reach the client (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardingMode {
    /// Replica → balancer → client: the replica encapsulates its reply back to the VIP.
    Relay,
    /// Replica → client, from the VIP (direct server return).
    DirectReturn,
}

impl ForwardingMode {
    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            ForwardingMode::Relay => "relay",
            ForwardingMode::DirectReturn => "direct-return",
        }
    }
}

/// Flags of `trickles-lab exp pool` (defaults: the default size).
#[derive(Clone, Debug, Args)]
pub struct PoolArgs {
    #[command(flatten)]
    pub base: BaseArgs,
    /// How replies reach the client.
    #[arg(long, value_enum, default_value = "relay")]
    pub mode: ForwardingMode,
    /// Replicas behind the balancer, each on its own host.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Bottleneck rate toward the client, Mbit/s (a token bucket where the router forwards).
    #[arg(long, default_value_t = 50.0)]
    pub rate_mbit: f64,
    /// The bottleneck's queue (the token bucket's limit).
    #[arg(long, default_value = "128KiB", value_parser = parse_byte_size)]
    pub queue: u64,
    /// Size of the served file (at the default rate: 16 s of transfer).
    #[arg(long, default_value = "100MB", value_parser = parse_byte_size)]
    pub size: u64,
    /// Seconds after the client's start when the serving replica is SIGKILLed.
    #[arg(long, default_value_t = 5.0)]
    pub kill_at: f64,
    /// Seconds between the kill and the start of a new process for the killed replica.
    #[arg(long, default_value_t = 3.0)]
    pub restart_after: f64,
    /// Do not restart the killed replica.
    #[arg(long)]
    pub no_restart: bool,
    /// Turn off the replica hosts' ICMP rate limit (`net.ipv4.icmp_ratelimit=0`): the dead
    /// replica's "port unreachable" then answers every health probe, and the balancer drops it
    /// at the next probe. By default the kernel's limit applies, and the unreachables its port
    /// returns to the relayed client datagrams use up the budget, so the probes time out.
    #[arg(long)]
    pub unlimited_icmp: bool,
    /// Kernel TCP congestion control, set in every namespace (only the lab's own metrics
    /// requests use TCP here; kept for a testbed like the other experiments').
    #[arg(long, default_value = "reno")]
    pub tcp_cc: String,
    /// Seed of the served file's pseudo-random content.
    #[arg(long, default_value_t = 2005)]
    pub seed: u64,
    /// Seconds the transfer may take before the run fails.
    #[arg(long, default_value_t = 120.0)]
    pub transfer_limit: f64,
    /// Run a real Prometheus in the router scraping every component and the client, and draw
    /// the failover overview and the pool dashboard from it (`pool-overview.png`,
    /// `pool-dashboard.png`).
    #[arg(long)]
    pub observe: bool,
    /// The balancer runs its XDP datapath (native XDP on its host's veth, `datapath: xdp`).
    #[arg(long)]
    pub xdp: bool,
}

impl PoolArgs {
    /// The reduced size CI runs: 20 Mbit/s, 10 MB, kill at 2 s, restart 1 s later.
    pub fn reduced(base: BaseArgs) -> Self {
        PoolArgs {
            base,
            mode: ForwardingMode::Relay,
            replicas: 3,
            rate_mbit: 20.0,
            queue: 128 << 10,
            size: 10_000_000,
            kill_at: 2.0,
            restart_after: 1.0,
            no_restart: false,
            unlimited_icmp: false,
            tcp_cc: "reno".to_owned(),
            seed: 2005,
            transfer_limit: 60.0,
            observe: false,
            xdp: false,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(2..=20).contains(&self.replicas) {
            return Err(LabError::Usage(
                "--replicas must be 2 to 20: one must survive the kill".to_owned(),
            ));
        }
        if !(self.restart_after.is_finite() && self.restart_after >= 0.0) {
            return Err(LabError::Usage(
                "--restart-after must be 0 or more seconds".to_owned(),
            ));
        }
        super::check_kill_schedule(self.rate_mbit, self.size, self.kill_at, self.transfer_limit)
    }
}

/// What `exp pool` measured and wrote.
#[derive(Clone, Debug)]
pub struct PoolOutcome {
    /// How replies reached the client.
    pub mode: ForwardingMode,
    /// The transfer through the kill.
    pub run: FailoverRun,
    /// Served bytes missing from the download or different in it (0 when byte-exact).
    pub bytes_lost: u64,
    /// Reply bytes the balancer relayed to the client (`to_client`, all backends): the whole
    /// download in relay mode, none in direct-return mode. `None` if the metrics were not read.
    pub relayed_reply_bytes: Option<u64>,
    /// With `--xdp`: whether the balancer's metrics said its program was attached, and the
    /// frames it handed up to the userspace datapath. `None` without `--xdp` or metrics.
    pub xdp: Option<(bool, u64)>,
    /// With `--observe`: the failover overview and the pool dashboard, drawn from Prometheus.
    pub dashboards: Vec<RenderedDashboard>,
    /// The table and files.
    pub report: Report,
}

/// Runs the experiment, prints the table, writes the files.
pub fn run(args: &PoolArgs) -> Result<PoolOutcome> {
    args.validate()?;
    let context = Context::new("pool", &args.base, Profile::Release)?;
    let expected = context.fixture.add_file(FILE, args.size, args.seed)?;
    let replicas: Vec<String> = (0..args.replicas).map(|i| format!("r{i}")).collect();
    let mut roles = vec!["client", "balancer"];
    roles.extend(replicas.iter().map(String::as_str));
    let topology = context.topology("pool", &roles)?;
    tcp_congestion::use_everywhere(topology.testbed()?, &args.tcp_cc)?;
    topology.shape_toward("client", (args.rate_mbit * 1e6) as u64, args.queue)?;
    let mode = match args.mode {
        ForwardingMode::Relay => ModeFile::Relay,
        ForwardingMode::DirectReturn => ModeFile::DirectReturn,
    };
    let setup: HostSetup<'_> = Box::new(|topology, role| {
        let namespace = topology.testbed()?.host(role).namespace();
        if args.unlimited_icmp {
            namespace.sysctl("net.ipv4.icmp_ratelimit", "0")?;
            namespace.sysctl("net.ipv6.icmp.ratelimit", "0")?;
        }
        Ok(())
    });
    let spec = PoolSpec {
        workers: Some(1),
        xdp: args.xdp,
        ..PoolSpec::new(args.replicas, FrontEnd::Balancer(PolicyFile::Maglev, mode))
    };
    let mut pool = Pool::start_with(
        &context.binaries,
        &topology,
        &context.fixture,
        spec,
        Some(setup),
    )?;
    let output = context.temp_path("pool.download");
    let mut client = ClientSpec::single(
        pool.trickles_url(FILE),
        output.clone(),
        context.fixture.path(),
        "pool-client",
    );
    client.idle_timeout = Duration::from_secs(30);
    let (mut observer, host) = (None, topology.host("client"));
    let started = match args.observe {
        true => observe::watch_pool(&mut observer, &topology, &pool, &mut client, &host)?,
        false => observe::unix_now(),
    };
    let mut schedule =
        FailureSchedule::at(Trigger::At(args.kill_at), Action::Kill(Target::Serving));
    if !args.no_restart {
        schedule = schedule.then(
            Trigger::After(args.restart_after),
            Action::Restart(Target::Serving),
        );
    }
    let (bins, limit) = (
        &context.binaries,
        Duration::from_secs_f64(args.transfer_limit),
    );
    let run = fetch_through_failover(bins, &mut pool, &host, client, &schedule, limit, &expected)?;
    let balancer_metrics = pool.balancer().and_then(|b| b.metrics());
    let relayed_reply_bytes = balancer_metrics.as_deref().map(relayed_reply_bytes);
    let xdp = match args.xdp {
        true => balancer_metrics
            .as_deref()
            .map(|text| (xdp_front::attached(text), xdp_front::passed_up(text))),
        false => None,
    };
    let mut dashboards = Vec::new();
    if let Some(observer) = observer {
        for (name, stem) in [("failover", "pool-overview"), ("pool", "pool-dashboard")] {
            dashboards.push(observer.draw(name, started, &context.result_path(stem))?);
        }
    }
    pool.stop()?;
    drop(topology);
    let bytes_lost = match run.byte_exact {
        true => 0,
        false => bytes_missing_or_different(&context.fixture.root().join(FILE), &output)?,
    };
    let _ = std::fs::remove_file(&output);
    let title = format!(
        "{} replicas behind the balancer ({}{}), the serving one SIGKILLed: goodput, {} Mbit/s",
        args.replicas,
        args.mode.label(),
        if args.xdp { ", XDP" } else { "" },
        args.rate_mbit
    );
    let mut files = write_goodput_series(
        &context.result_path("pool"),
        &title,
        &[("Trickles through the balancer", &run.transfer.trace)],
        run.transfer.trace.events(),
    )?;
    files.extend(
        dashboards
            .iter()
            .flat_map(|d| [d.files.png.clone(), d.files.svg.clone()]),
    );
    let table = summary_table(&run, bytes_lost, relayed_reply_bytes, args);
    let mut notes = legend(RECOVERY_RULE);
    if let Some((attached, passed)) = xdp {
        notes.push_str(&format!(
            "\nXDP datapath: {}; {passed} frames handed up to the userspace datapath\n",
            if attached {
                "attached (native, the balancer's veth)"
            } else {
                "NOT attached"
            }
        ));
    }
    let report = context.publish(table, "pool-summary.csv", &notes, files)?;
    Ok(PoolOutcome {
        mode: args.mode,
        run,
        bytes_lost,
        relayed_reply_bytes,
        xdp,
        dashboards,
        report,
    })
}

/// Sum of `trickles_balancer_bytes_total{..,direction="to_client"}` over the backends.
fn relayed_reply_bytes(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("trickles_balancer_bytes_total{")
                && line.contains("direction=\"to_client\"")
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Bytes of `served` that `download` lacks or has different (compared position by position).
fn bytes_missing_or_different(served: &Path, download: &Path) -> Result<u64> {
    let open = |path: &Path| std::fs::File::open(path).map_err(|e| LabError::io(path, e));
    let (mut a, mut b) = (open(served)?, open(download)?);
    let (mut chunk_a, mut chunk_b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut lost = 0u64;
    loop {
        let n = read_full(&mut a, &mut chunk_a).map_err(|e| LabError::io(served, e))?;
        if n == 0 {
            return Ok(lost);
        }
        let m = read_full(&mut b, &mut chunk_b[..n]).map_err(|e| LabError::io(download, e))?;
        let differing = chunk_a[..m]
            .iter()
            .zip(&chunk_b[..m])
            .filter(|(x, y)| x != y)
            .count();
        lost += (differing + (n - m)) as u64;
    }
}

/// Reads until `buffer` is full or the end of the file; the bytes read.
fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn replica(index: Option<usize>) -> String {
    index.map_or_else(|| "-".to_owned(), |i| format!("r{i}"))
}

fn summary_table(
    run: &FailoverRun,
    bytes_lost: u64,
    relayed: Option<u64>,
    args: &PoolArgs,
) -> ResultTable {
    let mut table = ResultTable::new(&[
        "mode",
        "icmp_ratelimit",
        "replicas",
        "bytes",
        "bytes_lost",
        "byte_exact",
        "seconds",
        "killed",
        "took_over",
        "after_restart",
        "out_of_table_after_ms",
        "outage_ms",
        "resumed_after_ms",
        "recovered_after_ms",
        "time_lost_ms",
        "longest_stall_ms",
        "client_longest_stall_ms",
        "restarted_after_ms",
        "balancer_reply_bytes",
    ]);
    let (stats, recovery) = (&run.transfer.stats, &run.recovery);
    let since_kill = |t: Option<f64>| t.map(|t| t - run.failed_at);
    table.push(vec![
        args.mode.label().to_owned(),
        if args.unlimited_icmp { "off" } else { "kernel" }.to_owned(),
        args.replicas.to_string(),
        stats.bytes.to_string(),
        bytes_lost.to_string(),
        if run.byte_exact { "yes" } else { "NO" }.to_owned(),
        format!("{:.2}", stats.seconds),
        replica(run.victim),
        replica(run.took_over),
        replica(run.repaired_at.and(run.finished_on)),
        millis(since_kill(run.left_table_at)),
        format!("{:.0}", recovery.outage_seconds() * 1e3),
        millis(Some(recovery.resumed_after)),
        millis(recovery.recovered_after),
        millis(recovery.time_lost),
        format!("{:.0}", recovery.longest_stall_seconds() * 1e3),
        format!("{:.0}", stats.longest_stall_ms),
        millis(since_kill(run.repaired_at)),
        relayed.map_or_else(|| "?".to_owned(), |bytes| bytes.to_string()),
    ]);
    table
}
