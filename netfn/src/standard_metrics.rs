//! What every trickles binary's registry holds besides its own counters:
//! `trickles_<component>_build_info{version,profile}` (always 1, so a dashboard can show which
//! build runs where and a query can join on it) and the standard `process_*` collector of the
//! Prometheus client (CPU seconds, resident and virtual memory, open and maximum file
//! descriptors, threads, start time; read from `/proc/self` at each scrape).
//!
//! Each binary calls [`register_standard_metrics`] once, where it registers its own metrics, so
//! every `/metrics` endpoint served by [`crate::MetricsEndpoint`] carries them.

use prometheus::process_collector::ProcessCollector;
use prometheus::{IntGaugeVec, Opts, Registry};

/// The `profile` label: how this binary was compiled.
pub const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// The name of a component's build-info gauge.
pub fn build_info_name(component: &str) -> String {
    format!("trickles_{component}_build_info")
}

/// Register `trickles_<component>_build_info{version,profile} 1` and the `process_*`
/// collector in `registry`. `version` is the binary's crate version
/// (`env!("CARGO_PKG_VERSION")`). Fails when called twice on one registry.
pub fn register_standard_metrics(
    registry: &Registry,
    component: &str,
    version: &str,
) -> prometheus::Result<()> {
    let build_info = IntGaugeVec::new(
        Opts::new(
            build_info_name(component),
            "Always 1; the labels say which build runs",
        ),
        &["version", "profile"],
    )?;
    build_info.with_label_values(&[version, PROFILE]).set(1);
    registry.register(Box::new(build_info))?;
    registry.register(Box::new(ProcessCollector::for_self()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_gets_build_info_and_process_metrics() {
        let registry = Registry::new();
        register_standard_metrics(&registry, "example", "1.2.3").expect("register");
        let text = crate::render(&registry);
        let build =
            format!("trickles_example_build_info{{profile=\"{PROFILE}\",version=\"1.2.3\"}} 1");
        assert!(text.contains(&build), "no build info in\n{text}");
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "no {name} in\n{text}"
            );
        }
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse::<f64>().ok())
            .expect("rss value");
        assert!(rss > 0.0);
    }

    #[test]
    fn registering_twice_on_one_registry_is_refused() {
        let registry = Registry::new();
        register_standard_metrics(&registry, "example", "1").expect("first");
        assert!(register_standard_metrics(&registry, "example", "1").is_err());
    }
}
