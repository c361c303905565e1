//! [`fetch_through_anycast`]: one client transfer from the anycast address while a schedule acts
//! on the sites (its first step is the event: a failure, a drain, a site joining), and the
//! times that follow it: the controller's withdraw, the route change in the router's kernel,
//! the first delivery after the outage; which site served before and after; byte-exactness.

use std::time::Duration;

use super::{AnycastSites, Change};
use crate::binaries::Binaries;
use crate::error::Result;
use crate::measure::recovery::{analyse, Recovery, RECOVERY_RULE};
use crate::measure::transfer::{run_transfer, Transfer};
use crate::schedule::FailureSchedule;
use crate::service::client::ClientSpec;
use crate::topology::Host;

/// How long the route is still watched after the client exits, for a change it has not
/// seen yet.
const SETTLE: Duration = Duration::from_secs(3);

/// What one transfer through an anycast event did.
#[derive(Clone, Debug)]
pub struct AnycastRun {
    /// The client's statistics and delivery trace (with every event).
    pub transfer: Transfer,
    /// Seconds after the client's start when the event happened.
    pub event_at: f64,
    /// When a controller was seen withdrawing, at or after the event.
    pub withdrawn_at: Option<f64>,
    /// When the router's kernel route was first seen changed, at or after the event.
    pub route_changed_at: Option<f64>,
    /// The route after that change (`site-b`, `site-a+site-b`).
    pub route_after: Option<String>,
    /// The recovery read off the trace (the outage's end is the first resumed delivery).
    pub recovery: Recovery,
    /// The site whose replicas sent Trickles packets before the event.
    pub served_before: Option<String>,
    /// The one sending them at the end.
    pub served_after: Option<String>,
    /// Whether the output and the client's digest are the served file's.
    pub byte_exact: bool,
}

impl AnycastRun {
    /// Seconds from the event to the first delivery after the outage (`None`: no outage).
    pub fn resumed_after(&self) -> Option<f64> {
        self.recovery.outage.map(|(_, end)| end - self.event_at)
    }
}

/// Runs `client` in `client_host` against the anycast address while `schedule` runs on
/// `sites`, at most `limit`; `expected_sha256` is the served file's.
pub fn fetch_through_anycast(
    binaries: &Binaries,
    sites: &mut AnycastSites<'_>,
    client_host: &Host,
    client: ClientSpec,
    schedule: &FailureSchedule,
    limit: Duration,
    expected_sha256: &str,
) -> Result<AnycastRun> {
    let output = client.output.clone();
    let mut transfer = run_transfer(binaries, client_host, client, limit, schedule, sites)?;
    let event_at = transfer.step_time(0)?;
    let moved = |sites: &AnycastSites<'_>| {
        sites
            .first_after(event_at, |c| matches!(c, Change::Route(_)))
            .is_some()
    };
    for (at, label) in sites.keep_observing(SETTLE, moved) {
        transfer.trace.event(at, label);
    }
    let recovery = analyse(&transfer.trace, event_at, RECOVERY_RULE);
    if let Some((_, resumed)) = recovery.outage {
        transfer.trace.event(resumed, "deliveries resumed");
    }
    let (_, byte_exact) = transfer.check_output(output.as_deref(), expected_sha256)?;
    let route_changed_at = sites.first_after(event_at, |c| matches!(c, Change::Route(_)));
    let route_after = sites.changes.iter().find_map(|(at, change)| match change {
        Change::Route(route) if Some(*at) == route_changed_at => Some(route.clone()),
        _ => None,
    });
    let serving = |until: f64| {
        sites
            .changes
            .iter()
            .rev()
            .filter(|(at, _)| *at <= until)
            .filter_map(|(_, change)| match change {
                Change::Serving(site) => Some(site.clone()),
                _ => None,
            })
            .next()
    };
    Ok(AnycastRun {
        event_at,
        withdrawn_at: sites.first_after(event_at, |c| matches!(c, Change::Withdrawn(_))),
        route_changed_at,
        route_after,
        served_before: serving(event_at),
        served_after: serving(f64::INFINITY),
        recovery,
        byte_exact,
        transfer,
    })
}
