//! [`Pool`]: a Trickles service on a [`Topology`]: one shared key, one served directory, N
//! `trickles-server` replicas (replica `i` in host `rI`), and the [`FrontEnd`] clients talk to.
//! On loopback every host is 127.0.0.1 (or ::1) and every service gets a free port; on the
//! namespace topology every replica has its own host and well-known ports.
//!
//! Scenarios (the demo, the chain, `exp failover`, `exp pool`, the tests) use the pool's verbs:
//! the service URL (and the mirror to send through, if any), and the [`Stage`] it is to a
//! [`FailureSchedule`](crate::schedule::FailureSchedule): kill, restart, pause or resume a
//! replica (`serving` is the one carrying the transfer, read by the [`watch::PoolWatch`]) or the
//! balancer, cut a replica's link, crash its host and boot it again.
//!
//! Front ends: nothing (clients talk to replica 0), the lab's alternating relay (loopback), a
//! `trickles-balancer` on a VIP in host `balancer` (the replicas trust its encapsulation; in
//! direct-return mode the VIP is also on every replica's loopback, [`direct_return`]), or that
//! balancer behind a `trickles-mirror` emulating a WAN path (clients send `--via` it).

pub mod direct_return;
pub mod failover;
pub mod relay;
pub mod watch;
pub mod xdp_front;

use std::net::SocketAddr;
use std::path::Path;

use relay::AlternatingRelay;
use watch::{PoolWatch, Reading};

use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::schedule::{Action, Stage, Target};
use crate::service::balancer::{self, BalancerSpec, ModeFile, PolicyFile};
use crate::service::mirror::{self, EmulatedWan, MirrorSpec};
use crate::service::server::{self, ServerSpec};
use crate::service::{Service, ServiceSpec};
use crate::topology::{Host, Topology};

/// What clients send to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FrontEnd {
    /// Clients talk to replica 0 directly (a pool of one, or replicas on standby).
    Direct,
    /// An [`AlternatingRelay`] sends each client datagram to the next replica in turn
    /// (loopback only).
    AlternatingRelay,
    /// A `trickles-balancer` with this policy and reply path, health-checking the replicas.
    Balancer(PolicyFile, ModeFile),
    /// That balancer (relay mode) behind a `trickles-mirror` emulating this path: clients send
    /// through the mirror ([`Pool::via`]) to the VIP.
    MirroredBalancer(PolicyFile, EmulatedWan),
}

impl FrontEnd {
    /// The balancer's policy and mode, when there is a balancer.
    pub fn balancer(&self) -> Option<(PolicyFile, ModeFile)> {
        match *self {
            FrontEnd::Balancer(policy, mode) => Some((policy, mode)),
            FrontEnd::MirroredBalancer(policy, _) => Some((policy, ModeFile::Relay)),
            FrontEnd::Direct | FrontEnd::AlternatingRelay => None,
        }
    }

    /// "mirror (10 ms each way, no loss) → maglev balancer → 3 replicas": what a client fetches
    /// through.
    pub fn describe(&self, replicas: usize) -> String {
        let replicas = match replicas {
            1 => "1 replica".to_owned(),
            n => format!("{n} replicas"),
        };
        let balancer = |policy: PolicyFile, mode: ModeFile| {
            let mode = match mode {
                ModeFile::Relay => "",
                ModeFile::DirectReturn => ", direct return",
            };
            format!("{} balancer{mode} → {replicas}", policy_name(policy))
        };
        match *self {
            FrontEnd::Direct => replicas,
            FrontEnd::AlternatingRelay => format!("alternating relay → {replicas}"),
            FrontEnd::Balancer(policy, mode) => balancer(policy, mode),
            FrontEnd::MirroredBalancer(policy, wan) => format!(
                "mirror ({}) → {}",
                wan.describe(),
                balancer(policy, ModeFile::Relay)
            ),
        }
    }
}

/// The balancer policy's name as its YAML spells it.
pub fn policy_name(policy: PolicyFile) -> &'static str {
    match policy {
        PolicyFile::Maglev => "maglev",
        PolicyFile::RoundRobin => "round_robin",
        PolicyFile::LeastLoaded => "least_loaded",
    }
}

