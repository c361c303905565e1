//! `trickles-lab exp pool`: a replica pool behind `trickles-balancer` (Maglev, relay or direct
//! return), each replica on its own host, the balancer on its own host (in relay mode its address
//! is the VIP), the client on a third, the client's link shaped. Mid-transfer, the replica serving the transfer (the
//! backend whose `to_backend` datagram counter grew, [`BackendCounters`]) is SIGKILLed; unless
//! `--no-restart`, a new process (same key, address and port) takes its place `--restart-after`
//! seconds later. The same unmodified client must finish byte-exact.
//!
//! Reported: bytes delivered and lost (SHA-256 against the served file; a differing download is
//! compared byte by byte), the stall (the client's `longest_stall_ms` and the delivery trace's,
//! [`super::recovery`]), which replica took over, when the balancer took the dead replica out of
//! its table. Written: `pool.csv` (goodput per 100 ms bin), `pool-samples.csv` (raw delivery
//! samples and events), `pool-summary.csv` (the table), `pool.png` / `.svg`.
//!
//! How fast the balancer drops the dead replica depends on the replica host's ICMP rate limit
//! (`--unlimited-icmp` turns it off): its health probe gets "port unreachable" only while the
//! host still has ICMP budget left, and the client datagrams relayed to the dead port spend it.
//!
//! `--mode relay` (default): the balancer's host address is the VIP and replies come back
//! through it. `--mode direct-return`: the VIP is a separate address ([`DSR_VIP_V4`],
//! [`DSR_VIP_V6`]) on the balancer's loopback, routed to it by the router, and on every replica's
//! loopback too (with `arp_ignore`/`arp_announce`, and `accept_local`, since the balancer
//! forwards from the VIP the replica also holds); replicas run `--dsr-vip VIP` and answer the
//! client straight from the VIP, so the data never crosses the balancer
//! (docs/NETWORK-FUNCTIONS.md §3.1).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::backend_counters::BackendCounters;
use super::context::{BaseArgs, Context, TRICKLES_PORT};
use super::recovery::{analyse, legend, Recovery, RECOVERY_RULE};
use super::results_table::ResultTable;
use super::tcp_congestion;
use super::timed_transfer::{run_timed_transfer, TimedTransfer};
use crate::balancer_process::{BalancerPolicy, BalancerProcess, BalancerSpec};
use crate::binaries::Profile;
use crate::byte_size::parse_byte_size;
use crate::client_process::ClientSpec;
use crate::delivery_trace::write_throughput_csv;
use crate::error::{LabError, Result};
use crate::plot::{write_throughput_series_plot, PlotFiles, ThroughputSeries};
use crate::server_process::{ServerProcess, ServerSpec};
use crate::test_file::sha256_file;
use crate::testbed::{Family, Host, StarTestbed};

/// The served file's name.
const FILE: &str = "pool.bin";
/// Width of the goodput bins in the CSV and the plot.
const BIN_SECONDS: f64 = 0.1;
/// The balancer's metrics port, on its namespace's loopback.
const BALANCER_METRICS_PORT: u16 = 9300;
/// A replica's metrics port, on its namespace's loopback.
const REPLICA_METRICS_PORT: u16 = 9100;
/// How often the balancer's table is looked at between the kill and the replica leaving it.
const TABLE_POLL: Duration = Duration::from_millis(25);
/// The client's `--timeout`.
const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The direct-return VIP (IPv4): in 198.18.0.0/15, outside the testbed's link subnets.
pub const DSR_VIP_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 100);
/// The direct-return VIP (IPv6): in 2001:2::/48, outside the testbed's link subnets.
pub const DSR_VIP_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 0x100);

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
        }
    }

    fn validate(&self) -> Result<()> {
        if !(2..=20).contains(&self.replicas) {
            return Err(LabError::Usage(
                "--replicas must be 2 to 20: one must survive the kill".to_owned(),
            ));
        }
        super::timed_transfer::check_kill_schedule(
            self.rate_mbit,
            self.size,
            self.kill_at,
            self.transfer_limit,
            "--restart-after",
            self.restart_after,
        )
    }
}

