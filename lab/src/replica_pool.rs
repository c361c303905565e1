//! [`ReplicaPool`]: a Trickles service on loopback: one shared key, one served directory, N
//! `trickles-server` replicas, and the front end clients talk to.
//!
//! Scenarios (the demo, the chain, the tests, the benchmarks) only use the pool's verbs: the
//! service URL (and the mirror to send through, if any), kill a replica, restart a replica.
//! The [`FrontEnd`] decides what stands between the client and the replicas: nothing, the
//! lab's alternating relay, a `trickles-balancer` process on a VIP (the replicas then trust
//! its encapsulation: `--balancer VIP`), or that balancer behind a `trickles-mirror` emulating
//! a WAN path (the balancer trusts the mirror as its upstream; clients send `--via` it).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::alternating_relay::AlternatingRelay;
use crate::balancer_process::{BalancerPolicy, BalancerProcess, BalancerSpec};
use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::http_probe;
use crate::mirror_process::{EmulatedWan, MirrorProcess, MirrorSpec};
use crate::ports;
use crate::server_process::{ServerProcess, ServerSpec};

/// What clients send to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FrontEnd {
    /// Clients talk to replica 0 directly (a pool of one, or replicas on standby).
    Direct,
    /// An [`AlternatingRelay`] sends each client datagram to the next replica in turn.
    AlternatingRelay,
    /// A `trickles-balancer` process with this policy, health-checking the replicas.
    Balancer(BalancerPolicy),
    /// That balancer behind a `trickles-mirror` emulating this path: clients send through
    /// the mirror ([`ReplicaPool::via`]) to the VIP.
    MirroredBalancer(BalancerPolicy, EmulatedWan),
}

impl FrontEnd {
    /// The balancer's policy, when there is a balancer.
    pub fn balancer_policy(&self) -> Option<BalancerPolicy> {
        match *self {
            FrontEnd::Balancer(policy) | FrontEnd::MirroredBalancer(policy, _) => Some(policy),
            FrontEnd::Direct | FrontEnd::AlternatingRelay => None,
        }
    }

    /// The mirror's emulated path, when there is a mirror.
    pub fn mirror_wan(&self) -> Option<EmulatedWan> {
        match *self {
            FrontEnd::MirroredBalancer(_, wan) => Some(wan),
            _ => None,
        }
    }

    /// Whether the balancer and the mirror binaries are needed.
    pub fn needs_network_functions(&self) -> bool {
        self.balancer_policy().is_some()
    }
}

/// How to build the pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Loopback address everything binds to (127.0.0.1 or ::1).
    pub ip: IpAddr,
    /// Number of replicas.
    pub replicas: usize,
    /// UDP port of replica 0 (`None`: an ephemeral one); the others get ephemeral ports.
    pub first_port: Option<u16>,
    /// Directory of served files.
    pub root: PathBuf,
    /// Key file shared by the replicas.
    pub key_file: PathBuf,
    /// Also serve the HTTP/TCP baseline (replica 0 only).
    pub http_baseline: bool,
    /// UDP worker threads per replica; the server's default when `None`.
    pub workers: Option<usize>,
    /// Where replica logs go (`replica-I.START.log`).
    pub log_dir: PathBuf,
    /// What clients talk to.
    pub front_end: FrontEnd,
}

/// One replica slot: its fixed UDP address, and the process serving it, if any.
#[derive(Debug)]
struct ReplicaSlot {
    listen: SocketAddr,
    process: Option<ServerProcess>,
    starts: usize,
}

/// A running pool; every process is killed when it is dropped.
pub struct ReplicaPool {
    binaries: Binaries,
    config: PoolConfig,
    slots: Vec<ReplicaSlot>,
    http: Option<SocketAddr>,
    relay: Option<AlternatingRelay>,
    vip: Option<SocketAddr>,
    balancer: Option<BalancerProcess>,
    mirror: Option<MirrorProcess>,
}

