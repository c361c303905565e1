//! `trickles-lab exp failover`: the paper's server-failover figure. A client host and a server
//! host (`r0`, a pool of one serving Trickles and the HTTP baseline) across a shaped
//! bottleneck; one transfer per client, during which the server fails at `--kill-at` and is
//! repaired `--restart-delay` later. By default the failure is a SIGKILL of the process (its
//! kernel lives on and closes TCP connections) and the repair a new process (same key, address
//! and ports). With `--host-crash` the server's *host* crashes: its namespace, link, processes
//! and sockets are gone, so TCP's state is lost with it, and it boots again after
//! `--restart-delay` (1 s unless given). Clients: Trickles (`trickles-client get trickles://`,
//! unmodified), TCP with `--http-range-resume` (reconnects and asks for the rest; after a host
//! crash, which sends it nothing, also `--http-stall-resume 1`), and with `--host-crash` also
//! TCP without it (gives up after 5 s without progress).
//!
//! With `--replicas N` (N > 1) the Trickles client is given every replica (`--server` once
//! each, hosts `r0` .. `rN-1`): it ranks them, and the replica serving it is the one killed;
//! it moves to the next instead of waiting for the killed one's return. TCP still downloads
//! from `r0`, killed as before.
//!
//! Reported per client: bytes and SHA-256 against the served file, and the recovery
//! ([`crate::measure::recovery`]). Written: `failover.csv` (goodput per 100 ms bin),
//! `failover-samples.csv`, `failover-summary.csv`, `failover.png` / `.svg` (`failover-host-crash*`
//! with `--host-crash`).

use std::time::Duration;

use clap::Args;

use super::context::{BaseArgs, Context, EXPERIMENT_MSS};
use super::report::{millis, write_goodput_series, Report};
use super::results_table::ResultTable;
use super::tcp_congestion;
use crate::binaries::Profile;
use crate::byte_size::parse_byte_size;
use crate::error::Result;
use crate::measure::delivery::TraceEvent;
use crate::measure::recovery::{legend, RECOVERY_RULE};
use crate::observe;
use crate::pool::failover::{fetch_through_failover, FailoverRun};
use crate::pool::{FrontEnd, HostSetup, Pool, PoolSpec};
use crate::schedule::{Action, FailureSchedule, Target, Trigger};
use crate::service::client::ClientSpec;

/// The served file's name.
const FILE: &str = "failover.bin";

/// Flags of `trickles-lab exp failover` (defaults: the default size).
#[derive(Clone, Debug, Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub base: BaseArgs,
    /// Bottleneck rate toward the client, Mbit/s (a token bucket where the router forwards).
    #[arg(long, default_value_t = 50.0)]
    pub rate_mbit: f64,
    /// The bottleneck's queue (the token bucket's limit).
    #[arg(long, default_value = "128KiB", value_parser = parse_byte_size)]
    pub queue: u64,
    /// Size of the served file (at the default rate: 20 s of transfer).
    #[arg(long, default_value = "125MB", value_parser = parse_byte_size)]
    pub size: u64,
    /// Seconds after the client's start when the server fails.
    #[arg(long, default_value_t = 10.0)]
    pub kill_at: f64,
    /// Seconds between the failure and the repair (default: 0 for a process, 1 for a host).
    #[arg(long)]
    pub restart_delay: Option<f64>,
    /// Crash the server's host (link, processes, kernel state) instead of killing its process.
    #[arg(long)]
    pub host_crash: bool,
    /// Replicas the Trickles client chooses among (`--server` once each); the one serving it
    /// fails.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub replicas: u8,
    /// Kernel TCP congestion control, set in every namespace of the testbed.
    #[arg(long, default_value = "reno")]
    pub tcp_cc: String,
    /// Seed of the served file's pseudo-random content.
    #[arg(long, default_value_t = 2005)]
    pub seed: u64,
    /// Seconds one transfer may take before the run fails.
    #[arg(long, default_value_t = 120.0)]
    pub transfer_limit: f64,
    /// Run a real Prometheus in the router scraping the server and each client, and draw the
    /// failover overview of each client's run (`failover-overview-CLIENT.png`).
    #[arg(long)]
    pub observe: bool,
}

