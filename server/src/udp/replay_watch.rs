//! [`ReplayWatch`]: how full the process's replay filter is, as metrics and a warning.
//!
//! The filter is sized for `replay_capacity` requests per generation (freshness + skew, 32 s).
//! Beyond that its false-positive rate climbs quickly, and each false positive drops a valid
//! request (the client sees a loss and slows down). Nothing else would show it, so the workers
//! export, at most once a second:
//!
//! - `trickles_server_replay_inserts_total`: requests recorded (one per accepted request);
//! - `trickles_server_replay_capacity`: requests per generation the filter is sized for;
//! - `trickles_server_replay_occupancy_ratio`: requests in the current generation over that;
//! - `trickles_server_replay_false_positive_ratio`: the modelled chance that a fresh request is
//!   taken for a replay now.
//!
//! and log a warning, at most once a minute, once the occupancy reaches [`WARN_OCCUPANCY`] or
//! the estimated false-positive rate ten times the target: before the drops bite, with the
//! setting to raise (`replay_capacity`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{Gauge, IntCounter, IntGauge, Registry};
use trickles::replay::{ReplayFilter, ReplayLoad};
use trickles::time::{Duration, Instant};

/// Occupancy (current generation over capacity) that triggers the warning.
pub const WARN_OCCUPANCY: f64 = 0.8;
/// Estimated false-positive rate over the target that triggers the warning.
pub const WARN_FALSE_POSITIVE_FACTOR: f64 = 10.0;
/// Least time between two updates of the metrics.
const UPDATE_EVERY: Duration = Duration::from_secs(1);
/// Least time between two warnings.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The replay filter's metrics (registered with the UDP driver's).
#[derive(Clone, Debug)]
pub struct ReplayMetrics {
    /// `trickles_server_replay_inserts_total`
    pub inserts: IntCounter,
    /// `trickles_server_replay_capacity`
    pub capacity: IntGauge,
    /// `trickles_server_replay_occupancy_ratio`
    pub occupancy: Gauge,
    /// `trickles_server_replay_false_positive_ratio`
    pub false_positive: Gauge,
}

impl ReplayMetrics {
    /// Fresh, unregistered metrics.
    pub fn new() -> prometheus::Result<Self> {
        Ok(ReplayMetrics {
            inserts: IntCounter::new(
                "trickles_server_replay_inserts_total",
                "Requests recorded in the replay filter",
            )?,
            capacity: IntGauge::new(
                "trickles_server_replay_capacity",
                "Requests per generation the replay filter is sized for",
            )?,
            occupancy: Gauge::new(
                "trickles_server_replay_occupancy_ratio",
                "Requests in the replay filter's current generation over its capacity",
            )?,
            false_positive: Gauge::new(
                "trickles_server_replay_false_positive_ratio",
                "Estimated chance that a fresh request is taken for a replay",
            )?,
        })
    }

    /// Register every metric in `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.inserts.clone()))?;
        registry.register(Box::new(self.capacity.clone()))?;
        registry.register(Box::new(self.occupancy.clone()))?;
        registry.register(Box::new(self.false_positive.clone()))?;
        Ok(())
    }
}

/// Watches one replay filter; shared by the workers, any of which may update it.
#[derive(Debug)]
pub struct ReplayWatch {
    filter: Arc<ReplayFilter>,
    metrics: ReplayMetrics,
    target_false_positive: f64,
    /// Microseconds of the next update; checked without the lock.
    next_update: AtomicU64,
    state: Mutex<WatchState>,
}

#[derive(Debug, Default)]
struct WatchState {
    inserts_exported: u64,
    last_warning: Option<Instant>,
}

impl ReplayWatch {
    /// Watches `filter`, sized for `target_false_positive`.
    pub fn new(
        filter: Arc<ReplayFilter>,
        metrics: ReplayMetrics,
        target_false_positive: f64,
    ) -> Self {
        metrics
            .capacity
            .set(i64::try_from(filter.capacity()).unwrap_or(i64::MAX));
        ReplayWatch {
            filter,
            metrics,
            target_false_positive,
            next_update: AtomicU64::new(0),
            state: Mutex::new(WatchState::default()),
        }
    }

