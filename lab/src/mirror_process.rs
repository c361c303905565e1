//! [`MirrorProcess`]: a running `trickles-mirror` in front of a service address (a balancer's
//! VIP), emulating a WAN path ([`EmulatedWan`]: delay and loss, each direction), started from a
//! [`MirrorSpec`] (the lab writes its YAML configuration) and ready (its `/healthz` answers)
//! before [`MirrorProcess::start`] returns.
//!
//! Clients anywhere on the loopback network send through it (`trickles-client --via MIRROR`);
//! the mirror delivers each datagram to the service as `header(peer = client) ‖ datagram`, and
//! the service's replies back to the client (docs/NETWORK-FUNCTIONS.md §3.8, §4.6).
//!
//! A testbed starts its mirror from a configuration of its own ([`ConfiguredMirror`]: its
//! peers, its path) inside a namespace ([`MirrorProcess::start_configured_in`]); the health and
//! metrics requests are then made from inside that namespace.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::{Binaries, MIRROR_BIN};
use crate::children::ChildProcess;
use crate::error::Result;
use crate::http_probe;
use crate::testbed::namespace::run_in;
use crate::testbed::NamespaceRef;

/// How long the mirror may take to become ready.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a stopping mirror gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The emulated path between the clients and the service, the same in both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmulatedWan {
    /// One-way delay, milliseconds.
    pub delay_ms: f64,
    /// Independent loss probability of each datagram.
    pub loss: f64,
    /// Seed of the mirror's random draws (loss), so a run can be repeated.
    pub seed: u64,
}

impl EmulatedWan {
    /// "10 ms each way, no loss" / "40 ms each way, 1 % loss".
    pub fn describe(&self) -> String {
        let loss = if self.loss > 0.0 {
            format!("{} % loss", self.loss * 100.0)
        } else {
            "no loss".to_owned()
        };
        format!("{} ms each way, {loss}", self.delay_ms)
    }
}

/// How to run the mirror.
#[derive(Clone, Debug)]
pub struct MirrorSpec {
    /// The UDP address clients send through (`--via`).
    pub listen: SocketAddr,
    /// Its `/metrics` and `/healthz`.
    pub metrics: SocketAddr,
    /// The service behind it (the balancer's VIP).
    pub service: SocketAddr,
    /// The emulated path.
    pub wan: EmulatedWan,
    /// Where the generated configuration goes.
    pub config: PathBuf,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl MirrorSpec {
    /// The YAML configuration: clients anywhere on loopback, the service as the server side
    /// answering them.
    pub fn yaml(&self) -> String {
        let clients = match self.listen.ip() {
            IpAddr::V4(_) => "127.0.0.0/8",
            IpAddr::V6(_) => "::1/128",
        };
        format!(
            "listen: [\"{listen}\"]\nmetrics: \"{metrics}\"\nworkers: 1\nseed: {seed}\npeers:\n  \
             - {{name: clients, addresses: [\"{clients}\"], side: client}}\n  \
             - {{name: service, addresses: [\"{service}\"], side: server, reach: any}}\n\
             wan:\n  both: {{delay_ms: {delay}, loss: {loss}}}\n",
            listen = self.listen,
            metrics = self.metrics,
            seed = self.wan.seed,
            service = self.service,
            delay = self.wan.delay_ms,
            loss = self.wan.loss,
        )
    }
}

/// A mirror configuration written by its caller (a testbed's peers and path).
#[derive(Clone, Debug)]
pub struct ConfiguredMirror {
    /// The YAML text; its `listen` and `metrics` must be the two addresses below.
    pub yaml: String,
    /// The UDP address it listens on.
    pub listen: SocketAddr,
    /// Its `/metrics` and `/healthz`.
    pub metrics: SocketAddr,
    /// Where the configuration goes.
    pub config: PathBuf,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// A running mirror; killed when dropped.
#[derive(Debug)]
pub struct MirrorProcess {
    child: ChildProcess,
    listen: SocketAddr,
    metrics: SocketAddr,
    netns: Option<NamespaceRef>,
}

impl MirrorProcess {
    /// Writes the configuration, starts the mirror and waits until its `/healthz` answers.
    pub fn start(binaries: &Binaries, spec: MirrorSpec) -> Result<Self> {
        let child = ChildProcess::spawn_configured(
            MIRROR_BIN,
            binaries.mirror()?,
            &spec.config,
            &spec.yaml(),
            &spec.log,
        )?;
        MirrorProcess {
            child,
            listen: spec.listen,
            metrics: spec.metrics,
            netns: None,
        }
        .ready()
    }