/// What `exp pool` measured and wrote.
#[derive(Clone, Debug)]
pub struct PoolOutcome {
    /// How replies reached the client.
    pub mode: ForwardingMode,
    /// Reply bytes the balancer relayed to the client (`to_client`, all backends): the whole
    /// download in relay mode, none in direct-return mode. `None` if the metrics were not read.
    pub relayed_reply_bytes: Option<u64>,
    /// The client's statistics and the delivery trace (with the events).
    pub transfer: TimedTransfer,
    /// Whether the output and the client's digest are the served file's.
    pub byte_exact: bool,
    /// Served bytes missing from the download or different in it (0 when byte-exact).
    pub bytes_lost: u64,
    /// The replica killed (the one serving the transfer at the kill).
    pub killed_replica: usize,
    /// Seconds after the client's start when it was killed.
    pub killed_at: f64,
    /// Seconds after the kill when the balancer's table no longer had it (if seen).
    pub out_of_table_after: Option<f64>,
    /// The replica that served the transfer after the kill (until the restart, if any).
    pub took_over: Option<usize>,
    /// Seconds after the client's start when the new process was healthy, if restarted.
    pub restarted_at: Option<f64>,
    /// The replica that served the transfer after the restart.
    pub after_restart: Option<usize>,
    /// The recovery read off the trace.
    pub recovery: Recovery,
    /// The summary table (also printed).
    pub table: ResultTable,
    /// `pool.csv`.
    pub csv: PathBuf,
    /// `pool.png` / `.svg`.
    pub plot: PlotFiles,
    /// The kept temporary directory (`--keep-temp`).
    pub kept: Option<PathBuf>,
}

/// What happened during the transfer, as the callback saw it.
#[derive(Default)]
struct KillRecord {
    victim: Option<usize>,
    killed_at: Option<f64>,
    out_of_table_at: Option<f64>,
    last_table_poll: Option<Instant>,
    restarted_at: Option<f64>,
    at_kill: Option<BackendCounters>,
    at_restart: Option<BackendCounters>,
}

