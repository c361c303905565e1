//! Where the shipped observability files are in the source tree.

use std::path::PathBuf;

/// The workspace root (the parent of this crate).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `dashboards/`: the Grafana dashboards (`*.json`) and `provisioning/`.
pub fn dashboards_dir() -> PathBuf {
    root().join("dashboards")
}

/// `deploy/prometheus/`: `prometheus.yml`, `rules/`, `tests/`.
pub fn prometheus_dir() -> PathBuf {
    root().join("deploy").join("prometheus")
}

/// The rule files Prometheus loads (`deploy/prometheus/rules/*.yml`), sorted.
pub fn rule_files() -> Vec<PathBuf> {
    yaml_files(prometheus_dir().join("rules"))
}

/// The rules' unit tests (`deploy/prometheus/tests/*_test.yml`), sorted.
pub fn rule_tests() -> Vec<PathBuf> {
    yaml_files(prometheus_dir().join("tests"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("_test.yml"))
        .collect()
}

fn yaml_files(dir: PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}
