//! The decision loop: every `health.interval` (or at once on a re-check, a drain or a reload)
//! one *round*:
//!
//! 1. probe every check of every announcement concurrently (the balancer's Trickles HELLO
//!    probe) and update their rise/fall states;
//! 2. decide what each announcement wants ([`decision::want`]), open the [`BfdGate`] for the
//!    BFD addresses of those that want to be announced and renew its lease;
//! 3. connect to BIRD, read `show protocols`, `enable` / `disable` what differs
//!    ([`decision::action`]), and report every protocol's state and BGP sessions;
//! 4. record transitions, metrics, the drain's progress and the state file.
//!
//! BIRD is asked on tokio's blocking pool with a timeout per command, so a wedged BIRD delays
//! a round by at most that timeout; the BFD lease covers a wedged loop.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use trickles_balancer::core::ProbeOutcome;
use trickles_balancer::probe::probe_udp;

use crate::bfd::BfdGate;
use crate::bird::round::bird_round;
use crate::bird::{BfdSession, BirdError, ProtocolStatus};
use crate::config::AnycastConfig;
use crate::decision::{self, SiteHealth, Want};
use crate::metrics::{bird_error_kind, AnycastMetrics};
use crate::state_file::{Phase, StateFile};

/// Pause between the rounds of a re-check burst.
const BURST_GAP: Duration = Duration::from_millis(5);

/// What the loop is asked to do besides its rounds.
#[derive(Debug)]
pub enum Command {
    /// Run `max(rise, fall)` rounds now, back to back, so that a failure (or a recovery) the
    /// caller knows about is decided at once (SIGUSR1, a notification from the balancer).
    Recheck,
    /// Withdraw everything, wait `drain_wait`, report safe to stop (SIGUSR2, `drain`).
    Drain,
    /// A validated configuration (SIGHUP).
    Apply(Box<AnycastConfig>),
}

/// What the loop last saw, for `/healthz`, tests and the lab.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Rounds completed.
    pub rounds: u64,
    /// Announced state per announcement (configuration order).
    pub announced: Vec<bool>,
    /// BIRD answered the last round.
    pub bird_up: bool,
    /// The last BIRD error, if the last round had one.
    pub bird_error: Option<String>,
    /// Phase.
    pub phase: Option<Phase>,
    /// BFD addresses of announced protocols for which BIRD lists no BFD session (their routes
    /// are not guarded: a misconfiguration, logged as a warning).
    pub unguarded: Vec<IpAddr>,
}

/// The loop's state.
pub struct Controller {
    config: AnycastConfig,
    sites: Vec<SiteHealth>,
    announced: Vec<bool>,
    retired: Vec<String>,
    draining: bool,
    withdrawn_at: Option<Instant>,
    safe_to_stop: bool,
    last_bird_error: Option<String>,
    unguarded: std::collections::HashSet<IpAddr>,
    bfd_down: std::collections::HashSet<IpAddr>,
    bgp_sessions: std::collections::HashMap<String, bool>,
    /// Rounds still to run back to back after a re-check.
    burst: u32,
    gate: Arc<BfdGate>,
    metrics: AnycastMetrics,
    status: Arc<Mutex<Status>>,
}

impl Controller {
    /// A controller for `config`; nothing announced, the gate closed.
    pub fn new(
        config: AnycastConfig,
        gate: Arc<BfdGate>,
        metrics: AnycastMetrics,
        status: Arc<Mutex<Status>>,
    ) -> Self {
        let mut controller = Controller {
            sites: Vec::new(),
            announced: Vec::new(),
            retired: Vec::new(),
            draining: false,
            withdrawn_at: None,
            safe_to_stop: false,
            last_bird_error: None,
            unguarded: Default::default(),
            bfd_down: Default::default(),
            bgp_sessions: Default::default(),
            burst: 0,
            gate,
            metrics,
            status,
            config: config.clone(),
        };
        controller.apply(config);
        controller
    }