/// Runs the experiment, prints the table, writes the files.
pub fn run(args: &PoolArgs) -> Result<PoolOutcome> {
    args.validate()?;
    let mode = args.mode;
    let context = Context::new("pool", &args.base, Profile::Release, true)?;
    let expected_sha256 = context.fixture.add_file(FILE, args.size, args.seed)?;
    let replica_roles: Vec<String> = (0..args.replicas).map(|i| format!("r{i}")).collect();
    let mut roles = vec!["client", "balancer"];
    roles.extend(replica_roles.iter().map(String::as_str));
    let testbed = StarTestbed::build(&roles)?;
    tcp_congestion::use_everywhere(&testbed, &args.tcp_cc)?;
    testbed.shape_toward("client", (args.rate_mbit * 1e6) as u64, args.queue)?;

    if args.unlimited_icmp {
        for role in &replica_roles {
            let namespace = testbed.host(role).namespace();
            namespace.sysctl("net.ipv4.icmp_ratelimit", "0")?;
            namespace.sysctl("net.ipv6.icmp.ratelimit", "0")?;
        }
    }
    let replica_hosts: Vec<&Host> = replica_roles.iter().map(|r| testbed.host(r)).collect();
    let vip = match mode {
        ForwardingMode::Relay => SocketAddr::new(
            testbed.host("balancer").address(context.family),
            TRICKLES_PORT,
        ),
        ForwardingMode::DirectReturn => place_dsr_vip(&testbed, &replica_hosts, context.family)?,
    };
    let mut replicas: Vec<Option<ServerProcess>> = Vec::with_capacity(args.replicas);
    for (i, host) in replica_hosts.iter().enumerate() {
        replicas.push(Some(start_replica(&context, host, vip, mode, i, 0)?));
    }
    let balancer_spec = BalancerSpec {
        vip,
        metrics: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), BALANCER_METRICS_PORT),
        policy: BalancerPolicy::Maglev,
        backends: replica_hosts
            .iter()
            .map(|host| SocketAddr::new(host.address(context.family), TRICKLES_PORT))
            .collect(),
        upstreams: Vec::new(),
        direct_return: mode == ForwardingMode::DirectReturn,
        config: context.temp_path("balancer.yaml"),
        log: context.temp_path("balancer.log"),
    };
    let mut balancer = BalancerProcess::start_in(
        &context.binaries,
        balancer_spec,
        Some(&testbed.host("balancer").handle()),
    )?;

    let output = context.temp_path("pool.download");
    let client = ClientSpec {
        idle_timeout: CLIENT_IDLE_TIMEOUT,
        ..ClientSpec::single(
            format!("trickles://{vip}/{FILE}"),
            output.clone(),
            context.fixture.path(),
            "pool-client",
        )
    };
    let restart_after = (!args.no_restart).then_some(args.restart_after);
    let mut record = KillRecord::default();
    let transfer = run_timed_transfer(
        &context.binaries,
        client,
        &[],
        &testbed.host("client").handle(),
        Duration::from_secs_f64(args.transfer_limit),
        |timeline| {
            let now = timeline.seconds();
            if record.killed_at.is_none() && now >= args.kill_at {
                let counters = BackendCounters::read(&balancer, args.replicas);
                let victim = counters
                    .as_ref()
                    .and_then(|c| c.busiest_since(&BackendCounters::zero(args.replicas)))
                    .ok_or_else(|| {
                        LabError::Usage(
                            "no replica has received the transfer's datagrams from the balancer"
                                .to_owned(),
                        )
                    })?;
                if let Some(mut process) = replicas[victim].take() {
                    process.kill_hard()?;
                }
                record.killed_at = Some(timeline.record(format!("r{victim} (serving) SIGKILLed")));
                record.victim = Some(victim);
                record.at_kill = counters;
            }
            if let (Some(_), None) = (record.killed_at, record.out_of_table_at) {
                let due = record
                    .last_table_poll
                    .is_none_or(|at| at.elapsed() >= TABLE_POLL);
                if due {
                    record.last_table_poll = Some(Instant::now());
                    if balancer
                        .backends_in_table()
                        .is_some_and(|(active, _)| active < args.replicas)
                    {
                        let victim = record.victim.unwrap_or(0);
                        record.out_of_table_at =
                            Some(timeline.record(format!("r{victim} out of the balancer's table")));
                    }
                }
            }
            if let (Some(kill), Some(victim), Some(after), None) = (
                record.killed_at,
                record.victim,
                restart_after,
                record.restarted_at,
            ) {
                if now >= kill + after {
                    replicas[victim] = Some(start_replica(
                        &context,
                        replica_hosts[victim],
                        vip,
                        mode,
                        victim,
                        1,
                    )?);
                    record.restarted_at =
                        Some(timeline.record(format!("r{victim} restarted (same key and port)")));
                    record.at_restart = BackendCounters::read(&balancer, args.replicas);
                }
            }
            balancer.check_running()?;
            for process in replicas.iter_mut().flatten() {
                process.check_running()?;
            }
            Ok(())
        },
    )?;
    let at_end = BackendCounters::read(&balancer, args.replicas);
    let relayed_reply_bytes = balancer.metrics().map(|text| relayed_reply_bytes(&text));
    let (Some(killed_at), Some(victim)) = (record.killed_at, record.victim) else {
        return Err(LabError::Usage(format!(
            "the transfer ended ({} bytes in {:.1} s) before the kill at {} s: raise --size or \
             lower --rate-mbit",
            transfer.stats.bytes, transfer.stats.seconds, args.kill_at
        )));
    };
    balancer.stop()?;
    for process in replicas.into_iter().flatten() {
        process.stop()?;
    }
    drop(testbed);

    let served = context.fixture.root().join(FILE);
    let output_sha256 = sha256_file(&output)?;
    let byte_exact = output_sha256 == expected_sha256 && transfer.stats.sha256 == expected_sha256;
    let bytes_lost = if byte_exact {
        0
    } else {
        bytes_missing_or_different(&served, &output)?
    };
    let _ = std::fs::remove_file(&output);
    let interval_end = record.at_restart.as_ref().or(at_end.as_ref());
    let took_over = match (interval_end, &record.at_kill) {
        (Some(end), Some(kill)) => end.busiest_since(kill),
        _ => None,
    };
    let after_restart = match (&at_end, &record.at_restart) {
        (Some(end), Some(restart)) => end.busiest_since(restart),
        _ => None,
    };
    let recovery = analyse(&transfer.trace, killed_at, RECOVERY_RULE);
    let mut outcome = PoolOutcome {
        mode,
        transfer,
        byte_exact,
        bytes_lost,
        killed_replica: victim,
        killed_at,
        out_of_table_after: record.out_of_table_at.map(|t| t - killed_at),
        took_over,
        restarted_at: record.restarted_at,
        after_restart,
        recovery,
        relayed_reply_bytes,
        table: ResultTable::new(&[]),
        csv: context.result_path("pool.csv"),
        plot: PlotFiles {
            png: PathBuf::new(),
            svg: PathBuf::new(),
            has_text: false,
        },
        kept: None,
    };
    outcome.table = summary_table(&outcome, args);
    write_throughput_csv(
        &outcome.transfer.trace.throughput(BIN_SECONDS),
        &outcome.csv,
    )?;
    outcome
        .transfer
        .trace
        .write_csv(&context.result_path("pool-samples.csv"))?;
    outcome
        .table
        .write_csv(&context.result_path("pool-summary.csv"))?;
    outcome.plot = write_plot(&outcome, args, &context.result_path("pool"))?;
    print!("{}", outcome.table.render());
    print!("{}", legend(RECOVERY_RULE));
    println!(
        "wrote {}, {}, {}",
        outcome.csv.display(),
        outcome.plot.png.display(),
        outcome.plot.svg.display()
    );
    outcome.kept = context.finish();
    if let Some(dir) = &outcome.kept {
        println!("kept {}", dir.display());
    }
    Ok(outcome)
}

