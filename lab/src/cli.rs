//! The command line of `trickles-lab` (clap) and the glue from flags to the scenarios.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use trickles_lab::bench_rss::{self, RssBenchOptions, RssWorkload};
use trickles_lab::bench_transfer::{self, TransferBenchOptions};
use trickles_lab::binaries::{Binaries, Profile};
use trickles_lab::byte_size::parse_byte_size;
use trickles_lab::chain::{self, ChainOptions};
use trickles_lab::demo::{self, DemoOptions};
use trickles_lab::demo_report;
use trickles_lab::experiments::{self, command::ExperimentCommand};
use trickles_lab::pool::FrontEnd;
use trickles_lab::quic;
use trickles_lab::service::balancer::{ModeFile, PolicyFile};
use trickles_lab::service::mirror::EmulatedWan;
use trickles_lab::Result;

/// The trickles lab: runs trickles-server and trickles-client as real processes on loopback.
#[derive(Debug, Parser)]
#[command(name = "trickles-lab", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Loopback demo (no root): client → mirror (10 ms each way) → balancer → 3 replicas; the
    /// replica serving the download is SIGKILLed mid-transfer and replaced; the client finishes
    /// byte-exact. Prints the timeline and the stall, writes CSV and a throughput plot.
    Demo(DemoArgs),
    /// Loopback chain (no root): client → mirror (delay, loss) → balancer → 3 replicas, N
    /// concurrent downloads while a random replica is SIGKILLed and restarted every few seconds.
    Chain(ChainArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Experiments of the Trickles paper on network-namespace testbeds, Trickles against
    /// kernel TCP in the same run; CSV and plots into --out. Need root.
    #[command(subcommand)]
    Exp(ExperimentCommand),
    /// The QUIC baseline's server (`bench transfer` starts it): serves one file until killed.
    #[command(hide = true)]
    QuicServe(QuicServeArgs),
    /// The QUIC baseline's client (`bench transfer` starts it): fetches the file once.
    #[command(hide = true)]
    QuicGet(QuicGetArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Whole-transfer goodput and CPU time: Trickles against kernel TCP (HTTP baseline, same
    /// client) and against QUIC (quinn), alternating per run, every body checked by SHA-256.
    Transfer(TransferArgs),
    /// Server RSS during N concurrent downloads, for each N.
    Rss(RssArgs),
}

/// Flags every subcommand has.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Loopback address to run on (127.0.0.1 or ::1).
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_loopback)]
    ip: IpAddr,
    /// Directory holding trickles-server and trickles-client (default: build them in release
    /// mode with cargo when the workspace is here, else look next to this executable).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Size of the served file.
    #[arg(long, default_value = "64MiB", value_parser = parse_byte_size)]
    size: u64,
    /// Seed of the file's pseudo-random content.
    #[arg(long, default_value_t = 2005)]
    seed: u64,
    /// Kill the replica when this fraction of the file has been delivered.
    #[arg(long, default_value = "0.333")]
    kill_at: f64,
    /// Seconds between the kill and the start of the replacement.
    #[arg(long, default_value = "1", value_parser = parse_seconds)]
    restart_after: Duration,
    /// UDP port of the replica, or of the first replica behind a front end (default: an
    /// ephemeral one).
    #[arg(long)]
    port: Option<u16>,
    /// What the client talks to.
    #[arg(long, value_enum, default_value = "mirror-balancer")]
    front_end: FrontEndArg,
    /// The balancer's policy (with a balancer front end).
    #[arg(long, value_enum, default_value = "maglev")]
    policy: PolicyArg,
    /// Replicas behind the front end (not with --front-end direct, which has one).
    #[arg(long, default_value_t = demo::DEFAULT_REPLICAS)]
    replicas: usize,
    /// The mirror's one-way delay in each direction, milliseconds (with mirror-balancer).
    #[arg(long, default_value_t = demo::DEFAULT_WAN_DELAY_MS)]
    delay_ms: f64,
    /// The mirror's loss probability in each direction (with mirror-balancer).
    #[arg(long, default_value_t = demo::DEFAULT_WAN_LOSS)]
    loss: f64,
    /// Where the CSV and plots go.
    #[arg(long, default_value = "results/demo")]
    out: PathBuf,
    /// Keep the temporary directory (key, file, logs, download) and print its path.
    #[arg(long)]
    keep_temp: bool,
    /// Run a real Prometheus (Debian package `prometheus`) scraping every component, and draw
    /// the failover overview dashboard from its answers into OUT/failover-overview.png/.svg.
    #[arg(long)]
    observe: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value = "120", value_parser = parse_seconds)]
    limit: Duration,
}