/// How to build the pool.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    /// Number of replicas (hosts `r0`, `r1`, ...).
    pub replicas: usize,
    /// What clients talk to.
    pub front_end: FrontEnd,
    /// Replica 0 also serves the HTTP/TCP baseline.
    pub http_baseline: bool,
    /// UDP worker threads per replica; the server's default when `None`.
    pub workers: Option<usize>,
    /// Stream bytes per data packet; the server's default when `None`.
    pub mss: Option<usize>,
    /// UDP port of replica 0 on loopback (`None`: a free one).
    pub first_port: Option<u16>,
    /// The balancer runs its XDP datapath (`datapath: xdp`, native XDP on its host's
    /// interface; namespace testbed only): see [`xdp_front`](self::xdp_front).
    pub xdp: bool,
}

impl PoolSpec {
    /// `replicas` replicas behind `front_end`, the servers' defaults.
    pub fn new(replicas: usize, front_end: FrontEnd) -> Self {
        PoolSpec {
            replicas,
            front_end,
            http_baseline: false,
            workers: None,
            mss: None,
            first_port: None,
            xdp: false,
        }
    }
}

/// Sets up a host the way a scenario needs it (sysctls, congestion control), when the pool
/// starts and again when a crashed host boots.
pub type HostSetup<'t> = Box<dyn Fn(&Topology, &str) -> Result<()> + 't>;

/// A running pool; every process is killed when it is dropped.
pub struct Pool<'t> {
    topology: &'t Topology,
    spec: PoolSpec,
    replicas: Vec<Service<ServerSpec>>,
    balancer: Option<Service<BalancerSpec>>,
    mirror: Option<Service<MirrorSpec>>,
    relay: Option<AlternatingRelay>,
    service: SocketAddr,
    /// Each replica's own Trickles address.
    replica_addrs: Vec<SocketAddr>,
    http: Option<SocketAddr>,
    watch: PoolWatch,
    victim: Option<usize>,
    setup: Option<HostSetup<'t>>,
    /// With `xdp`: the program on the router's side of the balancer's link.
    xdp_peer: Option<trickles_balancer::xdp::XdpBalancer>,
}

impl<'t> Pool<'t> {
    /// Starts every replica (each ready before this returns) and the front end, with the
    /// fixture's key and files; services' files and logs go to the fixture's directory.
    pub fn start(
        binaries: &Binaries,
        topology: &'t Topology,
        fixture: &ServiceFixture,
        spec: PoolSpec,
    ) -> Result<Self> {
        Pool::start_with(binaries, topology, fixture, spec, None)
    }

    /// [`start`](Self::start), with `setup` run for every replica host first (and again when
    /// a crashed host boots).
    pub fn start_with(
        binaries: &Binaries,
        topology: &'t Topology,
        fixture: &ServiceFixture,
        spec: PoolSpec,
        setup: Option<HostSetup<'t>>,
    ) -> Result<Self> {
        if spec.replicas == 0 {
            return Err(LabError::Usage(
                "a pool needs at least one replica".to_owned(),
            ));
        }
        let dir = fixture.path();
        let hosts: Vec<Host> = (0..spec.replicas)
            .map(|i| topology.host(&format!("r{i}")))
            .collect();
        if let Some(setup) = &setup {
            for host in &hosts {
                setup(topology, host.role())?;
            }
        }
        let mut listen = Vec::with_capacity(hosts.len());
        for (i, host) in hosts.iter().enumerate() {
            listen.push(match (i, spec.first_port) {
                (0, Some(port)) if host.is_loopback() => SocketAddr::new(host.address(), port),
                _ => host.udp(server::TRICKLES_PORT)?,
            });
        }
        let http = match spec.http_baseline {
            true => Some(hosts[0].tcp(server::HTTP_PORT)?),
            false => None,
        };
        let vip = match spec.front_end.balancer() {
            Some((_, ModeFile::DirectReturn)) => Some(direct_return::place_vip(topology, &hosts)?),
            Some(_) => Some(topology.host("balancer").udp(server::TRICKLES_PORT)?),
            None => None,
        };
        let mut replicas = Vec::with_capacity(hosts.len());
        for (i, host) in hosts.iter().enumerate() {
            let mut server =
                ServerSpec::new(fixture, listen[i], host.control(server::CONTROL_PORT)?);
            server.config.tcp_listen = if i == 0 { http } else { None };
            server.config.balancers = vip.into_iter().collect();
            server.config.workers = spec.workers;
            server.config.mss = spec.mss;
            if let Some((_, ModeFile::DirectReturn)) = spec.front_end.balancer() {
                server.config.dsr_vips = vip.into_iter().collect();
            }
            replicas.push(Service::start(
                binaries,
                host,
                server,
                &format!("r{i}"),
                dir,
            )?);
        }
        let mut pool = Pool {
            topology,
            watch: PoolWatch::new(spec.replicas),
            service: listen[0],
            replica_addrs: listen.clone(),
            spec,
            replicas,
            balancer: None,
            mirror: None,
            relay: None,
            http,
            victim: None,
            setup,
            xdp_peer: None,
        };
        match (pool.spec.front_end, vip) {
            (FrontEnd::AlternatingRelay, _) => {
                let relay =
                    AlternatingRelay::start(SocketAddr::new(hosts[0].address(), 0), listen)?;
                pool.service = relay.addr();
                pool.relay = Some(relay);
            }
            (front_end, Some(vip)) => {
                pool.service = vip;
                let host = topology.host("balancer");
                pool.start_balancer(binaries, front_end, &host, vip, &listen, dir)?;
            }
            _ => {}
        }
        Ok(pool)
    }

