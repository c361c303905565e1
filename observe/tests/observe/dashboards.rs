//! The Grafana dashboards: valid against Grafana's schema, and built to read well (units,
//! thresholds, variables, no line drawn across a missing series).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use trickles_observe::dashboard_queries::dashboard_files;
use trickles_observe::workspace;

fn dashboards() -> Vec<(PathBuf, Value)> {
    let files = dashboard_files(&workspace::dashboards_dir()).expect("dashboards");
    assert!(files.len() >= 5, "dashboards: {files:?}");
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("read");
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, json)
        })
        .collect()
}

fn panels(board: &Value) -> impl Iterator<Item = &Value> {
    board["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| std::iter::once(p).chain(p["panels"].as_array().into_iter().flatten()))
}

#[test]
fn every_dashboard_validates_against_grafanas_schema() {
    let python = workspace::root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} missing: run scripts/setup (it creates the venv with grafana-foundation-sdk)",
        python.display()
    );
    let files = dashboard_files(&workspace::dashboards_dir()).expect("dashboards");
    let output = Command::new(python)
        .arg(workspace::dashboards_dir().join("check_schema.py"))
        .args(&files)
        .output()
        .expect("run check_schema.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(&format!("{} dashboards valid", files.len())),
        "{text}"
    );
}

#[test]
fn the_schema_check_refuses_a_misspelt_key_and_a_bad_value() {
    let python = workspace::root().join(".venv/bin/python");
    assert!(python.is_file(), "run scripts/setup");
    let (_, mut board) = dashboards().remove(0);
    let panel = board["panels"][1].as_object_mut().expect("panel");
    let grid = panel.remove("gridPos").expect("gridPos");
    panel.insert("gridpos".into(), grid);
    board["templating"]["list"][1]["refresh"] = 7.into();
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, board.to_string()).expect("write");
    let output = Command::new(python)
        .arg(workspace::dashboards_dir().join("check_schema.py"))
        .arg(&bad)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        text.contains("panels[1].gridpos: not in the schema"),
        "{text}"
    );
    assert!(text.contains("refresh: 7 is not one of"), "{text}");
}

#[test]
fn every_panel_has_a_unit_thresholds_and_draws_no_line_across_a_gap() {
    for (file, board) in dashboards() {
        let names: Vec<&str> = board["templating"]["list"]
            .as_array()
            .expect("templating")
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert!(
            names.contains(&"job") && names.contains(&"instance"),
            "{}: variables {names:?}",
            file.display()
        );
        for panel in panels(&board) {
            let kind = panel["type"].as_str().unwrap_or("");
            let title = panel["title"].as_str().unwrap_or("");
            let at = format!("{}: {title}", file.display());
            if kind == "row" {
                continue;
            }
            let defaults = &panel["fieldConfig"]["defaults"];
            assert!(
                defaults["thresholds"]["steps"].is_array(),
                "{at}: no thresholds"
            );
            if kind == "timeseries" || kind == "stat" {
                assert!(defaults["unit"].is_string(), "{at}: no unit");
            }
            if kind == "timeseries" {
                assert_eq!(defaults["custom"]["spanNulls"], false, "{at}: spans gaps");
            }
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or("");
                if !expr.contains("__name__") && expr.contains("trickles_") {
                    assert!(expr.contains("$job"), "{at}: a query without $job: {expr}");
                }
            }
        }
    }
}

#[test]
fn the_provisioning_files_name_a_prometheus_source_and_the_dashboards() {
    let dir = workspace::dashboards_dir().join("provisioning");
    let read = |name: &str| -> serde_yaml::Value {
        let text = std::fs::read_to_string(dir.join(name)).expect("provisioning file");
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let sources = read("datasources.yml");
    assert_eq!(sources["apiVersion"], 1);
    assert_eq!(sources["datasources"][0]["type"], "prometheus");
    let providers = read("dashboards.yml");
    assert_eq!(providers["providers"][0]["type"], "file");
    assert!(providers["providers"][0]["options"]["path"].is_string());
}
