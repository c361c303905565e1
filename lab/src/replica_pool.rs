//! [`ReplicaPool`]: a Trickles service on loopback: one shared key, one served directory, N
//! `trickles-server` replicas, and the front end clients talk to.
//!
//! Scenarios (the demo, the tests, the benchmarks) only use the pool's verbs: the service URL,
//! kill a replica, restart a replica. The [`FrontEnd`] decides what stands between the client
//! and the replicas; when `trickles-balancer` and `trickles-mirror` exist they become further
//! variants (a balancer process on a VIP; a mirror process in front of it), and the scenarios
//! stay as they are.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::alternating_relay::AlternatingRelay;
use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::ports;
use crate::server_process::{ServerProcess, ServerSpec};

/// What clients send to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontEnd {
    /// Clients talk to replica 0 directly (a pool of one, or replicas on standby).
    Direct,
    /// An [`AlternatingRelay`] sends each client datagram to the next replica in turn.
    AlternatingRelay,
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
        let mut pool = ReplicaPool {
            binaries: binaries.clone(),
            config,
            slots,
            http,
            relay: None,
        };
        for i in 0..pool.slots.len() {
            pool.start_replica(i)?;
        }
        if pool.config.front_end == FrontEnd::AlternatingRelay {
            let servers = pool.slots.iter().map(|s| s.listen).collect();
            pool.relay = Some(AlternatingRelay::start(
                SocketAddr::new(pool.config.ip, 0),
                servers,
            )?);
        }
        Ok(pool)
    }

    /// The address Trickles clients send to.
    pub fn service_addr(&self) -> SocketAddr {
        match &self.relay {
            Some(relay) => relay.addr(),
            None => self.slots[0].listen,
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

    /// `http://ADDR/path` of the HTTP baseline, if the pool serves one.
    pub fn http_url(&self, path: &str) -> Option<String> {
        self.http
            .map(|addr| format!("http://{}/{}", addr, path.trim_start_matches('/')))
    }

    /// The relay, when the front end is one.
    pub fn relay(&self) -> Option<&AlternatingRelay> {
        self.relay.as_ref()
    }

    /// The running process of replica `i`.
    pub fn replica(&self, i: usize) -> Option<&ServerProcess> {
        self.slots.get(i).and_then(|s| s.process.as_ref())
    }

    /// Replica `i`'s UDP address (kept across restarts).
    pub fn replica_addr(&self, i: usize) -> Option<SocketAddr> {
        self.slots.get(i).map(|s| s.listen)
    }

    /// SIGKILLs replica `i` (a crash: no clean-up, no goodbye).
    pub fn kill_replica(&mut self, i: usize) -> Result<()> {
        let slot = self.slot(i)?;
        if let Some(mut process) = slot.process.take() {
            process.kill_hard()?;
        }
        Ok(())
    }

    /// Starts a new process for replica `i`: same key, same UDP address, fresh metrics port.
    pub fn restart_replica(&mut self, i: usize) -> Result<()> {
        self.kill_replica(i)?;
        self.start_replica(i)
    }

    /// The non-zero samples of every running replica's `/metrics`, one block per replica
    /// (for diagnostics when a scenario fails).
    pub fn metrics_summary(&self) -> String {
        let mut text = String::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let body = slot.process.as_ref().and_then(ServerProcess::metrics);
            text.push_str(&format!("replica {i} ({}):\n", slot.listen));
            match body {
                Some(body) => {
                    for line in body
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.ends_with(" 0"))
                    {
                        text.push_str("  ");
                        text.push_str(line);
                        text.push('\n');
                    }
                }
                None => text.push_str("  (not running or no answer)\n"),
            }
        }
        text
    }

    /// Fails with a replica's log if any replica that should run has exited.
    pub fn check_running(&mut self) -> Result<()> {
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

    fn start_replica(&mut self, i: usize) -> Result<()> {
        let (listen, starts) = {
            let slot = self.slot(i)?;
            (slot.listen, slot.starts)
        };
        let spec = ServerSpec {
            root: self.config.root.clone(),
            key_file: self.config.key_file.clone(),
            listen: vec![listen],
            tcp_listen: if i == 0 { self.http } else { None },
            metrics: ports::free_tcp(self.config.ip)?,
            workers: self.config.workers,
            log: replica_log(&self.config.log_dir, i, starts),
        };
        let process = ServerProcess::start(&self.binaries, spec, &format!("replica {i}"))?;
        let slot = self.slot(i)?;
        slot.starts += 1;
        slot.process = Some(process);
        Ok(())
    }
}

fn replica_log(dir: &Path, replica: usize, start: usize) -> PathBuf {
    dir.join(format!("replica-{replica}.{start}.log"))
}
