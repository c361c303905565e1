//! Command-line parsing (clap) and the glue from flags to [`trickles_client::fetch_parallel`]:
//! opening outputs, choosing the progress bar, writing `--stats-json`, printing errors.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use trickles_client::{
    fetch_parallel, BodySink, ClientError, ClientMetrics, DiscardSink, FetchOptions, MetricsServer,
    OutputFile, ParallelReport, ProgressBarReporter, SeekSink, StreamSink, TargetUrl,
};

/// Fetch trickles:// (Trickles over UDP) and http:// (HTTP/1.1 over TCP) URLs.
#[derive(Parser, Debug)]
#[command(name = "trickles-client", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Download a URL.
    Get(GetArgs),
}

#[derive(clap::Args, Debug)]
struct GetArgs {
    /// trickles://HOST:PORT/PATH or http://HOST[:PORT]/PATH (HOST: IPv4, [IPv6] or a name).
    url: String,
    /// Write the body to FILE ("-": stdout, the default). With --parallel N: FILE.0 .. FILE.N-1.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write transfer statistics as JSON to FILE ("-": stdout).
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Run N concurrent transfers of the same URL. Given at all (even as 1), bodies go to
    /// FILE.i (or nowhere without -o) and the stats JSON is the per-transfer + totals form.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    parallel: Option<u32>,
    /// Give up after SECS seconds without progress.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    timeout: Duration,
    /// No progress bar and no summary line.
    #[arg(short, long)]
    quiet: bool,
    /// HTTP only: after a connection error, reconnect and resume with a Range request.
    #[arg(long)]
    http_range_resume: bool,
    /// HTTP only, with --http-range-resume: treat SECS seconds without a body byte as a broken
    /// connection and resume on a new one (what a download manager does when a server's host
    /// crashed and nothing, not even a reset, reaches a client that is only receiving).
    #[arg(long, value_name = "SECS", requires = "http_range_resume", value_parser = parse_seconds)]
    http_stall_resume: Option<Duration>,
    /// Send to ADDR (IP:PORT, [IPv6]:PORT, or an IP with the URL's port) instead of the URL
    /// host's addresses. Repeat it for a service's replicas: a Trickles client probes them all,
    /// starts at the one that answers first and moves to the next when it fails, without losing
    /// its place in the stream.
    #[arg(long = "server", value_name = "ADDR")]
    servers: Vec<String>,
    /// Trickles only: send every datagram through the packet mirror at ADDR (trickles-mirror)
    /// and receive the answers through it.
    #[arg(long, value_name = "ADDR")]
    via: Option<std::net::SocketAddr>,
    /// With --via: tag datagrams with this key the mirror knows, ID:HEX (16-byte secret).
    #[arg(long, value_name = "ID:HEX", requires = "via",
          value_parser = trickles_netfn::AuthKey::from_flag)]
    via_key: Option<trickles_netfn::AuthKey>,
    /// Serve Prometheus metrics (delivered bytes, stalls, retransmissions, active transfers)
    /// on ADDR at /metrics while the transfers run, e.g. 127.0.0.1:9400.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

/// Runs the CLI; returns the process exit code.
pub fn run() -> i32 {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Get(args) => get(args),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}

fn get(args: GetArgs) -> Result<(), ClientError> {
    let url = TargetUrl::parse(&args.url)?;
    let parallel = args.parallel.map(|n| n as usize);
    let body_on_stdout = parallel.is_none() && args.output.as_deref().is_none_or(is_stdout);
    if args.stats_json.as_deref().is_some_and(is_stdout) && body_on_stdout {
        return Err(usage(
            "--stats-json - needs the body written elsewhere (-o FILE)",
        ));
    }
    let (sinks, outputs) = open_sinks(args.output.as_deref(), parallel)?;
    let via = args.via.map(|mirror| {
        let route = trickles_netfn::MirrorRoute::new(mirror);
        match args.via_key.clone() {
            Some(key) => route.with_key(key),
            None => route,
        }
    });
    let servers = args
        .servers
        .iter()
        .map(|text| parse_server(text, url.port))
        .collect::<Result<Vec<_>, _>>()?;
    let mut opts = FetchOptions {
        idle_timeout: args.timeout,
        servers,
        http_range_resume: args.http_range_resume,
        http_stall_resume: args.http_stall_resume,
        via,
        ..FetchOptions::default()
    };
    if !args.quiet && std::io::stderr().is_terminal() {
        opts.progress = Some(Arc::new(ProgressBarReporter::new(url.to_string())));
    }

    let _metrics_server = match args.metrics {
        Some(addr) => {
            let metrics = ClientMetrics::new()
                .map_err(|e| ClientError::Socket(std::io::Error::other(e.to_string())))?;
            let server = MetricsServer::start(addr, &metrics)?;
            tracing::info!(addr = %server.local_addr(), "serving metrics");
            opts.metrics = Some(metrics);
            Some(server)
        }
        None => None,
    };
    // On an error the outputs are dropped: their partial bodies go away.
    let report = fetch_parallel(&url, &opts, sinks)?;
    for output in outputs {
        output.commit()?;
    }
    if !args.quiet {
        eprintln!("{}", summary(&report));
    }
    if let Some(path) = &args.stats_json {
        write_stats(path, &report, parallel.is_some())?;
    }
    Ok(())
}