    fn start_balancer(
        &mut self,
        binaries: &Binaries,
        front_end: FrontEnd,
        host: &Host,
        vip: SocketAddr,
        backends: &[SocketAddr],
        dir: &Path,
    ) -> Result<()> {
        let (policy, mode) = front_end.balancer().expect("a balancer front end");
        let control = host.control(balancer::CONTROL_PORT)?;
        let mut spec = BalancerSpec::new(vip, control, policy, mode, backends);
        let mirror = match front_end {
            FrontEnd::MirroredBalancer(_, wan) => {
                let mirror_host = self.topology.host("mirror");
                let listen = mirror_host.udp(mirror::MIRROR_PORT)?;
                let clients = match self.topology {
                    Topology::Loopback { .. } => MirrorSpec::loopback_clients(listen).to_owned(),
                    Topology::Star { .. } => self.topology.host("client").address().to_string(),
                };
                let control = mirror_host.control(mirror::CONTROL_PORT)?;
                let mirror = MirrorSpec::new(listen, control, &clients, &vip.to_string(), wan)?;
                spec.config.upstreams = vec![listen];
                Some((mirror_host, mirror))
            }
            _ => None,
        };
        if self.spec.xdp {
            self.xdp_peer = Some(xdp_front::prepare(self.topology, &mut spec.config)?);
        }
        self.balancer = Some(Service::start(binaries, host, spec, "balancer", dir)?);
        if let Some((mirror_host, mirror)) = mirror {
            self.mirror = Some(Service::start(
                binaries,
                &mirror_host,
                mirror,
                "mirror",
                dir,
            )?);
        }
        Ok(())
    }

    /// The address Trickles clients send to (a replica, the relay or the VIP).
    pub fn service_addr(&self) -> SocketAddr {
        self.service
    }

    /// `trickles://ADDR/path` of the service.
    pub fn trickles_url(&self, path: &str) -> String {
        format!(
            "trickles://{}/{}",
            self.service,
            path.trim_start_matches('/')
        )
    }

    /// Each replica's own Trickles address (what a client choosing among them is given).
    pub fn replica_addrs(&self) -> &[SocketAddr] {
        &self.replica_addrs
    }

    /// `http://ADDR/path` of the HTTP baseline, if the pool serves one.
    pub fn http_url(&self, path: &str) -> Option<String> {
        self.http
            .map(|addr| format!("http://{}/{}", addr, path.trim_start_matches('/')))
    }

    /// The packet mirror clients send through (`trickles-client --via`), when there is one.
    pub fn via(&self) -> Option<SocketAddr> {
        self.mirror.as_ref().map(|m| m.spec().listen())
    }

    /// The relay, when the front end is one.
    pub fn relay(&self) -> Option<&AlternatingRelay> {
        self.relay.as_ref()
    }

