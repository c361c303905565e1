//! Every panel query of the dashboards and every rule, evaluated by a real Prometheus that
//! scrapes the real binaries (server, balancer, mirror, client with a transfer running through
//! them) and evaluates the shipped rules.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use trickles_observe::exposition::{metric_families, referenced_metrics, series_names};
use trickles_observe::{
    all_dashboard_queries, expand_variables, rule_exprs, workspace, Expansion, PrometheusServer,
    RuleKind, ScrapeJob,
};

use crate::support::Testbed;

const SCRAPE: Duration = Duration::from_millis(500);

/// Whether an expression filters its answer (a comparison), so an empty answer is fine.
fn filters(expr: &str) -> bool {
    [" > ", " < ", " == ", " != "]
        .iter()
        .any(|op| expr.contains(op))
}

#[test]
fn every_panel_query_and_rule_runs_in_a_real_prometheus_scraping_the_binaries() {
    let testbed = Testbed::start();
    testbed.wait_for_delivery();
    let jobs: Vec<ScrapeJob> = testbed
        .components
        .iter()
        .map(|c| ScrapeJob::new(c.job, vec![c.metrics]))
        .collect();
    let prometheus = PrometheusServer::start(&jobs, &workspace::rule_files(), SCRAPE)
        .unwrap_or_else(|e| panic!("{e}"));

    // What the binaries export, and what the rules record.
    let mut known: BTreeSet<String> = ["up".to_owned()].into();
    for c in &testbed.components {
        for (family, kind) in metric_families(&testbed.scrape(c.job)) {
            known.extend(series_names(&family, &kind));
        }
    }
    let mut rules = Vec::new();
    for file in workspace::rule_files() {
        rules.extend(rule_exprs(&file).unwrap_or_else(|e| panic!("{e}")));
    }
    known.extend(
        rules
            .iter()
            .filter(|r| r.kind == RuleKind::Recording)
            .map(|r| r.name.clone()),
    );

    // Enough scrapes for rates over the dashboards' 1 m $__rate_interval, and every target up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = prometheus.query("sum(up)").map(|a| a.result.to_string());
        let all_up = prometheus
            .query("count(up == 1)")
            .ok()
            .and_then(|a| a.result[0]["value"][1].as_str().map(str::to_owned));
        if all_up.as_deref() == Some(&testbed.components.len().to_string())
            && prometheus
                .query("count_over_time(up[1m]) > 8")
                .map(|a| a.series())
                .unwrap_or(0)
                == testbed.components.len()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "targets not all up with 8 scrapes in 60 s: {up:?}\n{}\n{}",
            prometheus.log(),
            testbed.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let queries =
        all_dashboard_queries(&workspace::dashboards_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert!(queries.len() > 50, "only {} queries", queries.len());
    let mut problems = Vec::new();
    let mut answered = 0;
    let expansion = Expansion::default();
    for q in &queries {
        let place = format!("{} / {} ({})", q.dashboard, q.title, q.ref_id);
        for name in referenced_metrics(&q.expr) {
            if !known.contains(&name) && !name.starts_with("trickles_anycast_") {
                problems.push(format!(
                    "{place}: `{name}` is neither exported nor recorded"
                ));
            }
        }
        let expr = expand_variables(&q.expr, &expansion);
        match prometheus.query(&expr) {
            Err(e) => problems.push(format!("{place}: {e}\n    {expr}")),
            Ok(answer) if answer.series() > 0 => answered += 1,
            Ok(_) => {
                let names = referenced_metrics(&q.expr);
                let testbed_has_all = names.iter().all(|n| known.contains(n));
                if testbed_has_all && !filters(&q.expr) {
                    problems.push(format!("{place}: no series\n    {expr}"));
                }
            }
        }
    }
    for rule in &rules {
        for name in referenced_metrics(&rule.expr) {
            if !known.contains(&name) && !name.starts_with("trickles_anycast_") {
                problems.push(format!(
                    "rule {}: `{name}` is neither exported nor recorded",
                    rule.name
                ));
            }
        }
        if let Err(e) = prometheus.query(&rule.expr) {
            problems.push(format!("rule {}: {e}", rule.name));
        }
    }
    // The failover overview's headline shows the transfer running.
    let rate = prometheus
        .query("sum(rate(trickles_client_delivered_bytes_total[1m]))")
        .unwrap_or_else(|e| panic!("{e}"));
    let value: f64 = rate.result[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(value > 0.0, "no delivery rate: {rate:?}");
    // The dead backend is down in the balancer's view, the live one up.
    let down = prometheus
        .query("trickles_balancer_backend_up == 0")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(down.result[0]["metric"]["backend"], "r1", "{down:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!(
        "{} dashboard queries and {} rules evaluated; {answered} queries answered with series",
        queries.len(),
        rules.len()
    );
}