#[derive(Debug, Args)]
struct ChainArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Concurrent downloads (the client's --parallel).
    #[arg(long, default_value_t = 50)]
    clients: u32,
    /// Size of the served file each client downloads.
    #[arg(long, default_value = "4MiB", value_parser = parse_byte_size)]
    size: u64,
    /// The mirror's one-way delay in each direction, milliseconds.
    #[arg(long, default_value_t = 40.0)]
    delay_ms: f64,
    /// The mirror's loss probability in each direction.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Seconds between two kills of a random replica.
    #[arg(long, default_value = "2", value_parser = parse_seconds)]
    kill_every: Duration,
    /// Seconds between a kill and the restart of that replica.
    #[arg(long, default_value = "0.5", value_parser = parse_seconds)]
    restart_after: Duration,
    /// Seed of the file, the kill schedule and the mirror's draws.
    #[arg(long, default_value_t = 2005)]
    seed: u64,
    /// Keep the temporary directory (configurations, logs) and print its path.
    #[arg(long)]
    keep_temp: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value = "120", value_parser = parse_seconds)]
    duration_limit: Duration,
}

#[derive(Debug, Args)]
struct TransferArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Size of the file.
    #[arg(long, default_value = "256MiB", value_parser = parse_byte_size)]
    size: u64,
    /// Runs of each protocol (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where the CSV goes.
    #[arg(long, default_value = "results/bench-transfer")]
    out: PathBuf,
    /// Seconds one transfer may take.
    #[arg(long, default_value = "300", value_parser = parse_seconds)]
    transfer_limit: Duration,
    /// Stream bytes per Trickles data packet (the server's `--mss`; default: the server's,
    /// 1200). QUIC keeps quinn's own MTU discovery either way.
    #[arg(long)]
    mss: Option<usize>,
}

#[derive(Debug, Args)]
struct QuicServeArgs {
    /// UDP address to listen on (port 0: a free one; the log says which).
    #[arg(long)]
    listen: SocketAddr,
    /// The file served.
    #[arg(long)]
    file: PathBuf,
    /// Where the self-signed certificate (DER) is written.
    #[arg(long)]
    cert_out: PathBuf,
}

#[derive(Debug, Args)]
struct QuicGetArgs {
    /// The server's address.
    #[arg(long)]
    server: SocketAddr,
    /// The server's certificate (DER), the only one trusted.
    #[arg(long)]
    cert: PathBuf,
    /// The file's name.
    #[arg(long)]
    path: String,
    /// Where the body goes (default: discarded; it is hashed either way).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The statistics, as `trickles-client --stats-json` writes them.
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Seconds without a new byte before giving up.
    #[arg(long, default_value = "20", value_parser = parse_seconds)]
    timeout: Duration,
}

#[derive(Debug, Args)]
struct RssArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "10,2000", value_delimiter = ',')]
    clients: Vec<u32>,
    /// Size of the file every transfer fetches.
    #[arg(long, default_value = "1MiB", value_parser = parse_byte_size)]
    file_size: u64,
    /// Instead of --file-size: bytes moved in all at each N (each client fetches TOTAL/N), so
    /// every step makes the same number of requests.
    #[arg(long, value_parser = parse_byte_size, conflicts_with = "file_size")]
    total: Option<u64>,
    /// Start a new server process for every step (by default one process serves all steps,
    /// so later steps inherit the memory earlier ones touched).
    #[arg(long)]
    fresh_server: bool,
    /// Where the CSV goes.
    #[arg(long, default_value = "results/bench-rss")]
    out: PathBuf,
    /// Seconds one concurrency level may take.
    #[arg(long, default_value = "600", value_parser = parse_seconds)]
    step_limit: Duration,
    /// The client's --timeout: seconds without progress before a transfer fails.
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    idle_timeout: Duration,
}

impl Cli {
    /// Whether this is `quic-serve` or `quic-get` (run by the lab, not waiting on children).
    pub fn is_quic_program(&self) -> bool {
        matches!(self.command, Command::QuicServe(_) | Command::QuicGet(_))
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => run_demo(args),
        Command::Chain(args) => run_chain(args),
        Command::Bench(BenchCommand::Transfer(args)) => run_transfer(args),
        Command::Bench(BenchCommand::Rss(args)) => run_rss(args),
        Command::Exp(command) => experiments::command::run(&command),
        Command::QuicServe(args) => quic::server::serve(&quic::server::ServeOptions {
            listen: args.listen,
            file: args.file,
            cert_out: args.cert_out,
        }),
        Command::QuicGet(args) => quic::client::get(&quic::client::GetOptions {
            server: args.server,
            cert: args.cert,
            path: args.path,
            output: args.output,
            idle_timeout: args.timeout,
            stats_json: args.stats_json,
        })
        .map(|_| ()),
    }
}

fn binaries(common: &CommonArgs) -> Result<Binaries> {
    let binaries = Binaries::locate(common.bin_dir.as_deref(), Profile::Release)?;
    let mut using = vec![&binaries.server, &binaries.client];
    using.extend(binaries.balancer.iter().chain(&binaries.mirror));
    let using: Vec<String> = using.iter().map(|p| p.display().to_string()).collect();
    eprintln!("using {}", using.join(", "));
    Ok(binaries)
}

