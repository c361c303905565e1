//! `trickles-lab exp anycast`: one service at one anycast address served by two sites (three
//! with `--sites 3`), each announcing it over eBGP to a router through its BIRD and its
//! `trickles-anycast` ([`crate::anycast`]). A client downloads from the anycast address across a
//! shaped link while the route moves. Scenarios (`--scenario`, default all):
//! - `fail`: the serving site fails at `--event-at` (`--failure`: its balancer SIGKILLed, its
//!   link cut, or its controller SIGKILLed or SIGSTOPped); its controller withdraws (or the
//!   router loses the session, or BIRD's BFD to the dead controller lapses), the route moves;
//! - `drain`: the serving site is drained (SIGUSR2 to its controller), no failure;
//! - `ecmp`: site-b's BGP session comes up mid-transfer with the same preference as site-a, so
//!   the router spreads the address over both by flow hash.
//!
//! Clients (`--clients`, one fresh testbed each): Trickles (`trickles://ANYCAST:4433/`, the same
//! client process throughout), TCP with `--http-range-resume` and plain TCP (`http://
//! ANYCAST:8080/`, allowed to fail). Reported: byte-exactness, the event → withdraw → route
//! change → first resumed delivery times, which site served before and after. Written:
//! `anycast-SCENARIO.csv` / `-samples.csv` / `.png` / `.svg`, `anycast-summary.csv`.

use std::time::Duration;

use clap::{Args, ValueEnum};

pub use super::anycast_clients::Client;
use super::anycast_table::table;
use super::context::{BaseArgs, Context};
use super::report::write_goodput_series;
use crate::anycast::run::{fetch_through_anycast, AnycastRun};
use crate::anycast::{anycast_address, AnycastSites, SitePlan};
use crate::binaries::Profile;
use crate::byte_size::parse_byte_size;
use crate::error::{LabError, Result};
use crate::measure::delivery::TraceEvent;
use crate::measure::recovery::{legend, RECOVERY_RULE};
use crate::observe::{self, Observer};
use crate::schedule::{Action, FailureSchedule, Target, Trigger};
use trickles_observe::ScrapeJob;

const FILE: &str = "anycast.bin";
const SITES: [&str; 3] = ["site-a", "site-b", "site-c"];

/// What moves the route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The serving site fails.
    Fail,
    /// The serving site is drained.
    Drain,
    /// A second site joins with equal preference (ECMP).
    Ecmp,
}

/// What fails in `fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Failure {
    /// The serving site's balancer is SIGKILLed (its controller's probes fail).
    Balancer,
    /// The serving site's link is cut.
    Link,
    /// The serving site's controller is SIGKILLed (BIRD's BFD to it lapses).
    ControllerKill,
    /// The serving site's controller is SIGSTOPped (hung).
    ControllerStop,
}

/// Flags of `trickles-lab exp anycast`.
#[derive(Clone, Debug, Args)]
pub struct AnycastArgs {
    #[command(flatten)]
    pub base: BaseArgs,
    /// Scenarios to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
    /// Clients to run in each scenario (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub clients: Vec<Client>,
    /// What fails in `fail`.
    #[arg(long, value_enum, default_value = "balancer")]
    pub failure: Failure,
    /// In `fail`, cut the serving site's link (the same as `--failure link`).
    #[arg(long)]
    pub cut_link: bool,
    /// Number of sites (2 or 3).
    #[arg(long, default_value_t = 2)]
    pub sites: usize,
    /// Rate toward the client, Mbit/s.
    #[arg(long, default_value_t = 20.0)]
    pub rate_mbit: f64,
    /// Size of the served file.
    #[arg(long, default_value = "25MB", value_parser = parse_byte_size)]
    pub size: u64,
    /// Seconds after the client's start when the event happens.
    #[arg(long, default_value_t = 4.0)]
    pub event_at: f64,
    /// Seed of the served file's content.
    #[arg(long, default_value_t = 2005)]
    pub seed: u64,
    /// Seconds one transfer may take.
    #[arg(long, default_value_t = 90.0)]
    pub transfer_limit: f64,
    /// Run a real Prometheus in the router scraping every site's replicas, balancer and
    /// controller and the client, and draw the failover overview and the anycast dashboard of
    /// each run (`anycast-SCENARIO-CLIENT-{overview,dashboard}.png`).
    #[arg(long)]
    pub observe: bool,
}

impl AnycastArgs {
    /// The reduced size the tests run: 8 MB at 20 Mbit/s, the event at 1.5 s.
    pub fn reduced(base: BaseArgs, scenario: Scenario, clients: Vec<Client>) -> Self {
        AnycastArgs {
            base,
            scenario: vec![scenario],
            clients,
            failure: Failure::Balancer,
            cut_link: false,
            sites: 2,
            rate_mbit: 20.0,
            size: 8_000_000,
            event_at: 1.5,
            seed: 2005,
            transfer_limit: 45.0,
            observe: false,
        }
    }