impl FailoverArgs {
    /// The reduced size CI runs: 20 Mbit/s, 16 MB, failure at 2.5 s (7 to 9 s per transfer).
    pub fn reduced(base: BaseArgs) -> Self {
        FailoverArgs {
            base,
            rate_mbit: 20.0,
            queue: 128 << 10,
            size: 16_000_000,
            kill_at: 2.5,
            restart_delay: None,
            host_crash: false,
            replicas: 1,
            tcp_cc: "reno".to_owned(),
            seed: 2005,
            transfer_limit: 60.0,
            observe: false,
        }
    }

    fn schedule(&self, target: Target) -> FailureSchedule {
        let (fail, repair, delay) = match self.host_crash {
            false => (
                Action::Kill as fn(Target) -> Action,
                Action::Restart as fn(_) -> _,
                0.0,
            ),
            true => (
                Action::CrashHost as fn(Target) -> Action,
                Action::BootHost as fn(_) -> _,
                1.0,
            ),
        };
        FailureSchedule::at(Trigger::At(self.kill_at), fail(target.clone())).then(
            Trigger::After(self.restart_delay.unwrap_or(delay)),
            repair(target),
        )
    }
}

/// The clients compared.
const CLIENTS: [(&str, bool, bool); 3] = [
    // (label, over TCP, with range resume)
    ("Trickles", false, false),
    ("TCP (range resume)", true, true),
    ("TCP", true, false),
];

