//! `trickles-lab exp memory`: does the server's memory grow with its clients? (The paper's
//! first figure.) For each protocol and each client count N, a fresh `trickles-server` in the
//! server host serves one large file; one `trickles-client get --parallel N` in the clients host
//! starts N downloads of it through a bottleneck slow enough that none finishes; once they are
//! under way the lab samples, for a few seconds, the server's resident set (`VmRSS`) plus the
//! kernel memory of every socket in the server's namespace ([`super::socket_memory`]) and keeps
//! the peak. Trickles should stay flat (no per-connection state anywhere on the server); TCP
//! grows with N (a socket with its queues per connection).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::context::{start_server, url, BaseArgs, Context, Protocol};
use super::dumbbell::{Dumbbell, DumbbellSpec, CLIENTS, SERVER};
use super::report::Report;
use super::results_table::ResultTable;
use super::socket_memory::{socket_memory, sockstat_tcp_pages};
use super::xy_plot::{Series, XyPlot};
use crate::binaries::Profile;
use crate::byte_size::{format_bytes, parse_byte_size};
use crate::error::{LabError, Result};
use crate::http_probe::metric_value;
use crate::interrupt;
use crate::rss::resident_bytes;
use crate::service::client::{ClientProcess, ClientSpec};

/// Longest wait, after the settle time, for every TCP client to be connected.
const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// Flags of `trickles-lab exp memory`.
#[derive(Clone, Debug, Args)]
pub struct MemoryArgs {
    #[command(flatten)]
    pub base: BaseArgs,
    /// Concurrent clients at each point.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000,10000")]
    pub clients: Vec<u32>,
    /// Bottleneck toward the clients, Mbit/s (keeps every download running while sampling).
    #[arg(long, default_value_t = 100)]
    pub rate_mbit: u64,
    /// Size of the served file (every client fetches it; no download may finish while sampling).
    #[arg(long, default_value = "128MiB", value_parser = parse_byte_size)]
    pub file_size: u64,
    /// Seconds from the clients' start to the first sample.
    #[arg(long, default_value_t = 4.0)]
    pub settle_seconds: f64,
    /// Seconds of sampling (every 100 ms; the peak is kept).
    #[arg(long, default_value_t = 2.0)]
    pub sample_seconds: f64,
    /// Kernel TCP congestion control in the testbed.
    #[arg(long, default_value = "reno")]
    pub tcp_cc: String,
    /// Binaries' build profile (release for figures; the tests use debug).
    #[arg(skip = Profile::Release)]
    pub profile: Profile,
}

impl MemoryArgs {
    /// The reduced size CI runs: 1, 30 and 300 clients, debug binaries, short windows.
    pub fn reduced(out: PathBuf) -> Self {
        MemoryArgs {
            base: BaseArgs::for_tests(out),
            clients: vec![1, 30, 300],
            rate_mbit: 20,
            file_size: 16 << 20,
            settle_seconds: 2.5,
            sample_seconds: 1.0,
            tcp_cc: "reno".to_owned(),
            profile: Profile::Debug,
        }
    }
}

/// One measured point.
#[derive(Clone, Debug)]
pub struct MemoryPoint {
    /// Trickles or TCP.
    pub protocol: Protocol,
    /// Concurrent clients.
    pub clients: u32,
    /// Peak of server RSS + socket memory, bytes.
    pub total_bytes: u64,
    /// Server RSS at that peak, bytes.
    pub rss_bytes: u64,
    /// Kernel socket memory of the server's namespace at that peak, bytes.
    pub socket_bytes: u64,
    /// Established TCP connections in the server's namespace at that peak.
    pub tcp_established: u64,
    /// HELLOs the Trickles server answered (connections it started) by the end of sampling.
    pub trickles_hellos: u64,
    /// `/proc/net/sockstat` TCP `mem` (pages, machine-wide) at that peak.
    pub sockstat_tcp_pages: u64,
}

/// What the run measured and wrote.
#[derive(Debug)]
pub struct MemoryOutcome {
    /// Every point, Trickles first, then TCP, each in client order.
    pub points: Vec<MemoryPoint>,
    /// The table and files.
    pub report: Report,
}

impl MemoryOutcome {
    /// Largest over smallest total of `protocol` across the client counts.
    pub fn growth(&self, protocol: Protocol) -> f64 {
        growth(&self.points, protocol)
    }
}

/// Largest over smallest total of `protocol` across the client counts.
fn growth(points: &[MemoryPoint], protocol: Protocol) -> f64 {
    {
        let totals: Vec<f64> = points
            .iter()
            .filter(|p| p.protocol == protocol)
            .map(|p| p.total_bytes as f64)
            .collect();
        let first = totals.first().copied().unwrap_or(1.0).max(1.0);
        totals.last().copied().unwrap_or(first) / first
    }
}