    fn apply(&mut self, config: AnycastConfig) {
        let old = std::mem::replace(&mut self.config, config);
        let mut sites = Vec::new();
        let mut announced = Vec::new();
        for a in &self.config.announcements {
            let previous = old
                .announcements
                .iter()
                .position(|o| o.protocol == a.protocol);
            let kept = previous.filter(|&i| {
                let o = &old.announcements[i];
                o.checks == a.checks
                    && o.min_healthy == a.min_healthy
                    && old.health == self.config.health
            });
            match kept.and_then(|i| self.sites.get(i).cloned()) {
                Some(site) => sites.push(site),
                None => sites.push(SiteHealth::new(
                    a.checks.len(),
                    self.config.health.thresholds,
                    a.min_healthy,
                )),
            }
            let was_announced = previous
                .and_then(|i| self.announced.get(i).copied())
                .unwrap_or(false);
            if let (Some(i), true) = (previous, was_announced) {
                // Prefixes moved in or out of an announced protocol change state with it.
                let before = &old.announcements[i].prefixes;
                for prefix in before.iter().filter(|p| !a.prefixes.contains(p)) {
                    self.set_prefix(&prefix.to_string(), false, decision::Cause::Shutdown);
                }
                for prefix in a.prefixes.iter().filter(|p| !before.contains(p)) {
                    self.set_prefix(&prefix.to_string(), true, decision::Cause::Healthy);
                }
            }
            announced.push(was_announced);
            for prefix in &a.prefixes {
                self.metrics.add_prefix(&prefix.to_string());
            }
        }
        for (i, o) in old.announcements.iter().enumerate() {
            if !self
                .config
                .announcements
                .iter()
                .any(|a| a.protocol == o.protocol)
            {
                tracing::info!(protocol = %o.protocol, "announcement removed from the configuration: withdrawing it");
                self.retired.push(o.protocol.clone());
                if self.announced.get(i).copied().unwrap_or(false) {
                    for prefix in &o.prefixes {
                        self.set_prefix(&prefix.to_string(), false, decision::Cause::Shutdown);
                    }
                }
            }
        }
        if old.bfd_addresses() != self.config.bfd_addresses() && !old.announcements.is_empty() {
            tracing::warn!("bfd_address changes take effect on restart");
        }
        self.sites = sites;
        self.announced = announced;
    }

    fn set_prefix(&self, prefix: &str, announced: bool, cause: decision::Cause) {
        self.metrics
            .prefix_announced
            .with_label_values(&[prefix])
            .set(i64::from(announced));
        self.metrics
            .transitions
            .with_label_values(&[prefix, cause.name()])
            .inc();
    }

    async fn probe_all(&mut self) {
        let mut probes = tokio::task::JoinSet::new();
        for (i, a) in self.config.announcements.iter().enumerate() {
            for (j, target) in a.checks.iter().enumerate() {
                let (target, timeout) = (*target, self.config.health.timeout);
                probes.spawn(async move {
                    let started = Instant::now();
                    let outcome = probe_udp(target, timeout).await;
                    (i, j, target, outcome, started.elapsed())
                });
            }
        }
        while let Some(done) = probes.join_next().await {
            let Ok((i, j, target, outcome, took)) = done else {
                continue;
            };
            let label = target.to_string();
            self.metrics
                .probes
                .with_label_values(&[&label, outcome.name()])
                .inc();
            self.metrics
                .probe_seconds
                .with_label_values(&[&label])
                .observe(took.as_secs_f64());
            let Some(site) = self.sites.get_mut(i) else {
                continue;
            };
            if site.observe(j, outcome) {
                let up = site.is_up(j);
                tracing::info!(%target, up, outcome = outcome.name(), "check changed state");
            } else if outcome != ProbeOutcome::Success {
                tracing::debug!(%target, outcome = outcome.name(), "probe failed");
            }
            self.metrics
                .check_up
                .with_label_values(&[&label])
                .set(i64::from(site.is_up(j)));
        }
    }