/// What `exp failover` measured and wrote.
#[derive(Clone, Debug)]
pub struct FailoverOutcome {
    /// One run per client, in [`CLIENTS`] order (TCP without range resume with `--host-crash`
    /// only).
    pub runs: Vec<(&'static str, FailoverRun)>,
    /// The table and files.
    pub report: Report,
}

/// Runs the experiment, prints the table, writes the files.
pub fn run(args: &FailoverArgs) -> Result<FailoverOutcome> {
    super::check_kill_schedule(args.rate_mbit, args.size, args.kill_at, args.transfer_limit)?;
    let context = Context::new("failover", &args.base, Profile::Release)?;
    let expected = context.fixture.add_file(FILE, args.size, args.seed)?;
    let replicas = usize::from(args.replicas);
    let roles: Vec<String> = std::iter::once("client".to_owned())
        .chain((0..replicas).map(|i| format!("r{i}")))
        .collect();
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let topology = context.topology("failover", &roles)?;
    tcp_congestion::use_everywhere(topology.testbed()?, &args.tcp_cc)?;
    topology.shape_toward("client", (args.rate_mbit * 1e6) as u64, args.queue)?;
    let clients = if args.host_crash {
        &CLIENTS[..]
    } else {
        &CLIENTS[..2]
    };
    let stem = match (args.host_crash, replicas > 1) {
        (true, _) => "failover-host-crash",
        (false, true) => "failover-replicas",
        (false, false) => "failover",
    };
    let (mut runs, mut observer, mut dashboards) = (Vec::new(), None, Vec::new());
    for &(label, tcp, range_resume) in clients {
        let setup: HostSetup<'_> =
            Box::new(|topology, role| tcp_congestion::use_in(topology, role, &args.tcp_cc));
        let spec = PoolSpec {
            http_baseline: true,
            mss: Some(EXPERIMENT_MSS),
            ..PoolSpec::new(replicas, FrontEnd::Direct)
        };
        let mut pool = Pool::start_with(
            &context.binaries,
            &topology,
            &context.fixture,
            spec,
            Some(setup),
        )?;
        let name = label.to_ascii_lowercase().replace([' ', '(', ')'], "");
        let url = match tcp {
            false => pool.trickles_url(FILE),
            true => pool.http_url(FILE).unwrap_or_default(),
        };
        let mut client = ClientSpec::single(
            url,
            context.temp_path(&format!("{name}.download")),
            context.fixture.path(),
            &name,
        );
        client.idle_timeout = Duration::from_secs(30);
        client.range_resume = range_resume;
        let mut target = Target::Replica(0);
        if !tcp && replicas > 1 {
            client.servers = pool.replica_addrs().to_vec();
            target = Target::Serving;
        }
        let schedule = args.schedule(target);
        if args.host_crash && tcp {
            // A crashed host sends nothing, not even a reset, to a client that only receives:
            // TCP learns of it only by a timer. With range resume the client's best is a
            // download manager's: resume after 1 s without a byte. Without, it gives up after
            // 5 s (it cannot survive: the booted host has no state for its connection).
            client.stall_resume = range_resume.then_some(Duration::from_secs(1));
            client.idle_timeout = Duration::from_secs(if range_resume { 30 } else { 5 });
            client.allow_failure = !range_resume;
        }
        let (bins, host) = (&context.binaries, topology.host("client"));
        let started = match args.observe {
            true => observe::watch_pool(&mut observer, &topology, &pool, &mut client, &host)?,
            false => observe::unix_now(),
        };
        let limit = Duration::from_secs_f64(args.transfer_limit);
        let run =
            fetch_through_failover(bins, &mut pool, &host, client, &schedule, limit, &expected)?;
        if let Some(observer) = &observer {
            let path = context.result_path(&format!("{stem}-overview-{name}"));
            let drawn = observer.draw_overview(started, &path)?;
            dashboards.extend([drawn.files.png, drawn.files.svg]);
        }
        pool.stop()?;
        runs.push((label, run));
    }
    drop(observer);
    drop(topology);
    let traces: Vec<_> = runs.iter().map(|(l, r)| (*l, &r.transfer.trace)).collect();
    let what = match (args.host_crash, replicas > 1) {
        (true, _) => "server's host crashed",
        (false, true) => "serving replica SIGKILLed",
        (false, false) => "server SIGKILLed",
    };
    let markers = [TraceEvent {
        seconds: args.kill_at,
        label: what.to_owned(),
    }];
    let title = format!(
        "The {what} at {} s: goodput, {} Mbit/s bottleneck",
        args.kill_at, args.rate_mbit
    );
    let mut files = write_goodput_series(&context.result_path(stem), &title, &traces, &markers)?;
    files.extend(dashboards);
    let report = context.publish(
        table(&runs),
        &format!("{stem}-summary.csv"),
        &legend(RECOVERY_RULE),
        files,
    )?;
    Ok(FailoverOutcome { runs, report })
}

fn table(runs: &[(&str, FailoverRun)]) -> ResultTable {
    let mut table = ResultTable::new(&[
        "client",
        "bytes",
        "byte_exact",
        "seconds",
        "pre_kill_MBps",
        "drained_MB",
        "outage_ms",
        "resumed_after_ms",
        "recovered_after_ms",
        "time_lost_ms",
        "longest_stall_ms",
        "client_longest_stall_ms",
        "restarted_after_ms",
        "reconnects",
        "client_exit",
    ]);
    for (label, run) in runs {
        let (stats, recovery) = (&run.transfer.stats, &run.recovery);
        table.push(vec![
            (*label).to_owned(),
            stats.bytes.to_string(),
            if run.byte_exact { "yes" } else { "NO" }.to_owned(),
            format!("{:.2}", stats.seconds),
            format!("{:.2}", recovery.pre_kill_mb_per_s),
            format!("{:.2}", recovery.drained_bytes as f64 / 1e6),
            format!("{:.0}", recovery.outage_seconds() * 1e3),
            millis(Some(recovery.resumed_after)),
            millis(recovery.recovered_after),
            millis(recovery.time_lost),
            format!("{:.0}", recovery.longest_stall_seconds() * 1e3),
            format!("{:.0}", stats.longest_stall_ms),
            millis(run.repaired_at.map(|t| t - run.failed_at)),
            stats.reconnects.to_string(),
            run.transfer
                .failure
                .clone()
                .unwrap_or_else(|| "ok".to_owned()),
        ]);
    }
    table
}
