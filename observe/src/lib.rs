//! # trickles-observe: checking the shipped dashboards and Prometheus rules for real
//!
//! `dashboards/` (Grafana JSON) and `deploy/prometheus/` (scrape configuration, recording and
//! alerting rules) are only worth shipping if every query in them parses, names metrics the
//! binaries export, and shows something when a replica fails. This crate holds what checks that,
//! so the tests here and the lab's failover runs use the same pieces:
//!
//! | module | what | main items |
//! | --- | --- | --- |
//! | [`dashboard_queries`](mod@dashboard_queries) | every PromQL expression of a dashboard with its panel and place | [`PanelQuery`] (dashboard, panel, expr, gridPos), [`all_dashboard_queries`], [`expand_variables`] |
//! | [`rule_exprs`](mod@rule_exprs) | every recording rule's and alert's expression | [`RuleExpr`], [`rule_exprs()`] |
//! | [`prometheus_server`] | a real Prometheus in a temporary directory | [`PrometheusServer`] (`query`, `query_range`, `alerts`), [`ScrapeJob`] |
//! | [`tools`] | `promtool` | [`tools::check_metrics`], [`tools::test_rules`], [`tools::check_config`] |
//! | [`exposition`] | reading a `/metrics` answer and naming the metrics of an expression | [`exposition::metric_families`], [`exposition::referenced_metrics`] |
//! | [`workspace`] | where the files are | [`workspace::dashboards_dir`], [`workspace::rule_files`] |
//!
//! The tests (`tests/observe/`) run the rules' unit tests with promtool, validate every
//! dashboard against Grafana's schema (`dashboards/check_schema.py`), evaluate every panel query
//! and rule in a real Prometheus, start the real binaries on loopback to check their `/metrics`
//! with `promtool check metrics`, and compare what they export with `docs/OBSERVABILITY.md`.

pub mod dashboard_queries;
pub mod error;
pub mod exposition;
pub mod prometheus_server;
pub mod rule_exprs;
pub mod tools;
pub mod workspace;

pub use dashboard_queries::{
    all_dashboard_queries, dashboard_queries, expand_variables, Expansion, GridPos, PanelQuery,
    QuerySource,
};
pub use error::{ObserveError, Result};
pub use prometheus_server::{PrometheusServer, QueryAnswer, ScrapeJob};
pub use rule_exprs::{rule_exprs, RuleExpr, RuleKind};