/// Sinks and the output files to commit once every transfer succeeded.
type Sinks = (Vec<Box<dyn BodySink>>, Vec<OutputFile>);

/// One sink per transfer: stdout or FILE for a plain get; FILE.i, or nothing, with --parallel.
/// Files are written under a temporary name ([`OutputFile`]).
fn open_sinks(output: Option<&Path>, parallel: Option<usize>) -> Result<Sinks, ClientError> {
    let file_sink = |path: &Path| {
        let (output, file) = OutputFile::create(path)?;
        let sink: Box<dyn BodySink> = Box::new(SeekSink::new(BufWriter::new(file)));
        Ok::<_, ClientError>((sink, output))
    };
    let Some(parallel) = parallel else {
        return match output {
            Some(path) if !is_stdout(path) => {
                let (sink, output) = file_sink(path)?;
                Ok((vec![sink], vec![output]))
            }
            _ => {
                let sink = StreamSink::new(BufWriter::new(std::io::stdout()));
                Ok((vec![Box::new(sink)], Vec::new()))
            }
        };
    };
    match output {
        None => Ok((
            (0..parallel)
                .map(|_| Box::new(DiscardSink) as Box<dyn BodySink>)
                .collect(),
            Vec::new(),
        )),
        Some(path) if is_stdout(path) => Err(usage(
            "--parallel writes one file per transfer: give -o FILE (or no -o to discard bodies)",
        )),
        Some(path) => {
            let (mut sinks, mut outputs) = (Vec::new(), Vec::new());
            for i in 0..parallel {
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".{i}"));
                let (sink, output) = file_sink(Path::new(&name))?;
                sinks.push(sink);
                outputs.push(output);
            }
            Ok((sinks, outputs))
        }
    }
}

/// The flat `TransferStats` for a plain get, the `ParallelReport` with --parallel.
fn write_stats(path: &Path, report: &ParallelReport, parallel: bool) -> Result<(), ClientError> {
    let json = match report.transfers.as_slice() {
        [single] if !parallel => serde_json::to_string_pretty(single),
        _ => serde_json::to_string_pretty(report),
    }
    .map_err(|e| ClientError::Output(e.into()))?;
    let write = |mut out: Box<dyn Write>| writeln!(out, "{json}").and_then(|()| out.flush());
    if is_stdout(path) {
        write(Box::new(std::io::stdout()))
    } else {
        File::create(path).and_then(|file| write(Box::new(file)))
    }
    .map_err(|e| ClientError::Output(with_path(path, e)))
}

fn summary(report: &ParallelReport) -> String {
    let totals = &report.totals;
    let mut line = format!(
        "{}: {} bytes in {:.3} s ({:.2} Mb/s)",
        report.url, totals.bytes, totals.seconds, totals.goodput_mbps
    );
    if report.parallel > 1 {
        line.push_str(&format!(", {} transfers", report.parallel));
    }
    if totals.retransmissions > 0 {
        line.push_str(&format!(", {} retransmissions", totals.retransmissions));
    }
    line
}

fn with_path(path: &Path, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A `--server` value: IP:PORT, [IPv6]:PORT, or an address alone with the URL's port.
fn parse_server(text: &str, url_port: u16) -> Result<std::net::SocketAddr, ClientError> {
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    text.parse()
        .or_else(|_| {
            bare.parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, url_port))
        })
        .map_err(|_| {
            usage(&format!(
                "--server {text}: expected IP:PORT, [IPv6]:PORT or an IP address"
            ))
        })
}

fn usage(reason: &str) -> ClientError {
    ClientError::Usage(reason.to_owned())
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds.is_finite() && seconds <= 1e9) {
        return Err("the timeout must be a positive number of seconds".to_owned());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_an_address_with_a_port_or_takes_the_urls() {
        let parse = |text| parse_server(text, 4433).map_err(|e| e.to_string());
        assert_eq!(parse("198.18.0.1:9"), Ok("198.18.0.1:9".parse().unwrap()));
        assert_eq!(parse("[2001:2::1]:9"), Ok("[2001:2::1]:9".parse().unwrap()));
        assert_eq!(parse("198.18.0.1"), Ok("198.18.0.1:4433".parse().unwrap()));
        assert_eq!(parse("2001:2::1"), Ok("[2001:2::1]:4433".parse().unwrap()));
        assert_eq!(
            parse("[2001:2::1]"),
            Ok("[2001:2::1]:4433".parse().unwrap())
        );
        let error = parse("replica-1").unwrap_err();
        assert!(
            error.contains("--server replica-1: expected IP:PORT"),
            "{error}"
        );
    }
}