    /// Writes `mirror.yaml`, starts the mirror inside `netns` and waits until its `/healthz`
    /// answers there.
    pub fn start_configured_in(
        binaries: &Binaries,
        mirror: &ConfiguredMirror,
        netns: &NamespaceRef,
    ) -> Result<Self> {
        let child = ChildProcess::spawn_configured_in(
            MIRROR_BIN,
            binaries.mirror()?,
            &mirror.config,
            &mirror.yaml,
            &mirror.log,
            Some(netns),
        )?;
        MirrorProcess {
            child,
            listen: mirror.listen,
            metrics: mirror.metrics,
            netns: Some(netns.clone()),
        }
        .ready()
    }

    fn ready(mut self) -> Result<Self> {
        let (metrics, netns) = (self.metrics, self.netns.clone());
        self.child
            .wait_until("trickles-mirror to become ready", START_LIMIT, || {
                run_in(netns.as_ref(), || http_probe::healthy(metrics)).unwrap_or(false)
            })?;
        Ok(self)
    }

    /// The address clients send through.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// The `/metrics` text, if it answers.
    pub fn metrics(&self) -> Option<String> {
        let metrics = self.metrics;
        run_in(self.netns.as_ref(), || http_probe::metrics_text(metrics)).flatten()
    }

    /// Fails with the mirror's log if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.child.check_running()
    }

    /// SIGTERM, then SIGKILL.
    pub fn stop(mut self) -> Result<()> {
        self.child.terminate(STOP_GRACE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wan(delay_ms: f64, loss: f64) -> EmulatedWan {
        EmulatedWan {
            delay_ms,
            loss,
            seed: 5,
        }
    }

    fn spec(listen: &str, service: &str) -> MirrorSpec {
        MirrorSpec {
            listen: listen.parse().expect("addr"),
            metrics: "127.0.0.1:9301".parse().expect("addr"),
            service: service.parse().expect("addr"),
            wan: wan(10.0, 0.0),
            config: PathBuf::from("m.yaml"),
            log: PathBuf::from("m.log"),
        }
    }

    #[test]
    fn yaml_names_the_service_and_the_path() {
        let yaml = spec("127.0.0.1:7000", "127.0.0.1:4433").yaml();
        assert!(
            yaml.contains("addresses: [\"127.0.0.0/8\"], side: client"),
            "{yaml}"
        );
        assert!(
            yaml.contains("addresses: [\"127.0.0.1:4433\"], side: server, reach: any"),
            "{yaml}"
        );
        assert!(yaml.contains("both: {delay_ms: 10, loss: 0}"), "{yaml}");
        assert!(yaml.contains("seed: 5"), "{yaml}");
    }

    #[test]
    fn ipv6_clients_are_the_ipv6_loopback() {
        let yaml = spec("[::1]:7000", "[::1]:4433").yaml();
        assert!(
            yaml.contains("addresses: [\"::1/128\"], side: client"),
            "{yaml}"
        );
        assert!(yaml.contains("addresses: [\"[::1]:4433\"]"), "{yaml}");
    }

    #[test]
    fn wan_is_described_for_humans() {
        assert_eq!(wan(40.0, 0.01).describe(), "40 ms each way, 1 % loss");
        assert_eq!(wan(10.0, 0.0).describe(), "10 ms each way, no loss");
    }
}
