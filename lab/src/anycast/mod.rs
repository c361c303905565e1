//! [`AnycastSites`]: a Trickles service served from several sites under one anycast address,
//! the [`Stage`] of `trickles-lab exp anycast`. A [`Router`] (BIRD in the testbed's router
//! namespace) learns the address over eBGP from every announcing [`Site`] and installs it in
//! its kernel table; each site's `trickles-anycast` announces it through the site's BIRD while
//! the site's balancer answers.
//!
//! Actions (the target is a site, `serving` the one the router's route points at now):
//! `kill` / `pause` / `resume` / `restart` the site's balancer (`site-a:controller`,
//! `serving:controller`: its `trickles-anycast`), `cut-link` / `restore-link` its
//! link, `drain` (SIGUSR2 to its controller: withdraw, then "safe to stop"), `withdraw` /
//! `announce` (its BGP session to the router shut or enabled, as an operator would; a site that
//! joins starts with it shut).
//!
//! Observed on every tick ([`Change`]): the router's kernel route for the address (read with
//! `ip route show` every 20 ms), each controller's announced state (its state file, every
//! 20 ms), and which site's replicas send Trickles packets (their `/metrics`, every 200 ms).

pub mod router;
pub mod run;
pub mod site;

use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use router::{anycast_address, Router};
pub use site::Site;

use crate::binaries::Binaries;
use crate::error::{LabError, Result};
use crate::fixture::ServiceFixture;
use crate::schedule::{Action, Stage, Target};
use crate::service::{Service, ServiceSpec};
use crate::topology::Topology;
use trickles_observe::ScrapeJob;

/// Trickles' stream bytes per packet at the sites (as every experiment's testbed).
pub const LAB_MSS: usize = crate::experiments::context::EXPERIMENT_MSS;
/// How often the route and the controllers are read, seconds.
const READ_EVERY: f64 = 0.02;
/// How often the replicas' packet counters are read, seconds.
const SERVING_EVERY: f64 = 0.2;
/// Packets a site must send between two readings to count as serving: health probes (the
/// balancer's and the controller's, about 30 answers a second) stay below, a transfer at
/// 20 Mbit/s sends about 400.
const SERVING_PACKETS: f64 = 100.0;

/// How one site starts.
#[derive(Clone, Copy, Debug)]
pub struct SitePlan<'a> {
    /// Its host role (`site-a`).
    pub name: &'a str,
    /// The router's local preference for its routes (higher wins; equal: ECMP).
    pub local_pref: u32,
    /// Its BGP session starts shut (it joins with `announce`).
    pub joins_later: bool,
}

/// Something the stage saw change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The router's kernel route now leads to these sites (`site-a+site-b`, `none`).
    Route(String),
    /// A site's controller withdrew the prefix.
    Withdrawn(String),
    /// A site's controller announced it.
    Announced(String),
    /// The Trickles packets now come from this site.
    Serving(String),
}

/// The router and the sites.
pub struct AnycastSites<'t> {
    topology: &'t Topology,
    /// The router.
    pub router: Router,
    /// The sites, in plan order.
    pub sites: Vec<Site>,
    /// What was seen, `(seconds, change)`, in time order.
    pub changes: Vec<(f64, Change)>,
    route: String,
    announced: Vec<Option<bool>>,
    packets: Vec<Option<f64>>,
    serving: Option<usize>,
    read_at: f64,
    serving_read_at: f64,
    /// The last tick: when, and its time in the run's seconds.
    last_tick: Option<(Instant, f64)>,
}