    /// The sites, the route before the event, and the event.
    fn plan(&self, scenario: Scenario) -> (Vec<SitePlan<'static>>, String, Action) {
        let ecmp = scenario == Scenario::Ecmp;
        let plans: Vec<SitePlan<'static>> = SITES[..self.sites]
            .iter()
            .enumerate()
            .map(|(i, &name)| SitePlan {
                name,
                local_pref: if i == 0 || ecmp { 200 } else { 100 },
                joins_later: ecmp && i == 1,
            })
            .collect();
        // Before the event the route leads to the most preferred sites that announce.
        let before: Vec<&str> = plans
            .iter()
            .filter(|p| !p.joins_later && p.local_pref == 200)
            .map(|p| p.name)
            .collect();
        let before = before.join("+");
        let controller = Target::Named("serving:controller".to_owned());
        let failure = if self.cut_link {
            Failure::Link
        } else {
            self.failure
        };
        let action = match (scenario, failure) {
            (Scenario::Fail, Failure::Balancer) => Action::Kill(Target::Serving),
            (Scenario::Fail, Failure::Link) => Action::CutLink(Target::Serving),
            (Scenario::Fail, Failure::ControllerKill) => Action::Kill(controller),
            (Scenario::Fail, Failure::ControllerStop) => Action::Pause(controller),
            (Scenario::Drain, _) => Action::Drain(Target::Serving),
            (Scenario::Ecmp, _) => Action::Announce(Target::Named(SITES[1].to_owned())),
        };
        (plans, before, action)
    }
}

/// One transfer of the experiment.
pub type Row = (Scenario, Client, AnycastRun);

/// Runs the experiment, prints the table, writes the files.
pub fn run(args: &AnycastArgs) -> Result<(Vec<Row>, super::report::Report)> {
    if !(2..=3).contains(&args.sites) || args.event_at <= 0.0 {
        return Err(LabError::Usage(
            "--sites is 2 or 3, --event-at positive".to_owned(),
        ));
    }
    let context = Context::new("anycast", &args.base, Profile::Release)?;
    let expected = context.fixture.add_file(FILE, args.size, args.seed)?;
    let anycast = anycast_address(context.family);
    let scenarios = or_all(&args.scenario, Scenario::value_variants());
    let clients = or_all(&args.clients, Client::value_variants());
    let (mut rows, mut files) = (Vec::new(), Vec::new());
    for &scenario in &scenarios {
        let (plans, before, action) = args.plan(scenario);
        let schedule = FailureSchedule::at(Trigger::At(args.event_at), action);
        let mut traces = Vec::new();
        for &client in &clients {
            let mut roles = vec!["client"];
            roles.extend(plans.iter().map(|p| p.name));
            let topology = context.topology("anycast", &roles)?;
            topology.shape_toward("client", (args.rate_mbit * 1e6) as u64, 128 << 10)?;
            let mut sites = AnycastSites::start(
                &context.binaries,
                &topology,
                &context.fixture,
                anycast,
                &plans,
            )?;
            sites.router.wait_route(&before, Duration::from_secs(30))?;
            let stem = format!("{scenario:?}-{client:?}").to_ascii_lowercase();
            let mut spec = client.spec(anycast, FILE, &context, &stem);
            let limit = Duration::from_secs_f64(args.transfer_limit);
            let host = topology.host("client");
            let observer = match args.observe {
                true => {
                    spec.metrics = Some(observe::client_metrics(&host)?);
                    let mut jobs = sites.scrape_jobs();
                    jobs.push(ScrapeJob::new(
                        "trickles-client",
                        spec.metrics.into_iter().collect(),
                    ));
                    Some(Observer::start(&topology, &jobs)?)
                }
                false => None,
            };
            let started = observe::unix_now();
            let run = fetch_through_anycast(
                &context.binaries,
                &mut sites,
                &host,
                spec,
                &schedule,
                limit,
                &expected,
            )?;
            if let Some(observer) = observer {
                for (name, part) in [("failover", "overview"), ("anycast", "dashboard")] {
                    let path = context.result_path(&format!("anycast-{stem}-{part}"));
                    let drawn = observer.draw(name, started, &path)?;
                    files.extend([drawn.files.png, drawn.files.svg]);
                }
            }
            traces.push((client.label(), run.transfer.trace.clone()));
            rows.push((scenario, client, run));
        }
        let stem = context.result_path(&format!("anycast-{scenario:?}").to_ascii_lowercase());
        let series: Vec<_> = traces.iter().map(|(l, t)| (*l, t)).collect();
        let marker = [TraceEvent {
            seconds: args.event_at,
            label: format!("{scenario:?}"),
        }];
        let family = if args.base.ipv6 { "IPv6" } else { "IPv4" };
        let title = format!(
            "Anycast, {scenario:?} at {} s: goodput ({family})",
            args.event_at
        );
        files.extend(write_goodput_series(&stem, &title, &series, &marker)?);
    }
    let report = context.publish(
        table(&rows),
        "anycast-summary.csv",
        &legend(RECOVERY_RULE),
        files,
    )?;
    Ok((rows, report))
}

/// `given`, or `all` when nothing was given.
fn or_all<T: Clone>(given: &[T], all: &[T]) -> Vec<T> {
    match given.is_empty() {
        true => all.to_vec(),
        false => given.to_vec(),
    }
}
