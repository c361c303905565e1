//! [`BalancerProcess`]: a running `trickles-balancer` in front of a replica pool, started from
//! a [`BalancerSpec`] (the lab writes its YAML configuration) and ready, with every backend in
//! its table, before [`BalancerProcess::start`] returns.
//!
//! Health checks are fast (every 100 ms, out after two misses, back after one success, out at
//! once on "port unreachable"), so a killed replica leaves the table within a fraction of a
//! second and its replacement rejoins as soon as it answers.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::{Binaries, BALANCER_BIN};
use crate::children::ChildProcess;
use crate::error::Result;
use crate::http_probe;
use crate::testbed::namespace::run_in;
use crate::testbed::NamespaceRef;

/// How long the balancer may take to see every backend.
const START_LIMIT: Duration = Duration::from_secs(20);
/// Health-check interval written into the configuration.
pub const HEALTH_INTERVAL_MS: u64 = 100;

/// How the balancer picks a replica for each datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalancerPolicy {
    /// Consistent hashing on the connection id: a connection sticks to one replica.
    Maglev,
    /// Per-datagram rotation: one connection is served by every replica.
    RoundRobin,
    /// Per-datagram choice of the replica with the least recent load.
    LeastLoaded,
}

impl BalancerPolicy {
    /// The name in the balancer's YAML.
    pub fn yaml_name(self) -> &'static str {
        match self {
            BalancerPolicy::Maglev => "maglev",
            BalancerPolicy::RoundRobin => "round_robin",
            BalancerPolicy::LeastLoaded => "least_loaded",
        }
    }
}

/// How to run the balancer.
#[derive(Clone, Debug)]
pub struct BalancerSpec {
    /// The VIP clients send to (UDP).
    pub vip: SocketAddr,
    /// Its `/metrics` and `/healthz`.
    pub metrics: SocketAddr,
    /// The replica selection.
    pub policy: BalancerPolicy,
    /// The replicas' UDP addresses (named `r0`, `r1`, ... in order).
    pub backends: Vec<SocketAddr>,
    /// Packet mirrors trusted to send encapsulated client datagrams (`upstreams:`); replies to
    /// those clients go back through the mirror.
    pub upstreams: Vec<SocketAddr>,
    /// `mode: direct_return`: replicas answer clients directly (from the VIP, with
    /// `trickles-server --dsr-vip`); else `mode: relay`.
    pub direct_return: bool,
    /// Where the generated configuration goes.
    pub config: PathBuf,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl BalancerSpec {
    /// The YAML configuration for this spec.
    pub fn yaml(&self) -> String {
        let mut text = format!(
            "listen: [\"{}\"]\nmetrics: \"{}\"\nworkers: 1\nmode: {}\npolicy: {}\n\
             watch_config: false\nhealth:\n  probe: udp\n  interval_ms: {HEALTH_INTERVAL_MS}\n  \
             timeout_ms: {}\n  rise: 1\n  fall: 2\n  down_on_refused: true\n",
            self.vip,
            self.metrics,
            if self.direct_return {
                "direct_return"
            } else {
                "relay"
            },
            self.policy.yaml_name(),
            HEALTH_INTERVAL_MS / 2
        );
        if !self.upstreams.is_empty() {
            let quoted: Vec<String> = self.upstreams.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = writeln!(text, "upstreams: [{}]", quoted.join(", "));
        }
        text.push_str("backends:\n");
        for (i, addr) in self.backends.iter().enumerate() {
            let _ = writeln!(text, "  - name: r{i}\n    address: \"{addr}\"");
        }
        text
    }
}

/// A running balancer; killed when dropped.
#[derive(Debug)]
pub struct BalancerProcess {
    child: ChildProcess,
    spec: BalancerSpec,
    netns: Option<NamespaceRef>,
}

impl BalancerProcess {
    /// Writes the configuration, starts the balancer and waits until every backend is in its
    /// table.
    pub fn start(binaries: &Binaries, spec: BalancerSpec) -> Result<Self> {
        BalancerProcess::start_in(binaries, spec, None)
    }