fn run_demo(args: DemoArgs) -> Result<()> {
    let wan = EmulatedWan {
        delay_ms: args.delay_ms,
        loss: args.loss,
        seed: args.seed,
    };
    let (front_end, replicas) = match args.front_end {
        FrontEndArg::Direct => (FrontEnd::Direct, 1),
        FrontEndArg::Relay => (FrontEnd::AlternatingRelay, args.replicas),
        FrontEndArg::Balancer => (
            FrontEnd::Balancer(args.policy.into(), ModeFile::Relay),
            args.replicas,
        ),
        FrontEndArg::MirrorBalancer => (
            FrontEnd::MirroredBalancer(args.policy.into(), wan),
            args.replicas,
        ),
    };
    let binaries = binaries(&args.common)?;
    let opts = DemoOptions {
        size: args.size,
        seed: args.seed,
        kill_at: args.kill_at,
        restart_after: args.restart_after,
        front_end,
        replicas,
        ip: args.common.ip,
        port: args.port,
        out_dir: args.out,
        keep_temp: args.keep_temp,
        limit: args.limit,
        observe: args.observe,
    };
    let outcome = demo::run_demo(&binaries, &opts)?;
    print!("{}", demo_report::report(&outcome));
    Ok(())
}

fn run_chain(args: ChainArgs) -> Result<()> {
    let binaries = binaries(&args.common)?;
    let opts = ChainOptions {
        ip: args.common.ip,
        clients: args.clients,
        size: args.size,
        seed: args.seed,
        wan: EmulatedWan {
            delay_ms: args.delay_ms,
            loss: args.loss,
            seed: args.seed,
        },
        kill_every: args.kill_every,
        restart_after: args.restart_after,
        idle_timeout: Duration::from_secs(30),
        limit: args.duration_limit,
        keep_temp: args.keep_temp,
    };
    let report = chain::run_chain(&binaries, &opts)?;
    print!("{report}");
    Ok(())
}

fn run_transfer(args: TransferArgs) -> Result<()> {
    let binaries = binaries(&args.common)?;
    let opts = TransferBenchOptions {
        size: args.size,
        runs: args.runs,
        ip: args.common.ip,
        out_dir: args.out,
        transfer_limit: args.transfer_limit,
        mss: args.mss,
        quic_program: std::env::current_exe()
            .map_err(|e| trickles_lab::LabError::io("current executable", e))?,
    };
    let outcome = bench_transfer::run_transfer_bench(&binaries, &opts)?;
    print!("{}", bench_transfer::report(&outcome, &opts));
    Ok(())
}

fn run_rss(args: RssArgs) -> Result<()> {
    let binaries = binaries(&args.common)?;
    let opts = RssBenchOptions {
        clients: args.clients,
        workload: match args.total {
            Some(total) => RssWorkload::TotalPerStep(total),
            None => RssWorkload::FilePerClient(args.file_size),
        },
        ip: args.common.ip,
        out_dir: args.out,
        step_limit: args.step_limit,
        idle_timeout: args.idle_timeout,
        fresh_server: args.fresh_server,
    };
    let outcome = bench_rss::run_rss_bench(&binaries, &opts)?;
    print!("{}", bench_rss::report(&outcome, &opts));
    Ok(())
}

/// `--front-end`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FrontEndArg {
    /// The client talks to one replica, which is killed and replaced.
    Direct,
    /// The lab's relay sends each client datagram to the next of --replicas replicas in turn.
    Relay,
    /// The client talks to a trickles-balancer VIP in front of --replicas replicas.
    Balancer,
    /// The client sends through a trickles-mirror (--delay-ms, --loss) to that balancer.
    MirrorBalancer,
}

/// `--policy`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PolicyArg {
    /// Consistent hashing on the connection id: the connection sticks to one replica.
    Maglev,
    /// Every datagram to the next replica: one connection served by all.
    RoundRobin,
    /// Every datagram to the least loaded replica.
    LeastLoaded,
}

impl From<PolicyArg> for PolicyFile {
    fn from(policy: PolicyArg) -> Self {
        match policy {
            PolicyArg::Maglev => PolicyFile::Maglev,
            PolicyArg::RoundRobin => PolicyFile::RoundRobin,
            PolicyArg::LeastLoaded => PolicyFile::LeastLoaded,
        }
    }
}

fn parse_loopback(text: &str) -> std::result::Result<IpAddr, String> {
    let ip: IpAddr = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address"))?;
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(format!(
            "{ip} is not a loopback address: the lab runs on 127.0.0.1 or ::1 only"
        ))
    }
}

fn parse_seconds(text: &str) -> std::result::Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{text:?} is out of range (0 to 86400 seconds)"))
    }
}