/// Runs the experiment.
pub fn run(args: &MemoryArgs) -> Result<MemoryOutcome> {
    validate(args)?;
    let context = Context::new("memory", &args.base, args.profile)?;
    context.fixture.add_file("big.bin", args.file_size, 1)?;
    let testbed = Dumbbell::build(
        "trickles-lab exp memory",
        &DumbbellSpec {
            rate_bits: args.rate_mbit * 1_000_000,
            queue_bytes: 256 * 1024,
            tcp_cc: args.tcp_cc.clone(),
        },
        context.family,
    )?;
    let mut points = Vec::new();
    for protocol in Protocol::BOTH {
        for &clients in &args.clients {
            let point = measure(&context, &testbed, args, protocol, clients)?;
            eprintln!(
                "memory: {} {} clients: {}",
                protocol.label(),
                clients,
                format_bytes(point.total_bytes)
            );
            points.push(point);
        }
    }
    drop(testbed);

    let plot = figure(&points).write(&context.result_path("memory"))?;
    let growth = |protocol| growth(&points, protocol);
    let note = format!(
        "server memory, largest over smallest client count: Trickles {:.2}x, TCP {:.2}x\n",
        growth(Protocol::Trickles),
        growth(Protocol::Tcp)
    );
    let report = context.publish(
        table(&points),
        "memory.csv",
        &note,
        vec![plot.png, plot.svg],
    )?;
    Ok(MemoryOutcome { points, report })
}

fn validate(args: &MemoryArgs) -> Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        return Err(LabError::Usage(
            "--clients needs one or more counts above 0".to_owned(),
        ));
    }
    if !(args.settle_seconds > 0.0 && args.sample_seconds > 0.0 && args.rate_mbit > 0) {
        return Err(LabError::Usage(
            "--settle-seconds, --sample-seconds and --rate-mbit must be above 0".to_owned(),
        ));
    }
    Ok(())
}

/// One point: fresh server, N clients, settle, sample, stop both.
fn measure(
    context: &Context,
    testbed: &Dumbbell,
    args: &MemoryArgs,
    protocol: Protocol,
    clients: u32,
) -> Result<MemoryPoint> {
    let stem = format!("memory-{}-{clients}", protocol.label().to_lowercase());
    let server = start_server(context, &testbed.host(SERVER), &format!("{stem}-server"))?;
    let server_address = testbed.host(SERVER).address();
    let spec = ClientSpec {
        url: url(protocol, server_address, "big.bin"),
        output: None,
        stats_json: context.temp_path(&format!("{stem}.stats.json")),
        idle_timeout: Duration::from_secs(120),
        parallel: Some(clients),
        log: context.temp_path(&format!("{stem}-client.log")),
        ..ClientSpec::default()
    };
    let mut client = ClientProcess::start(&context.binaries, &testbed.host(CLIENTS), spec)?;

    let started = Instant::now();
    let settle = Duration::from_secs_f64(args.settle_seconds);
    let sample = Duration::from_secs_f64(args.sample_seconds);
    // TCP: sample once every client is connected (the connect storm of 10,000 clients takes a
    // while), but no later than CONNECT_WAIT after the settle time.
    let mut sampling_since: Option<Instant> = None;
    let mut peak: Option<MemoryPoint> = None;
    while sampling_since.is_none_or(|since| since.elapsed() < sample) {
        interrupt::check()?;
        if client.has_exited()? {
            return Err(LabError::Usage(format!(
                "the {} client with {clients} downloads ended while the lab was sampling: the \
                 file is too small for this rate (raise --file-size or lower --rate-mbit); log: {}",
                protocol.label(),
                client.spec().log.display()
            )));
        }
        if started.elapsed() >= settle {
            let sockets = socket_memory(testbed.server()?.namespace())?;
            if sampling_since.is_none()
                && (protocol == Protocol::Trickles
                    || sockets.tcp_established >= u64::from(clients)
                    || started.elapsed() >= settle + CONNECT_WAIT)
            {
                sampling_since = Some(Instant::now());
            }
            let rss = server.pid().and_then(resident_bytes).unwrap_or(0);
            let total = rss + sockets.bytes;
            if sampling_since.is_some() && peak.as_ref().is_none_or(|p| total > p.total_bytes) {
                peak = Some(MemoryPoint {
                    protocol,
                    clients,
                    total_bytes: total,
                    rss_bytes: rss,
                    socket_bytes: sockets.bytes,
                    tcp_established: sockets.tcp_established,
                    trickles_hellos: 0,
                    sockstat_tcp_pages: sockstat_tcp_pages(testbed.server()?.namespace())?,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut point = peak.expect("the sampling window is longer than zero");
    point.trickles_hellos = server
        .metrics()
        .and_then(|text| metric_value(&text, "trickles_server_hellos_total"))
        .unwrap_or(0.0) as u64;
    drop(client);
    drop(server);
    Ok(point)
}

fn table(points: &[MemoryPoint]) -> ResultTable {
    let mut table = ResultTable::new(&[
        "protocol",
        "clients",
        "total_mib",
        "rss_mib",
        "socket_mib",
        "tcp_established",
        "trickles_hellos",
        "sockstat_tcp_pages",
    ]);
    for p in points {
        table.push(vec![
            p.protocol.label().to_owned(),
            p.clients.to_string(),
            format!("{:.2}", mib(p.total_bytes)),
            format!("{:.2}", mib(p.rss_bytes)),
            format!("{:.2}", mib(p.socket_bytes)),
            p.tcp_established.to_string(),
            p.trickles_hellos.to_string(),
            p.sockstat_tcp_pages.to_string(),
        ]);
    }
    table
}

fn figure(points: &[MemoryPoint]) -> XyPlot {
    XyPlot {
        title: "Server memory against concurrent clients".to_owned(),
        x_label: "concurrent clients".to_owned(),
        y_label: "server RSS + socket memory (MiB)".to_owned(),
        log_x: true,
        series: Series::per_protocol(
            points,
            |p| p.protocol,
            |p| (f64::from(p.clients), mib(p.total_bytes)),
        ),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