    /// One round (see the module doc). `stopping` withdraws everything.
    pub async fn round(&mut self, stopping: bool) {
        if !stopping {
            self.probe_all().await;
        }
        let wants: Vec<Want> = self
            .sites
            .iter()
            .map(|s| decision::want(s.healthy(), self.draining, stopping))
            .collect();
        let open: Vec<IpAddr> = self
            .config
            .announcements
            .iter()
            .zip(&wants)
            .filter(|(_, w)| w.announce)
            .filter_map(|(a, _)| a.bfd_address)
            .collect();
        if stopping {
            self.gate.close();
        } else {
            self.gate.renew(open, Instant::now(), self.config.bfd.lease);
        }

        let plan: Vec<(String, bool)> = self
            .config
            .announcements
            .iter()
            .zip(&wants)
            .map(|(a, w)| (a.protocol.clone(), w.announce))
            .collect();
        let (bird, plan_for_task, retired) =
            (self.config.bird.clone(), plan.clone(), self.retired.clone());
        let with_bfd = !self.config.bfd_addresses().is_empty();
        let result = tokio::task::spawn_blocking(move || {
            bird_round(&bird, &plan_for_task, &retired, with_bfd)
        })
        .await
        .unwrap_or_else(|e| {
            Err(BirdError::Io {
                path: Default::default(),
                source: std::io::Error::other(e),
            })
        });

        let mut bfd_sessions = None;
        let enabled: Vec<Result<bool, String>> = match result {
            Ok(round) => {
                bfd_sessions = Some(round.bfd);
                self.retired.clear();
                self.metrics.bird_up.set(1);
                self.report_protocols(&round.protocols);
                round
                    .enabled
                    .into_iter()
                    .map(|r| r.map_err(|e| self.bird_error(&e)))
                    .collect()
            }
            Err(e) => {
                self.metrics.bird_up.set(0);
                let message = self.bird_error(&e);
                plan.iter().map(|_| Err(message.clone())).collect()
            }
        };
        let mut first_error = None;
        for (i, (result, want)) in enabled.iter().zip(&wants).enumerate() {
            let now_announced = want.announce && matches!(result, Ok(true));
            if let Err(message) = result {
                first_error.get_or_insert_with(|| message.clone());
            }
            let before = self.announced.get(i).copied().unwrap_or(false);
            if let Some(cause) = decision::transition(before, now_announced, *want) {
                let a = &self.config.announcements[i];
                tracing::info!(
                    protocol = %a.protocol,
                    prefixes = ?a.prefixes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    announced = now_announced,
                    cause = cause.name(),
                    "{}",
                    if now_announced { "announced" } else { "withdrawn" }
                );
                for prefix in &a.prefixes {
                    self.set_prefix(&prefix.to_string(), now_announced, cause);
                }
            }
            if let Some(slot) = self.announced.get_mut(i) {
                *slot = now_announced;
            }
            if let (Some(sessions), true) = (&bfd_sessions, before && now_announced) {
                self.check_bfd_guard(i, sessions);
            }
        }
        if first_error.is_none() && self.last_bird_error.take().is_some() {
            tracing::info!("BIRD answers again");
        }
        self.advance_drain();
        self.publish(first_error, stopping);
    }

    /// Report BIRD's BFD session to announcement `i`'s `bfd_address`; warn once when BIRD has
    /// none, because then its routes are not guarded (a next hop that is one of BIRD's own
    /// interface addresses gets no BFD session: docs/ANYCAST.md §3.1).
    fn check_bfd_guard(&mut self, i: usize, sessions: &[BfdSession]) {
        let Some(address) = self.config.announcements[i].bfd_address else {
            return;
        };
        let session = sessions.iter().find(|s| s.address == address);
        self.metrics
            .bfd_session_up
            .with_label_values(&[&address.to_string()])
            .set(i64::from(session.is_some_and(|s| s.state == "Up")));
        let unguarded = session.is_none();
        if unguarded && self.unguarded.insert(address) {
            tracing::warn!(
                protocol = %self.config.announcements[i].protocol,
                %address,
                "BIRD has no BFD session to the bfd_address: its routes are NOT guarded and would outlive this controller (is {address} one of BIRD's own interface addresses? see docs/ANYCAST.md, the BFD next hop)"
            );
        } else if !unguarded && self.unguarded.remove(&address) {
            tracing::info!(%address, "BIRD has a BFD session to the bfd_address again");
        }
        let down = session.is_some_and(|s| s.state != "Up");
        if down && self.bfd_down.insert(address) {
            tracing::warn!(
                protocol = %self.config.announcements[i].protocol,
                %address,
                state = %session.map_or("", |s| s.state.as_str()),
                "BIRD's BFD session to the bfd_address is not Up: the routes are enabled but not installed (IPv4: is accept_local set on the controller's end of the veth pair? see docs/ANYCAST.md, the BFD next hop)"
            );
        } else if !down && self.bfd_down.remove(&address) {
            tracing::info!(%address, "BIRD's BFD session to the bfd_address is Up");
        }
    }

    fn bird_error(&mut self, error: &BirdError) -> String {
        let message = error.to_string();
        self.metrics
            .bird_errors
            .with_label_values(&[bird_error_kind(error)])
            .inc();
        if self.last_bird_error.as_deref() != Some(&message) {
            match error {
                BirdError::NotUp { .. } => {
                    tracing::warn!("{message}; nothing announced, retrying every round")
                }
                _ => tracing::error!("{message}"),
            }
            self.last_bird_error = Some(message.clone());
        }
        message
    }