    /// The balancer, when the front end has one.
    pub fn balancer(&self) -> Option<&Service<BalancerSpec>> {
        self.balancer.as_ref()
    }

    /// Waits until the balancer (if any) has every replica in its table again.
    pub fn wait_balanced(&mut self) -> Result<()> {
        match &mut self.balancer {
            Some(balancer) => balancer.wait_ready(std::time::Duration::from_secs(20)),
            None => Ok(()),
        }
    }

    /// The mirror, when the front end has one.
    pub fn mirror(&self) -> Option<&Service<MirrorSpec>> {
        self.mirror.as_ref()
    }

    /// Replica `i`.
    pub fn replica(&self, i: usize) -> Option<&Service<ServerSpec>> {
        self.replicas.get(i)
    }

    /// Replica `i`, to reconfigure or act on outside a schedule.
    pub fn replica_mut(&mut self, i: usize) -> Option<&mut Service<ServerSpec>> {
        self.replicas.get_mut(i)
    }

    /// The number of replicas.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// What was read about who served, and the balancer's table.
    pub fn watch(&self) -> &PoolWatch {
        &self.watch
    }

    /// The replica the last `kill serving` (or `kill rN`) hit.
    pub fn victim(&self) -> Option<usize> {
        self.victim
    }

    /// The replica serving the transfer now, read at once (a change is timed at the last
    /// regular reading).
    pub fn serving(&mut self) -> Option<usize> {
        let mut events = Vec::new();
        let now = self.watch.last_read().unwrap_or(0.0);
        self.read_watch(now, &mut events);
        self.watch.serving()
    }

    /// The non-zero samples of every running process's `/metrics`, one block per process (for
    /// diagnostics when a scenario fails).
    pub fn metrics_summary(&self) -> String {
        let mut text = String::new();
        if let Some(mirror) = &self.mirror {
            push_metrics(&mut text, "mirror", mirror.metrics());
        }
        if let Some(balancer) = &self.balancer {
            push_metrics(&mut text, "balancer", balancer.metrics());
        }
        for replica in &self.replicas {
            push_metrics(&mut text, replica.name(), replica.metrics());
        }
        text
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
        for replica in self.replicas.drain(..) {
            replica.stop()?;
        }
        Ok(())
    }

    fn read_watch(&mut self, now: f64, events: &mut Vec<(f64, String)>) {
        let count = self.replicas.len();
        let reading = match &self.balancer {
            Some(balancer) => match balancer.metrics() {
                Some(text) => Reading::from_balancer(&text, count),
                None => return,
            },
            None => Reading {
                packets: self.replicas.iter().map(Service::packets_sent).collect(),
                in_table: Vec::new(),
            },
        };
        self.watch.read(&reading, now, events);
    }

    /// The replica `target` names; `serving` is the one carrying the transfer now (or, for a
    /// restart, the last one killed).
    fn replica_index(&mut self, target: &Target, restarting: bool) -> Result<Option<usize>> {
        let index = match target {
            Target::Replica(i) => *i,
            Target::Serving if restarting => self.victim.ok_or_else(|| {
                LabError::Usage("nothing was killed before `restart serving`".to_owned())
            })?,
            Target::Serving => self.serving().ok_or_else(|| {
                LabError::Usage("no replica has served the transfer yet".to_owned())
            })?,
            Target::Named(_) => return Ok(None),
        };
        if index >= self.replicas.len() {
            return Err(LabError::Usage(format!(
                "no replica {index} in a pool of {}",
                self.replicas.len()
            )));
        }
        Ok(Some(index))
    }

    /// The host role of `target`.
    fn host_role(&mut self, target: &Target, restarting: bool) -> Result<String> {
        Ok(match self.replica_index(target, restarting)? {
            Some(i) => format!("r{i}"),
            None => target.to_string(),
        })
    }
}