impl ReplicaPool {
    /// Starts every replica (each healthy before this returns) and the front end.
    pub fn start(binaries: &Binaries, config: PoolConfig) -> Result<Self> {
        if config.replicas == 0 {
            return Err(LabError::Usage(
                "a pool needs at least one replica".to_owned(),
            ));
        }
        let mut slots = Vec::with_capacity(config.replicas);
        for i in 0..config.replicas {
            let listen = match (i, config.first_port) {
                (0, Some(port)) => SocketAddr::new(config.ip, port),
                _ => ports::free_udp(config.ip)?,
            };
            slots.push(ReplicaSlot {
                listen,
                process: None,
                starts: 0,
            });
        }
        let http = if config.http_baseline {
            Some(ports::free_tcp(config.ip)?)
        } else {
            None
        };
        let vip = match config.front_end.balancer_policy() {
            Some(_) => Some(ports::free_udp(config.ip)?),
            None => None,
        };
        let mut pool = ReplicaPool {
            binaries: binaries.clone(),
            config,
            slots,
            http,
            relay: None,
            vip,
            balancer: None,
            mirror: None,
        };
        for i in 0..pool.slots.len() {
            pool.start_replica(i)?;
        }
        let backends: Vec<SocketAddr> = pool.slots.iter().map(|s| s.listen).collect();
        if pool.config.front_end == FrontEnd::AlternatingRelay {
            let listen = SocketAddr::new(pool.config.ip, 0);
            pool.relay = Some(AlternatingRelay::start(listen, backends)?);
        } else if let (Some(policy), Some(vip)) = (pool.config.front_end.balancer_policy(), vip) {
            pool.start_balancer(policy, vip, backends)?;
        }
        Ok(pool)
    }

    /// The balancer on `vip` (with the mirror in front, when the front end has one).
    fn start_balancer(
        &mut self,
        policy: BalancerPolicy,
        vip: SocketAddr,
        backends: Vec<SocketAddr>,
    ) -> Result<()> {
        let ip = self.config.ip;
        let dir = self.config.log_dir.clone();
        let mirror = match self.config.front_end.mirror_wan() {
            Some(wan) => Some(MirrorSpec {
                listen: ports::free_udp(ip)?,
                metrics: ports::free_tcp(ip)?,
                service: vip,
                wan,
                config: dir.join("mirror.yaml"),
                log: dir.join("mirror.log"),
            }),
            None => None,
        };
        let spec = BalancerSpec {
            vip,
            metrics: ports::free_tcp(ip)?,
            policy,
            backends,
            upstreams: mirror.iter().map(|m| m.listen).collect(),
            direct_return: false,
            config: dir.join("balancer.yaml"),
            log: dir.join("balancer.log"),
        };
        self.balancer = Some(BalancerProcess::start(&self.binaries, spec)?);
        if let Some(spec) = mirror {
            self.mirror = Some(MirrorProcess::start(&self.binaries, spec)?);
        }
        Ok(())
    }

    /// The address Trickles clients send to.
    pub fn service_addr(&self) -> SocketAddr {
        match (&self.relay, self.vip) {
            (Some(relay), _) => relay.addr(),
            (None, Some(vip)) => vip,
            (None, None) => self.slots[0].listen,
        }
    }

    /// `trickles://ADDR/path` of the service.
    pub fn trickles_url(&self, path: &str) -> String {
        format!(
            "trickles://{}/{}",
            self.service_addr(),
            path.trim_start_matches('/')
        )
    }

    /// The packet mirror clients send through (`trickles-client --via`), when there is one.
    pub fn via(&self) -> Option<SocketAddr> {
        self.mirror.as_ref().map(MirrorProcess::addr)
    }

    /// `http://ADDR/path` of the HTTP baseline, if the pool serves one.
    pub fn http_url(&self, path: &str) -> Option<String> {
        self.http
            .map(|addr| format!("http://{}/{}", addr, path.trim_start_matches('/')))
    }

    /// The relay, when the front end is one.
    pub fn relay(&self) -> Option<&AlternatingRelay> {
        self.relay.as_ref()
    }

    /// The balancer, when the front end is one.
    pub fn balancer(&self) -> Option<&BalancerProcess> {
        self.balancer.as_ref()
    }

    /// The mirror, when the front end has one.
    pub fn mirror(&self) -> Option<&MirrorProcess> {
        self.mirror.as_ref()
    }

    /// The number of replicas.
    pub fn replica_count(&self) -> usize {
        self.slots.len()
    }

