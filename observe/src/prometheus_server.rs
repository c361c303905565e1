//! [`PrometheusServer`]: a real Prometheus started from a temporary directory (its own
//! configuration and TSDB), scraping the targets it is given, and asked over its HTTP API
//! (`/api/v1/query`, `/api/v1/query_range`, `/api/v1/alerts`). Stopped (and its directory
//! removed) when dropped.
//!
//! ```no_run
//! use trickles_observe::{PrometheusServer, ScrapeJob};
//! let prometheus = PrometheusServer::start(&[ScrapeJob::new("trickles-balancer", vec![
//!     "127.0.0.1:9300".parse().unwrap(),
//! ])], &[], std::time::Duration::from_secs(1))?;
//! let answer = prometheus.query("trickles_balancer_backends_in_table")?;
//! println!("{} series", answer.series());
//! # Ok::<(), trickles_observe::ObserveError>(())
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{ObserveError, Result};
use crate::tools::find_program;

/// How long to wait for Prometheus to say it is ready (it replays an empty TSDB: seconds at
/// most, even on a loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Time allowed for one API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One scrape job: a name and its static targets (`/metrics` on each).
#[derive(Clone, Debug)]
pub struct ScrapeJob {
    /// `job_name` (and so the `job` label).
    pub name: String,
    /// Host:port of each target.
    pub targets: Vec<SocketAddr>,
}

impl ScrapeJob {
    /// A job scraping `targets`.
    pub fn new(name: impl Into<String>, targets: Vec<SocketAddr>) -> Self {
        ScrapeJob {
            name: name.into(),
            targets,
        }
    }
}

/// The answer of an instant or range query.
#[derive(Clone, Debug)]
pub struct QueryAnswer {
    /// `vector`, `matrix`, `scalar` or `string`.
    pub result_type: String,
    /// The `result` of the answer.
    pub result: Value,
}

impl QueryAnswer {
    /// Series in a vector or matrix answer (1 for a scalar).
    pub fn series(&self) -> usize {
        match &self.result {
            Value::Array(items) if self.result_type != "scalar" => items.len(),
            _ => 1,
        }
    }
}

/// A running Prometheus.
#[derive(Debug)]
pub struct PrometheusServer {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| ObserveError::Prometheus(format!("no free port: {e}")))?;
    listener
        .local_addr()
        .map_err(|e| ObserveError::Prometheus(format!("no free port: {e}")))
}

/// The configuration file's text.
pub fn config_text(jobs: &[ScrapeJob], rule_files: &[PathBuf], interval: Duration) -> String {
    let ms = interval.as_millis().max(1);
    let mut text = format!(
        "global:\n  scrape_interval: {ms}ms\n  scrape_timeout: {ms}ms\n  evaluation_interval: {ms}ms\n"
    );
    if !rule_files.is_empty() {
        text.push_str("rule_files:\n");
        for file in rule_files {
            text.push_str(&format!("  - {:?}\n", file.display().to_string()));
        }
    }
    text.push_str("scrape_configs:\n");
    for job in jobs {
        let targets: Vec<String> = job
            .targets
            .iter()
            .map(|t| format!("{:?}", t.to_string()))
            .collect();
        text.push_str(&format!(
            "  - job_name: {:?}\n    static_configs:\n      - targets: [{}]\n",
            job.name,
            targets.join(", ")
        ));
    }
    text
}

impl PrometheusServer {
    /// Start Prometheus scraping `jobs` every `interval` and evaluating `rule_files` as often;
    /// returns once it answers `/-/ready`.
    pub fn start(jobs: &[ScrapeJob], rule_files: &[PathBuf], interval: Duration) -> Result<Self> {
        let program = find_program("prometheus")?;
        let dir = tempfile::tempdir()
            .map_err(|e| ObserveError::Prometheus(format!("temporary directory: {e}")))?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_text(jobs, rule_files, interval)).map_err(|source| {
            ObserveError::Io {
                path: config.clone(),
                source,
            }
        })?;
        let log = dir.path().join("prometheus.log");
        let log_file = std::fs::File::create(&log).map_err(|source| ObserveError::Io {
            path: log.clone(),
            source,
        })?;
        let addr = free_port()?;
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| ObserveError::Prometheus(format!("cannot start: {e}")))?;
        let mut server = PrometheusServer { child, addr, dir };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ObserveError::Prometheus(format!(
                    "exited ({status}) before it was ready: {}",
                    self.log()
                )));
            }
            if let Ok(answer) =
                trickles_netfn::http_get(self.addr, "/-/ready", Duration::from_secs(2))
            {
                if answer.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(ObserveError::Prometheus(format!(
                    "not ready within {READY_WITHIN:?}: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What Prometheus logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Its HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn api(&self, path_and_query: &str) -> Result<Value> {
        let answer = trickles_netfn::http_get(self.addr, path_and_query, REQUEST_TIMEOUT)
            .map_err(|e| ObserveError::Prometheus(format!("GET {path_and_query}: {e}")))?;
        let json: Value = serde_json::from_str(&answer.body).map_err(|e| {
            ObserveError::Prometheus(format!(
                "GET {path_and_query}: HTTP {} and no JSON ({e}): {}",
                answer.status, answer.body
            ))
        })?;
        if json["status"] != "success" {
            return Err(ObserveError::Prometheus(format!(
                "{}: {}",
                json["errorType"].as_str().unwrap_or("error"),
                json["error"].as_str().unwrap_or(&answer.body)
            )));
        }
        Ok(json["data"].clone())
    }

    /// Evaluate `expr` now (`/api/v1/query`); an error carries Prometheus's reason (a parse
    /// error names the position).
    pub fn query(&self, expr: &str) -> Result<QueryAnswer> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(expr)))?;
        Ok(QueryAnswer {
            result_type: data["resultType"].as_str().unwrap_or("").to_owned(),
            result: data["result"].clone(),
        })
    }

    /// Evaluate `expr` over `[start, end]` (Unix seconds) every `step` (`/api/v1/query_range`).
    pub fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<QueryAnswer> {
        let data = self.api(&format!(
            "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={:.3}",
            encode(expr),
            step.as_secs_f64()
        ))?;
        Ok(QueryAnswer {
            result_type: data["resultType"].as_str().unwrap_or("").to_owned(),
            result: data["result"].clone(),
        })
    }

    /// The alerts pending or firing now (`/api/v1/alerts`).
    pub fn alerts(&self) -> Result<Vec<Value>> {
        let data = self.api("/api/v1/alerts")?;
        Ok(data["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// The scrape targets and their health (`/api/v1/targets`).
    pub fn targets(&self) -> Result<Vec<Value>> {
        let data = self.api("/api/v1/targets")?;
        Ok(data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encoding of a query-string value (RFC 3986 unreserved characters kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("up{job=~\"a.*\"} > 0"),
            "up%7Bjob%3D~%22a.%2A%22%7D%20%3E%200"
        );
    }

    #[test]
    fn the_configuration_names_every_job_and_rule_file() {
        let text = config_text(
            &[ScrapeJob::new(
                "trickles-balancer",
                vec!["127.0.0.1:9300".parse().unwrap()],
            )],
            &[PathBuf::from("/x/alerts.yml")],
            Duration::from_millis(500),
        );
        assert!(text.contains("scrape_interval: 500ms"), "{text}");
        assert!(text.contains("  - \"/x/alerts.yml\""), "{text}");
        assert!(text.contains("job_name: \"trickles-balancer\""), "{text}");
        assert!(text.contains("targets: [\"127.0.0.1:9300\"]"), "{text}");
    }
}
