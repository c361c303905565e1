//! A replica outage under a real Prometheus with the shipped rules: the replica is killed while
//! a client fetches through mirror → balancer → replica, and started again. The data shows it:
//! the replica's `up` goes 1 → 0 → 1, TricklesReplicaDown fires and resolves, the failover
//! overview's delivery rate drops to zero and recovers, and every query of that dashboard
//! answers over the run (what a renderer of the dashboard asks).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use trickles_observe::{
    all_dashboard_queries, expand_variables, workspace, Expansion, PrometheusServer, QuerySource,
    ScrapeJob,
};

use crate::support::Testbed;

const SCRAPE: Duration = Duration::from_millis(500);
/// Generous for a loaded 2-core machine: conditions are awaited, not timed.
const WITHIN: Duration = Duration::from_secs(90);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

fn value(sample: &Value) -> f64 {
    sample[1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn scalar(prometheus: &PrometheusServer, expr: &str) -> Option<f64> {
    let answer = prometheus.query(expr).ok()?;
    answer.result.get(0).map(|s| value(&s["value"]))
}

fn wait_until(what: &str, prometheus: &PrometheusServer, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WITHIN:?}\n{}",
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether `alert` is firing for backend `backend` (any backend if None).
fn firing(prometheus: &PrometheusServer, alert: &str, backend: Option<&str>) -> bool {
    prometheus.alerts().unwrap_or_default().iter().any(|a| {
        a["labels"]["alertname"] == alert
            && a["state"] == "firing"
            && backend.is_none_or(|b| a["labels"]["backend"] == b)
    })
}

/// The (time, value) points of a one-series range query.
fn points(prometheus: &PrometheusServer, expr: &str, start: f64, end: f64) -> Vec<(f64, f64)> {
    let answer = prometheus
        .query_range(expr, start, end, SCRAPE)
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(answer.series(), 1, "{expr}: {:?}", answer.result);
    answer.result[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| (p[0].as_f64().unwrap_or(0.0), value(p)))
        .collect()
}

#[test]
fn a_replica_outage_shows_in_up_the_alerts_and_the_client_delivery_rate() {
    let mut testbed = Testbed::start();
    testbed.wait_for_delivery();
    let jobs: Vec<ScrapeJob> = testbed
        .components
        .iter()
        .map(|c| ScrapeJob::new(c.job, vec![c.metrics]))
        .collect();
    let prometheus = PrometheusServer::start(&jobs, &workspace::rule_files(), SCRAPE)
        .unwrap_or_else(|e| panic!("{e}"));
    let started = now();
    let delivered = "sum(trickles_client_delivered_bytes_total)";
    wait_until("a delivery rate before the kill", &prometheus, || {
        scalar(
            &prometheus,
            "sum(rate(trickles_client_delivered_bytes_total[2s]))",
        )
        .is_some_and(|r| r > 0.0)
    });
    std::thread::sleep(Duration::from_secs(3));

    let killed = now();
    testbed.kill_replica();
    wait_until("TricklesReplicaDown for r0", &prometheus, || {
        firing(&prometheus, "TricklesReplicaDown", Some("r0"))
    });
    assert!(
        firing(&prometheus, "TricklesBalancerTableEmpty", None),
        "the table is empty: {:?}",
        prometheus.alerts()
    );
    wait_until("TricklesClientStalled", &prometheus, || {
        firing(&prometheus, "TricklesClientStalled", None)
    });

    let restarted = now();
    let before_restart = scalar(&prometheus, delivered).unwrap_or(0.0);
    testbed.restart_replica();
    wait_until("TricklesReplicaDown for r0 resolved", &prometheus, || {
        !firing(&prometheus, "TricklesReplicaDown", Some("r0"))
    });
    wait_until("deliveries after the restart", &prometheus, || {
        scalar(&prometheus, delivered).is_some_and(|d| d > before_restart)
    });
    wait_until("a delivery rate after the restart", &prometheus, || {
        scalar(
            &prometheus,
            "sum(rate(trickles_client_delivered_bytes_total[2s]))",
        )
        .is_some_and(|r| r > 0.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    let end = now();

    // The replica's scrape: up, down, up.
    let up = points(&prometheus, "up{job=\"trickles-server\"}", started, end);
    let first_down = up
        .iter()
        .position(|&(_, v)| v == 0.0)
        .expect("up went to 0");
    assert_eq!(up[0].1, 1.0, "{up:?}");
    assert!(
        up[first_down..].iter().any(|&(_, v)| v == 1.0),
        "up came back: {up:?}"
    );
    assert_eq!(up.last().map(|p| p.1), Some(1.0), "{up:?}");

    // The failover overview's headline, as Grafana would ask it with a 2 s rate interval.
    let expansion = Expansion {
        rate_interval: "2s".to_owned(),
        interval: "500ms".to_owned(),
        ..Expansion::default()
    };
    let queries = all_dashboard_queries(&workspace::dashboards_dir()).expect("queries");
    let overview: Vec<_> = queries
        .iter()
        .filter(|q| q.dashboard == "trickles-failover")
        .collect();
    let headline = overview
        .iter()
        .find(|q| q.title == "Client delivery rate")
        .expect("the delivery-rate panel");
    let rate = points(
        &prometheus,
        &expand_variables(&headline.expr, &expansion),
        started,
        end,
    );
    let during = |from: f64, to: f64| {
        rate.iter()
            .filter(move |&&(t, _)| t >= from && t <= to)
            .map(|&(_, v)| v)
    };
    assert!(
        during(started, killed).any(|v| v > 0.0),
        "no rate before: {rate:?}"
    );
    // What was in flight (the mirror's bottleneck queue), the 2 s rate window and a scrape
    // interval drain within a few seconds; the outage lasts at least the alert's 15 s.
    assert!(restarted - killed >= 15.0);
    assert!(
        during(killed + 6.0, restarted).all(|v| v == 0.0),
        "deliveries while no replica ran: {rate:?}"
    );
    assert!(
        during(restarted, end).any(|v| v > 0.0),
        "no recovery: {rate:?}"
    );

    // Every query of the overview answers over the run; the health panels show the outage.
    for q in &overview {
        if q.source == QuerySource::Variable {
            continue;
        }
        let expr = expand_variables(&q.expr, &expansion);
        if let Err(e) = prometheus.query_range(&expr, started, end, SCRAPE) {
            panic!("{} ({}): {e}\n{expr}", q.title, q.ref_id);
        }
    }
    let health = points(
        &prometheus,
        "trickles_balancer_backend_up{backend=\"r0\"}",
        started,
        end,
    );
    assert!(health.iter().any(|&(_, v)| v == 0.0), "{health:?}");
    assert_eq!(health.last().map(|p| p.1), Some(1.0), "{health:?}");
    let window = format!("{:.0}s", end - started);
    let quantile = |q: f64, histogram: &str| {
        let expr =
            format!("histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[{window}])))");
        scalar(&prometheus, &expr).unwrap_or(f64::NAN) * 1e6
    };
    eprintln!(
        "over the run (µs): balancer batch p50 {:.0} p99 {:.0}; mirror batch p50 {:.0} p99 {:.0}; \
         health probe p50 {:.0} p99 {:.0}",
        quantile(0.5, "trickles_balancer_batch_duration_seconds"),
        quantile(0.99, "trickles_balancer_batch_duration_seconds"),
        quantile(0.5, "trickles_mirror_batch_duration_seconds"),
        quantile(0.99, "trickles_mirror_batch_duration_seconds"),
        quantile(0.5, "trickles_balancer_health_check_duration_seconds"),
        quantile(0.99, "trickles_balancer_health_check_duration_seconds"),
    );
    eprintln!(
        "outage: killed at +{:.1} s, restarted at +{:.1} s, delivering again by +{:.1} s",
        killed - started,
        restarted - started,
        end - 2.0 - started
    );
}