impl<'t> AnycastSites<'t> {
    /// Starts every site of `plans` (hosts of `topology`) serving `anycast`, then the router.
    pub fn start(
        binaries: &Binaries,
        topology: &'t Topology,
        fixture: &ServiceFixture,
        anycast: IpAddr,
        plans: &[SitePlan<'_>],
    ) -> Result<Self> {
        let mut sites = Vec::with_capacity(plans.len());
        for (i, plan) in plans.iter().enumerate() {
            let at = (plan.name, i);
            let site = Site::start(binaries, topology, fixture, at, anycast, plan.joins_later)?;
            sites.push(site);
        }
        let peers: Vec<(&str, u32)> = plans.iter().map(|p| (p.name, p.local_pref)).collect();
        let router = Router::start(binaries, topology, fixture, anycast, &peers)?;
        Ok(AnycastSites {
            topology,
            router,
            announced: vec![None; sites.len()],
            packets: vec![None; sites.len()],
            sites,
            changes: Vec::new(),
            route: String::new(),
            serving: None,
            read_at: f64::NEG_INFINITY,
            serving_read_at: f64::NEG_INFINITY,
            last_tick: None,
        })
    }

    /// What `--observe` scrapes: every site's replicas, balancer and controller.
    pub fn scrape_jobs(&self) -> Vec<ScrapeJob> {
        let mut jobs = ["trickles-server", "trickles-balancer", "trickles-anycast"]
            .map(|name| ScrapeJob::new(name, Vec::new()));
        for site in &self.sites {
            let replicas = site.replicas.iter().filter_map(|r| r.spec().control());
            jobs[0].targets.extend(replicas);
            jobs[1].targets.extend(site.balancer.spec().control());
            jobs[2].targets.extend(site.controller.spec().control());
        }
        jobs.to_vec()
    }

    /// When `wanted` was first seen at or after `since`.
    pub fn first_after(&self, since: f64, wanted: impl Fn(&Change) -> bool) -> Option<f64> {
        self.changes
            .iter()
            .find(|(at, change)| *at >= since && wanted(change))
            .map(|(at, _)| *at)
    }

    /// Goes on observing after the client has exited (a reset TCP client exits before the
    /// route change it caused is read) until `done` or `limit`; returns the events, timed on
    /// the run's clock.
    pub fn keep_observing(
        &mut self,
        limit: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> Vec<(f64, String)> {
        let mut events = Vec::new();
        let Some((then, seconds)) = self.last_tick else {
            return events;
        };
        let start = Instant::now();
        while !done(self) && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
            self.observe(seconds + then.elapsed().as_secs_f64(), &mut events);
        }
        events
    }

    /// The site a target names and the part of it: `site-a` (its balancer) or
    /// `site-a:controller`; `serving` is the first site the router's route leads to.
    fn site_of(&self, target: &Target) -> Result<(usize, Part)> {
        let text = target.to_string();
        let (name, part) = match text.split_once(':') {
            Some((name, "controller")) => (name, Part::Controller),
            Some((_, other)) => {
                return Err(LabError::Usage(format!(
                    "a site's part is `controller` (or none: its balancer), not {other:?}"
                )))
            }
            None => (text.as_str(), Part::Balancer),
        };
        let name = match name {
            "serving" => self
                .router
                .route()?
                .split('+')
                .next()
                .unwrap_or_default()
                .to_owned(),
            other => other.to_owned(),
        };
        let index = self.sites.iter().position(|site| site.name == name);
        index
            .map(|i| (i, part))
            .ok_or_else(|| LabError::Usage(format!("no anycast site {name:?} ({text})")))
    }

    fn record(&mut self, seconds: f64, change: Change, events: &mut Vec<(f64, String)>) {
        let label = match &change {
            Change::Route(sites) => format!("router's route now via {sites}"),
            Change::Withdrawn(site) => format!("{site} withdrawn by its controller"),
            Change::Announced(site) => format!("{site} announced by its controller"),
            Change::Serving(site) => format!("{site} serving"),
        };
        events.push((seconds, label));
        self.changes.push((seconds, change));
    }

    fn read_serving(&mut self, seconds: f64, events: &mut Vec<(f64, String)>) {
        let now: Vec<Option<f64>> = self.sites.iter().map(Site::packets_sent).collect();
        let grown = now
            .iter()
            .zip(&self.packets)
            .map(|(now, before)| now.unwrap_or(0.0) - before.unwrap_or(0.0))
            .enumerate()
            .filter(|(_, grown)| *grown >= SERVING_PACKETS)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        self.packets = now;
        if let Some(i) = grown.filter(|&i| Some(i) != self.serving) {
            self.serving = Some(i);
            let name = self.sites[i].name.clone();
            self.record(seconds, Change::Serving(name), events);
        }
    }
}

impl Stage for AnycastSites<'_> {
    fn apply(&mut self, action: &Action) -> Result<String> {
        let (i, part) = self.site_of(action.target())?;
        let serving = action.target().to_string().starts_with("serving");
        let site = &mut self.sites[i];
        let host = site.name.clone();
        let name = match serving {
            true => format!("{} (serving)", site.name),
            false => site.name.clone(),
        };
        let done = match action {
            Action::Kill(_) | Action::Pause(_) | Action::Resume(_) | Action::Restart(_) => {
                let (what, done) = match part {
                    Part::Balancer => ("balancer", process_action(&mut site.balancer, action)?),
                    Part::Controller => {
                        ("controller", process_action(&mut site.controller, action)?)
                    }
                };
                return Ok(format!("{name}'s {what} {done}"));
            }
            Action::CutLink(_) => self.topology.cut_link(&host).map(|()| "'s link cut")?,
            Action::RestoreLink(_) => self
                .topology
                .restore_link(&host)
                .map(|()| "'s link restored")?,
            Action::Drain(_) => site.controller.drain().map(|()| " drained (SIGUSR2)")?,
            Action::Withdraw(_) => site
                .bird
                .switch(site::UPLINK, false)
                .map(|()| "'s BGP session shut")?,
            Action::Announce(_) => site
                .bird
                .switch(site::UPLINK, true)
                .map(|()| "'s BGP session enabled")?,
            Action::CrashHost(_) | Action::BootHost(_) => {
                return Err(LabError::Usage(format!(
                    "anycast sites do not {action:?}: cut the site's link instead"
                )))
            }
        };
        Ok(format!("{name}{done}"))
    }

