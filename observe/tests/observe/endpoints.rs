//! Every `/metrics` endpoint of the real binaries follows the Prometheus conventions, carries
//! the build and process metrics, and is what docs/OBSERVABILITY.md lists.

use trickles_observe::exposition::metric_families;
use trickles_observe::{tools, workspace};

use crate::support::Testbed;

/// The names of the metric reference table of docs/OBSERVABILITY.md, per component column.
fn documented() -> Vec<(String, String, String)> {
    let doc = std::fs::read_to_string(workspace::root().join("docs/OBSERVABILITY.md"))
        .expect("docs/OBSERVABILITY.md");
    let section = doc
        .split("## Metric reference")
        .nth(1)
        .expect("a `## Metric reference` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | `name` | type | exported by | meaning |
            let name = cells.get(1)?.strip_prefix('`')?.split(['`', '{']).next()?;
            Some((
                name.to_owned(),
                cells.get(2)?.to_string(),
                cells.get(3)?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn every_metrics_endpoint_passes_promtool_check_metrics() {
    let testbed = Testbed::start();
    testbed.wait_for_delivery();
    for c in &testbed.components {
        let text = testbed.scrape(c.job);
        if let Err(e) = tools::check_metrics(&text) {
            panic!("{} /metrics: {e}\n{text}", c.job);
        }
        let families = metric_families(&text);
        let component = c.job.trim_start_matches("trickles-");
        for name in [
            format!("trickles_{component}_build_info"),
            "process_cpu_seconds_total".to_owned(),
            "process_resident_memory_bytes".to_owned(),
            "process_open_fds".to_owned(),
            "process_start_time_seconds".to_owned(),
        ] {
            assert!(families.contains_key(&name), "{} lacks {name}", c.job);
        }
    }
}

#[test]
fn the_metric_reference_lists_exactly_what_the_binaries_export() {
    let testbed = Testbed::start();
    testbed.wait_for_delivery();
    let rows = documented();
    assert!(
        rows.len() > 40,
        "only {} rows in the metric reference",
        rows.len()
    );
    let mut problems = Vec::new();
    for c in &testbed.components {
        let families = metric_families(&testbed.scrape(c.job));
        let binary = c.job;
        for (name, kind) in &families {
            match rows.iter().find(|(n, ..)| n == name) {
                None => problems.push(format!("{binary} exports {name}, not in the reference")),
                Some((_, doc_kind, by)) => {
                    if doc_kind != kind {
                        problems.push(format!("{name} is a {kind}, the reference says {doc_kind}"));
                    }
                    if !by.split(',').any(|b| b.trim() == binary) {
                        problems.push(format!(
                            "{name} is exported by {binary}, the reference says `{by}`"
                        ));
                    }
                }
            }
        }
    }
    for (name, _, by) in &rows {
        if by.contains("trickles-anycast") {
            continue; // Not built yet: the names are the anycast controller's contract.
        }
        for binary in by.split(',').map(str::trim) {
            let Some(c) = testbed.components.iter().find(|c| c.job == binary) else {
                problems.push(format!("{name}: `{binary}` is not a binary"));
                continue;
            };
            if !metric_families(&testbed.scrape(c.job)).contains_key(name) {
                problems.push(format!(
                    "the reference says {binary} exports {name}; it does not"
                ));
            }
        }
    }

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