impl Stage for Pool<'_> {
    fn apply(&mut self, action: &Action) -> Result<String> {
        let restarting = matches!(
            action,
            Action::Restart(_) | Action::Resume(_) | Action::BootHost(_) | Action::RestoreLink(_)
        );
        let target = action.target();
        if let Action::CutLink(_)
        | Action::RestoreLink(_)
        | Action::CrashHost(_)
        | Action::BootHost(_) = action
        {
            let role = self.host_role(target, restarting)?;
            if !restarting {
                self.victim = role.strip_prefix('r').and_then(|i| i.parse().ok());
            }
            return self.act_on_host(action, &role);
        }
        let index = self.replica_index(target, restarting)?;
        let serving = matches!(target, Target::Serving);
        let (name, service): (String, &mut dyn Control) = match (index, target) {
            (Some(i), _) => (
                if serving {
                    format!("r{i} (serving)")
                } else {
                    format!("r{i}")
                },
                &mut self.replicas[i],
            ),
            (None, Target::Named(name)) if name == "balancer" => match &mut self.balancer {
                Some(balancer) => (name.clone(), balancer),
                None => return Err(LabError::Usage("the pool has no balancer".to_owned())),
            },
            (None, Target::Named(name)) if name == "mirror" => match &mut self.mirror {
                Some(mirror) => (name.clone(), mirror),
                None => return Err(LabError::Usage("the pool has no mirror".to_owned())),
            },
            (None, other) => {
                return Err(LabError::Usage(format!("the pool has no service {other}")));
            }
        };
        let done = match action {
            Action::Kill(_) => service.kill().map(|_| "SIGKILLed")?,
            Action::Restart(_) => service
                .restart()
                .map(|()| "restarted (same key, address and port)")?,
            Action::Pause(_) => service.pause().map(|()| "paused (SIGSTOP)")?,
            Action::Resume(_) => service.resume().map(|()| "resumed (SIGCONT)")?,
            other => {
                return Err(LabError::Usage(format!(
                    "a pool cannot {other:?}: that needs routes (anycast)"
                )));
            }
        };
        if let (Action::Kill(_) | Action::Pause(_), Some(i)) = (action, index) {
            self.victim = Some(i);
        }
        Ok(format!("{name} {done}"))
    }

    fn check(&mut self) -> Result<()> {
        if let Some(mirror) = &mut self.mirror {
            mirror.check_running()?;
        }
        if let Some(balancer) = &mut self.balancer {
            balancer.check_running()?;
        }
        for replica in &mut self.replicas {
            replica.check_running()?;
        }
        Ok(())
    }

    fn observe(&mut self, seconds: f64, events: &mut Vec<(f64, String)>) {
        if self.watch.due(seconds) {
            self.read_watch(seconds, events);
        }
    }
}

impl Pool<'_> {
    /// Link and host actions on the host `role`.
    fn act_on_host(&mut self, action: &Action, role: &str) -> Result<String> {
        let replica: Option<usize> = role.strip_prefix('r').and_then(|i| i.parse().ok());
        match action {
            Action::CutLink(_) => {
                self.topology.cut_link(role)?;
                Ok(format!("{role}'s link cut"))
            }
            Action::RestoreLink(_) => {
                self.topology.restore_link(role)?;
                Ok(format!("{role}'s link restored"))
            }
            Action::CrashHost(_) => {
                self.topology.testbed()?.crash_host(role)?;
                if let Some(i) = replica {
                    self.replicas[i].lost();
                }
                Ok(format!(
                    "host {role} crashed (link, processes and sockets gone)"
                ))
            }
            _ => {
                self.topology.testbed()?.revive_host(role)?;
                if let Some(setup) = &self.setup {
                    setup(self.topology, role)?;
                }
                if let Some(i) = replica {
                    self.replicas[i].restart()?;
                }
                Ok(format!("host {role} booted, its server ready"))
            }
        }
    }
}

/// What a schedule does to one service, whatever its kind.
trait Control {
    fn kill(&mut self) -> Result<bool>;
    fn restart(&mut self) -> Result<()>;
    fn pause(&mut self) -> Result<()>;
    fn resume(&mut self) -> Result<()>;
}

impl<S: ServiceSpec> Control for Service<S> {
    fn kill(&mut self) -> Result<bool> {
        Service::kill(self)
    }
    fn restart(&mut self) -> Result<()> {
        Service::restart(self)
    }
    fn pause(&mut self) -> Result<()> {
        Service::pause(self)
    }
    fn resume(&mut self) -> Result<()> {
        Service::resume(self)
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