    fn check(&mut self) -> Result<()> {
        self.router.bird.check_running()?;
        self.sites.iter_mut().try_for_each(Site::check)
    }

    fn observe(&mut self, seconds: f64, events: &mut Vec<(f64, String)>) {
        self.last_tick = Some((Instant::now(), seconds));
        if seconds - self.serving_read_at >= SERVING_EVERY {
            self.serving_read_at = seconds;
            self.read_serving(seconds, events);
        }
        if seconds - self.read_at < READ_EVERY {
            return;
        }
        self.read_at = seconds;
        if let Ok(route) = self.router.route() {
            if route != self.route {
                self.route.clone_from(&route);
                self.record(seconds, Change::Route(route), events);
            }
        }
        for i in 0..self.sites.len() {
            let now = self.sites[i].controller.announced();
            if now.is_some() && now != self.announced[i] {
                let name = self.sites[i].name.clone();
                let change = match now == Some(true) {
                    true => Change::Announced(name),
                    false => Change::Withdrawn(name),
                };
                self.announced[i] = now;
                self.record(seconds, change, events);
            }
        }
    }
}

/// What a process action of a schedule acts on at a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// The balancer (the site's service).
    Balancer,
    /// The site's `trickles-anycast`.
    Controller,
}

/// Kill, pause, resume or restart `service`.
fn process_action<S: ServiceSpec>(
    service: &mut Service<S>,
    action: &Action,
) -> Result<&'static str> {
    Ok(match action {
        Action::Kill(_) => service.kill().map(|_| "SIGKILLed")?,
        Action::Pause(_) => service.pause().map(|()| "paused (SIGSTOP)")?,
        Action::Resume(_) => service.resume().map(|()| "resumed")?,
        Action::Restart(_) => service.restart().map(|()| "restarted")?,
        other => {
            return Err(LabError::Usage(format!(
                "{other:?} is not a process action"
            )))
        }
    })
}