/// Starts replica `index` in `host`: Trickles on `[address]:4433`, trusting the balancer at
/// `vip`, metrics on the namespace's loopback.
fn start_replica(
    context: &Context,
    host: &Host,
    vip: SocketAddr,
    mode: ForwardingMode,
    index: usize,
    start: usize,
) -> Result<ServerProcess> {
    let spec = ServerSpec {
        root: context.fixture.root().to_path_buf(),
        key_file: context.fixture.key_file().to_path_buf(),
        listen: vec![SocketAddr::new(host.address(context.family), TRICKLES_PORT)],
        tcp_listen: None,
        metrics: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), REPLICA_METRICS_PORT),
        balancers: vec![vip],
        workers: Some(1),
        // The server's default: the balancer's relay leg adds a 12-byte header.
        mss: None,
        dsr_vips: match mode {
            ForwardingMode::Relay => Vec::new(),
            ForwardingMode::DirectReturn => vec![vip],
        },
        log: context.temp_path(&format!("r{index}.{start}.log")),
    };
    ServerProcess::start_in(
        &context.binaries,
        spec,
        &format!("replica r{index}"),
        Some(&host.handle()),
    )
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

/// Direct return: the VIP on the balancer's loopback, routed to it by the router, and on every
/// replica's loopback, with the sysctls a replica holding the VIP needs; returns VIP:port.
fn place_dsr_vip(testbed: &StarTestbed, replicas: &[&Host], family: Family) -> Result<SocketAddr> {
    let vip = match family {
        Family::V4 => IpAddr::V4(DSR_VIP_V4),
        Family::V6 => IpAddr::V6(DSR_VIP_V6),
    };
    let balancer = testbed.host("balancer");
    balancer.add_loopback_address(vip)?;
    let prefix = match family {
        Family::V4 => format!("{vip}/32"),
        Family::V6 => format!("{vip}/128"),
    };
    testbed.router().ip(&[
        "route",
        "add",
        &prefix,
        "via",
        &balancer.address(family).to_string(),
    ])?;
    for replica in replicas {
        let namespace = replica.namespace();
        // The VIP is on lo: answer no ARP for it and never announce it as a source.
        namespace.sysctl("net.ipv4.conf.all.arp_ignore", "1")?;
        namespace.sysctl("net.ipv4.conf.all.arp_announce", "2")?;
        // The balancer forwards from the VIP the replica holds too: without accept_local the
        // kernel drops those IPv4 datagrams as martians.
        namespace.sysctl("net.ipv4.conf.all.accept_local", "1")?;
        namespace.sysctl("net.ipv4.conf.eth0.accept_local", "1")?;
        replica.add_loopback_address(vip)?;
    }
    Ok(SocketAddr::new(vip, TRICKLES_PORT))
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

fn millis(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| format!("{:.0}", s * 1e3))
}

fn replica(index: Option<usize>) -> String {
    index.map_or_else(|| "-".to_owned(), |i| format!("r{i}"))
}

fn summary_table(outcome: &PoolOutcome, args: &PoolArgs) -> ResultTable {
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
    let stats = &outcome.transfer.stats;
    table.push(vec![
        outcome.mode.label().to_owned(),
        if args.unlimited_icmp { "off" } else { "kernel" }.to_owned(),
        args.replicas.to_string(),
        stats.bytes.to_string(),
        outcome.bytes_lost.to_string(),
        if outcome.byte_exact { "yes" } else { "NO" }.to_owned(),
        format!("{:.2}", stats.seconds),
        replica(Some(outcome.killed_replica)),
        replica(outcome.took_over),
        replica(outcome.after_restart),
        millis(outcome.out_of_table_after),
        format!("{:.0}", outcome.recovery.outage_seconds() * 1e3),
        millis(Some(outcome.recovery.resumed_after)),
        millis(outcome.recovery.recovered_after),
        millis(outcome.recovery.time_lost),
        format!("{:.0}", outcome.recovery.longest_stall_seconds() * 1e3),
        format!("{:.0}", stats.longest_stall_ms),
        millis(outcome.restarted_at.map(|t| t - outcome.killed_at)),
        outcome
            .relayed_reply_bytes
            .map_or_else(|| "?".to_owned(), |bytes| bytes.to_string()),
    ]);
    table
}

fn write_plot(outcome: &PoolOutcome, args: &PoolArgs, stem: &Path) -> Result<PlotFiles> {
    let points = outcome.transfer.trace.throughput(BIN_SECONDS);
    let series = [ThroughputSeries {
        name: "Trickles through the balancer",
        points: &points,
    }];
    let title = format!(
        "{} replicas behind the balancer ({}), the serving one SIGKILLed: goodput, {} Mbit/s",
        args.replicas,
        outcome.mode.label(),
        args.rate_mbit
    );
    write_throughput_series_plot(stem, &title, &series, outcome.transfer.trace.events())
}