    /// Metrics for every protocol BIRD lists; a log line when a BGP session comes up or
    /// goes down (with BIRD's state and info, e.g. `start Active Socket: Connection refused`).
    fn report_protocols(&mut self, protocols: &[ProtocolStatus]) {
        for p in protocols {
            self.metrics
                .bird_protocol_up
                .with_label_values(&[&p.name, &p.proto])
                .set(i64::from(p.state == "up"));
            if p.is_bgp() {
                let established = p.is_established();
                self.metrics
                    .bgp_established
                    .with_label_values(&[&p.name])
                    .set(i64::from(established));
                if self.bgp_sessions.insert(p.name.clone(), established) != Some(established) {
                    tracing::info!(
                        protocol = %p.name,
                        established,
                        state = %p.state,
                        info = %p.info,
                        "BGP session"
                    );
                }
            }
        }
    }

    fn advance_drain(&mut self) {
        if !self.draining || self.safe_to_stop {
            return;
        }
        if self.announced.iter().any(|a| *a) {
            return;
        }
        let since = *self.withdrawn_at.get_or_insert_with(|| {
            tracing::info!(wait = ?self.config.drain_wait, "drain: every prefix withdrawn; waiting for the routes to move");
            Instant::now()
        });
        if since.elapsed() >= self.config.drain_wait {
            self.safe_to_stop = true;
            self.metrics.safe_to_stop.set(1);
            tracing::info!("drain complete: safe to stop");
        }
    }

    /// When the next round is due, counted from the end of this one.
    pub fn next_round_in(&mut self) -> Duration {
        if self.burst > 0 {
            self.burst -= 1;
            return BURST_GAP;
        }
        match self.withdrawn_at {
            Some(since) if self.draining && !self.safe_to_stop => (since + self.config.drain_wait)
                .saturating_duration_since(Instant::now())
                .min(self.config.health.interval),
            _ => self.config.health.interval,
        }
    }

    fn phase(&self, stopping: bool) -> Phase {
        match (stopping, self.draining, self.safe_to_stop) {
            (true, _, _) => Phase::Stopped,
            (_, true, true) => Phase::Drained,
            (_, true, false) => Phase::Draining,
            _ => Phase::Serving,
        }
    }

    fn publish(&self, bird_error: Option<String>, stopping: bool) {
        let phase = self.phase(stopping);
        {
            let mut status = self
                .status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            status.rounds += 1;
            status.announced = self.announced.clone();
            status.bird_up = self.metrics.bird_up.get() == 1;
            status.bird_error = bird_error;
            status.phase = Some(phase);
            status.unguarded = self.unguarded.iter().copied().collect();
        }
        if let Some(path) = &self.config.state_file {
            let announced = self
                .config
                .announcements
                .iter()
                .zip(&self.announced)
                .flat_map(|(a, on)| a.prefixes.iter().map(move |p| (p.to_string(), *on)))
                .collect();
            let file = StateFile {
                pid: std::process::id(),
                state: phase,
                safe_to_stop: self.safe_to_stop,
                announced,
                bird_up: self.metrics.bird_up.get() == 1,
            };
            if let Err(e) = file.write(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the state file");
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Recheck => {
                // Enough rounds back to back for rise/fall to decide now.
                let t = self.config.health.thresholds;
                self.burst = t.rise.max(t.fall).saturating_sub(1);
                tracing::info!(rounds = self.burst + 1, "re-check requested");
            }
            Command::Drain => {
                if !self.draining {
                    tracing::info!("drain requested: withdrawing every prefix");
                    self.draining = true;
                    self.metrics.draining.set(1);
                }
            }
            Command::Apply(config) => {
                self.metrics.config_reloads.with_label_values(&["ok"]).inc();
                self.apply(*config);
            }
        }
    }

    /// Run rounds until `shutdown` turns true, then withdraw everything in a last round.
    pub async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Command>,
        mut shutdown: watch::Receiver<bool>,
        first_round: watch::Sender<bool>,
    ) {
        loop {
            self.round(false).await;
            let _ = first_round.send(true);
            let sleep = tokio::time::sleep(self.next_round_in());
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                command = inbox.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                _ = sleep => {}
            }
        }
        tracing::info!("stopping: withdrawing every prefix");
        self.round(true).await;
    }
}