    /// Update the metrics if a second has passed since the last update (and no other worker
    /// is doing it); warns if the filter is close to saturation. Returns true if it warned.
    /// Cheap enough to call once per batch: one atomic load in the common case.
    pub fn tick(&self, now: Instant) -> bool {
        if now.micros() < self.next_update.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(mut state) = self.state.try_lock() else {
            return false;
        };
        self.next_update
            .store((now + UPDATE_EVERY).micros(), Ordering::Relaxed);
        let load = self.filter.load(now);
        self.metrics
            .inserts
            .inc_by(load.inserts_total.saturating_sub(state.inserts_exported));
        state.inserts_exported = state.inserts_exported.max(load.inserts_total);
        self.metrics.occupancy.set(load.occupancy);
        self.metrics.false_positive.set(load.false_positive_rate);
        if !self.saturating(&load) {
            return false;
        }
        let quiet = state
            .last_warning
            .is_some_and(|at| now.saturating_since(at) < WARN_EVERY);
        if quiet {
            return false;
        }
        state.last_warning = Some(now);
        tracing::warn!(
            occupancy = format!("{:.2}", load.occupancy),
            estimated_false_positive = format!("{:.1e}", load.false_positive_rate),
            target_false_positive = format!("{:.1e}", self.target_false_positive),
            requests_this_generation = load.current_inserts,
            capacity = load.capacity,
            "replay filter close to saturation: valid requests will be dropped as replays; \
             raise `replay_capacity` (--replay-capacity)"
        );
        true
    }

    fn saturating(&self, load: &ReplayLoad) -> bool {
        load.occupancy >= WARN_OCCUPANCY
            || load.false_positive_rate >= self.target_false_positive * WARN_FALSE_POSITIVE_FACTOR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPACITY: usize = 1_000;
    const TARGET: f64 = 1e-3;

    fn watch() -> (Arc<ReplayFilter>, ReplayWatch) {
        let filter = Arc::new(ReplayFilter::with_capacity(
            CAPACITY,
            TARGET,
            Duration::from_secs(32),
        ));
        let metrics = ReplayMetrics::new().expect("metrics");
        (filter.clone(), ReplayWatch::new(filter, metrics, TARGET))
    }

    fn fill(filter: &ReplayFilter, now: Instant, tokens: std::ops::Range<u64>) {
        for t in tokens {
            filter.check_and_insert(now, t.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
    }

    #[test]
    fn filter_within_its_capacity_is_exported_without_a_warning() {
        let (filter, watch) = watch();
        let now = Instant(1_000_000_000);
        fill(&filter, now, 0..500);
        assert!(!watch.tick(now));
        let m = &watch.metrics;
        assert_eq!(m.inserts.get(), 500);
        assert_eq!(m.capacity.get(), CAPACITY as i64);
        assert!(
            (m.occupancy.get() - 0.5).abs() < 0.01,
            "{}",
            m.occupancy.get()
        );
        assert!(
            m.false_positive.get() < TARGET,
            "{}",
            m.false_positive.get()
        );
    }

    #[test]
    fn saturated_filter_shows_in_the_metrics_and_warns_once_a_minute() {
        let (filter, watch) = watch();
        let now = Instant(1_000_000_000);
        fill(&filter, now, 0..3_000);
        assert!(watch.tick(now), "no warning at three times the capacity");
        let m = &watch.metrics;
        assert!(m.occupancy.get() > 2.5, "{}", m.occupancy.get());
        assert!(
            m.false_positive.get() > 10.0 * TARGET,
            "{}",
            m.false_positive.get()
        );
        let later = now + Duration::from_secs(2);
        fill(&filter, later, 3_000..3_100);
        assert!(!watch.tick(later), "warned twice within a minute");
        assert_eq!(m.inserts.get(), filter.load(later).inserts_total);
        assert!(watch.tick(now + Duration::from_secs(61)));
    }

    #[test]
    fn metrics_update_at_most_once_a_second() {
        let (filter, watch) = watch();
        let now = Instant(5_000_000);
        watch.tick(now);
        fill(&filter, now, 0..10);
        watch.tick(now + Duration::from_millis(10));
        assert_eq!(watch.metrics.inserts.get(), 0);
        watch.tick(now + UPDATE_EVERY);
        assert_eq!(watch.metrics.inserts.get(), 10);
    }
}