    /// The running replica that has sent the most Trickles packets (by its `/metrics`): the
    /// one serving the transfer when the balancer pins a connection to one replica.
    pub fn busiest_replica(&self) -> Option<usize> {
        let sent = |process: &ServerProcess| {
            process.metrics().and_then(|text| {
                http_probe::metric_value(&text, "trickles_server_packets_sent_total")
            })
        };
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, sent(slot.process.as_ref()?)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// The running process of replica `i`.
    pub fn replica(&self, i: usize) -> Option<&ServerProcess> {
        self.slots.get(i).and_then(|s| s.process.as_ref())
    }

    /// Replica `i`'s UDP address (kept across restarts).
    pub fn replica_addr(&self, i: usize) -> Option<SocketAddr> {
        self.slots.get(i).map(|s| s.listen)
    }

    /// SIGKILLs replica `i` (a crash: no clean-up, no goodbye); whether it was running.
    pub fn kill_replica(&mut self, i: usize) -> Result<bool> {
        let slot = self.slot(i)?;
        match slot.process.take() {
            Some(mut process) => process.kill_hard().map(|()| true),
            None => Ok(false),
        }
    }

    /// Starts a new process for replica `i`: same key, same UDP address, fresh metrics port;
    /// returns once it is healthy.
    pub fn restart_replica(&mut self, i: usize) -> Result<()> {
        self.kill_replica(i)?;
        self.start_replica(i)
    }

    /// [`restart_replica`](Self::restart_replica) without waiting: the new process is started
    /// and [`replica_healthy`](Self::replica_healthy) says when it is ready, so a scenario
    /// keeps measuring meanwhile.
    pub fn begin_restart(&mut self, i: usize) -> Result<()> {
        self.kill_replica(i)?;
        self.spawn_replica(i)
    }

    /// Whether replica `i` runs and answers its health check (fails with its log if it has
    /// exited).
    pub fn replica_healthy(&mut self, i: usize) -> Result<bool> {
        match self.slot(i)?.process.as_mut() {
            Some(process) => process.poll_healthy(),
            None => Ok(false),
        }
    }

    /// The non-zero samples of every running process's `/metrics`, one block per process
    /// (for diagnostics when a scenario fails).
    pub fn metrics_summary(&self) -> String {
        let mut text = String::new();
        if let Some(mirror) = &self.mirror {
            push_metrics(
                &mut text,
                &format!("mirror ({})", mirror.addr()),
                mirror.metrics(),
            );
        }
        if let Some(balancer) = &self.balancer {
            let name = format!("balancer ({})", balancer.vip());
            push_metrics(&mut text, &name, balancer.metrics());
        }
        for (i, slot) in self.slots.iter().enumerate() {
            let body = slot.process.as_ref().and_then(ServerProcess::metrics);
            push_metrics(&mut text, &format!("replica {i} ({})", slot.listen), body);
        }
        text
    }

    /// Fails with a replica's log if any replica that should run has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(mirror) = &mut self.mirror {
            mirror.check_running()?;
        }
        if let Some(balancer) = &mut self.balancer {
            balancer.check_running()?;
        }
        for slot in &mut self.slots {
            if let Some(process) = &mut slot.process {
                process.check_running()?;
            }
        }
        Ok(())
    }

    /// Stops everything cleanly (SIGTERM, then SIGKILL).
    pub fn stop(mut self) -> Result<()> {
        self.relay = None;
        if let Some(mirror) = self.mirror.take() {
            mirror.stop()?;
        }
        if let Some(balancer) = self.balancer.take() {
            balancer.stop()?;
        }
        for slot in &mut self.slots {
            if let Some(process) = slot.process.take() {
                process.stop()?;
            }
        }
        Ok(())
    }

    fn slot(&mut self, i: usize) -> Result<&mut ReplicaSlot> {
        let count = self.slots.len();
        self.slots
            .get_mut(i)
            .ok_or_else(|| LabError::Usage(format!("no replica {i} in a pool of {count}")))
    }

    /// Spawns replica `i` and waits until it is healthy.
    fn start_replica(&mut self, i: usize) -> Result<()> {
        self.spawn_replica(i)?;
        match self.slot(i)?.process.as_mut() {
            Some(process) => process.wait_healthy(),
            None => Ok(()),
        }
    }

    /// Spawns a process for replica `i` (its slot must be empty) without waiting for it.
    fn spawn_replica(&mut self, i: usize) -> Result<()> {
        let (listen, starts) = {
            let slot = self.slot(i)?;
            (slot.listen, slot.starts)
        };
        let spec = ServerSpec {
            root: self.config.root.clone(),
            key_file: self.config.key_file.clone(),
            listen: vec![listen],
            tcp_listen: if i == 0 { self.http } else { None },
            balancers: self.vip.into_iter().collect(),
            metrics: ports::free_tcp(self.config.ip)?,
            workers: self.config.workers,
            mss: None,
            dsr_vips: Vec::new(),
            log: replica_log(&self.config.log_dir, i, starts),
        };
        let process = ServerProcess::spawn(&self.binaries, spec, &format!("replica {i}"))?;
        let slot = self.slot(i)?;
        slot.starts += 1;
        slot.process = Some(process);
        Ok(())
    }
}

/// Appends `name:` and the non-zero samples of `body`, indented.
fn push_metrics(text: &mut String, name: &str, body: Option<String>) {
    text.push_str(name);
    text.push_str(":\n");
    let Some(body) = body else {
        text.push_str("  (not running or no answer)\n");
        return;
    };
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.ends_with(" 0"))
    {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
}

fn replica_log(dir: &Path, replica: usize, start: usize) -> PathBuf {
    dir.join(format!("replica-{replica}.{start}.log"))
}
