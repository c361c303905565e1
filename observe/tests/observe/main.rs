//! The shipped observability, checked for real: the rules' unit tests and every query of the
//! dashboards and rules in a real Prometheus scraping the real binaries; the dashboards against
//! Grafana's schema; every `/metrics` endpoint through `promtool check metrics`; the metric
//! reference of docs/OBSERVABILITY.md against what the binaries export.

mod dashboards;
mod endpoints;
mod failover;
mod prometheus;
mod rules;
mod support;