    /// [`BalancerProcess::start`] inside a testbed namespace (`None`: the lab's own); its
    /// health and metrics requests are made from inside that namespace too.
    pub fn start_in(
        binaries: &Binaries,
        spec: BalancerSpec,
        netns: Option<&NamespaceRef>,
    ) -> Result<Self> {
        let child = ChildProcess::spawn_configured_in(
            BALANCER_BIN,
            binaries.balancer()?,
            &spec.config,
            &spec.yaml(),
            &spec.log,
            netns,
        )?;
        let mut balancer = BalancerProcess {
            child,
            spec,
            netns: netns.cloned(),
        };
        let all = balancer.spec.backends.len();
        balancer.wait_for_backends(all, START_LIMIT)?;
        Ok(balancer)
    }

    /// The VIP.
    pub fn vip(&self) -> SocketAddr {
        self.spec.vip
    }

    /// `(in the table, configured)` from `/healthz`, if it answers.
    pub fn backends_in_table(&self) -> Option<(usize, usize)> {
        table_count(self.spec.metrics, self.netns.as_ref())
    }

    /// Waits until at least `count` backends are in the table, at most `limit`.
    pub fn wait_for_backends(&mut self, count: usize, limit: Duration) -> Result<()> {
        let metrics = self.spec.metrics;
        let netns = self.netns.clone();
        self.child.wait_until(
            &format!("{count} backends in the balancer's table"),
            limit,
            || table_count(metrics, netns.as_ref()).is_some_and(|(active, _)| active >= count),
        )
    }

    /// Fails with the balancer's log if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.child.check_running()
    }

    /// The `/metrics` text, if it answers.
    pub fn metrics(&self) -> Option<String> {
        let metrics = self.spec.metrics;
        run_in(self.netns.as_ref(), || http_probe::metrics_text(metrics)).flatten()
    }

    /// SIGTERM, then SIGKILL.
    pub fn stop(mut self) -> Result<()> {
        self.child.terminate(Duration::from_secs(5))
    }
}

/// `(in the table, configured)` from the `/healthz` of the balancer whose endpoint is `metrics`.
fn table_count(metrics: SocketAddr, netns: Option<&NamespaceRef>) -> Option<(usize, usize)> {
    let (_, body) = run_in(netns, || {
        http_probe::get(metrics, "/healthz", Duration::from_millis(500))
    })??;
    parse_table_count(&body)
}

/// "ok: 2 of 3 backends in the table" → `(2, 3)`.
fn parse_table_count(health: &str) -> Option<(usize, usize)> {
    let words: Vec<&str> = health.split_whitespace().collect();
    words.windows(3).find_map(|w| match w {
        [active, "of", configured] => Some((active.parse().ok()?, configured.parse().ok()?)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_text_gives_the_table_count() {
        assert_eq!(
            parse_table_count("ok: 2 of 3 backends in the table\n"),
            Some((2, 3))
        );
        assert_eq!(
            parse_table_count("failing: 0 of 3 backends in the table"),
            Some((0, 3))
        );
        assert_eq!(parse_table_count("ok"), None);
        assert_eq!(parse_table_count(""), None);
    }

    fn spec(policy: BalancerPolicy, backends: &[&str], upstreams: &[&str]) -> BalancerSpec {
        let addrs = |list: &[&str]| list.iter().map(|a| a.parse().expect("addr")).collect();
        BalancerSpec {
            vip: "127.0.0.1:4433".parse().expect("addr"),
            metrics: "127.0.0.1:9300".parse().expect("addr"),
            policy,
            backends: addrs(backends),
            upstreams: addrs(upstreams),
            direct_return: false,
            config: PathBuf::from("b.yaml"),
            log: PathBuf::from("b.log"),
        }
    }

    #[test]
    fn yaml_lists_every_backend_with_the_policy() {
        let yaml = spec(
            BalancerPolicy::RoundRobin,
            &["127.0.0.1:5001", "[::1]:5002"],
            &[],
        )
        .yaml();
        assert!(!yaml.contains("upstreams"), "{yaml}");
        assert!(yaml.contains("policy: round_robin"), "{yaml}");
        assert!(
            yaml.contains("name: r1\n    address: \"[::1]:5002\""),
            "{yaml}"
        );
        assert!(yaml.contains("listen: [\"127.0.0.1:4433\"]"), "{yaml}");
    }

    #[test]
    fn yaml_trusts_the_upstream_mirrors() {
        let yaml = spec(BalancerPolicy::Maglev, &["[::1]:5001"], &["[::1]:7000"]).yaml();
        assert!(
            yaml.contains("upstreams: [\"[::1]:7000\"]\nbackends:\n  - name: r0"),
            "{yaml}"
        );
        assert!(yaml.contains("policy: maglev"), "{yaml}");
    }
}
