//! Every PromQL expression a Grafana dashboard runs, as a flat list of [`PanelQuery`]:
//! `(dashboard, panel, expr, gridPos)` for each panel target, dashboard annotation and query
//! variable, read from the dashboard JSON with no Grafana at hand.
//!
//! The walk: `panels[]` (and the `panels[]` of collapsed rows) → each `targets[]` with an
//! `expr`; `annotations.list[]` with an `expr`; `templating.list[]` of type `query` (the
//! `label_values(SELECTOR, label)` form becomes `SELECTOR`, what Prometheus is asked). To run
//! a query outside Grafana, [`expand_variables`] replaces the dashboard variables (`$job`,
//! `$instance`, `${job}`) and Grafana's interval macros (`$__rate_interval`, `$__interval`,
//! `$__range`) with fixed values.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{ObserveError, Result};

/// Where a query sits in its dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GridPos {
    /// Column (0..24).
    pub x: u32,
    /// Row.
    pub y: u32,
    /// Width in columns.
    pub w: u32,
    /// Height in rows.
    pub h: u32,
}

/// What kind of dashboard element a query belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuerySource {
    /// A panel's target.
    Panel,
    /// A dashboard annotation (events drawn over every panel).
    Annotation,
    /// A template variable's query.
    Variable,
}

/// One PromQL expression of a dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelQuery {
    /// The dashboard file.
    pub file: PathBuf,
    /// The dashboard's `uid`.
    pub dashboard: String,
    /// Panel, annotation or variable.
    pub source: QuerySource,
    /// The panel's `id` (0 for annotations and variables).
    pub panel_id: u64,
    /// The panel's title, or the annotation's or variable's name.
    pub title: String,
    /// The panel type (`timeseries`, `stat`, ...), `annotation` or `variable`.
    pub panel_type: String,
    /// The target's `refId` (empty for annotations and variables).
    pub ref_id: String,
    /// The legend format (`{{backend}}`), empty if none.
    pub legend: String,
    /// Whether the target asks for one instant value rather than a range.
    pub instant: bool,
    /// The expression, as written in the dashboard.
    pub expr: String,
    /// The panel's position (zero for annotations and variables).
    pub grid_pos: GridPos,
}

/// Every query of the dashboard in `path`.
pub fn dashboard_queries(path: &Path) -> Result<Vec<PanelQuery>> {
    let text = std::fs::read_to_string(path).map_err(|source| ObserveError::Io {
        path: path.to_owned(),
        source,
    })?;
    let board: Value = serde_json::from_str(&text).map_err(|e| ObserveError::Dashboard {
        path: path.to_owned(),
        reason: format!("line {}: {e}", e.line()),
    })?;
    let bad = |reason: &str| ObserveError::Dashboard {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let uid = board["uid"].as_str().ok_or_else(|| bad("no `uid`"))?;
    let panels = board["panels"]
        .as_array()
        .ok_or_else(|| bad("no `panels` list"))?;
    let base = |source, title: &str, panel_type: &str| PanelQuery {
        file: path.to_owned(),
        dashboard: uid.to_owned(),
        source,
        panel_id: 0,
        title: title.to_owned(),
        panel_type: panel_type.to_owned(),
        ref_id: String::new(),
        legend: String::new(),
        instant: false,
        expr: String::new(),
        grid_pos: GridPos::default(),
    };
    let mut queries = Vec::new();
    let nested = panels
        .iter()
        .flat_map(|p| p["panels"].as_array().into_iter().flatten());
    for panel in panels.iter().chain(nested) {
        let grid = &panel["gridPos"];
        let int = |v: &Value| v.as_u64().unwrap_or(0) as u32;
        let grid_pos = GridPos {
            x: int(&grid["x"]),
            y: int(&grid["y"]),
            w: int(&grid["w"]),
            h: int(&grid["h"]),
        };
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            queries.push(PanelQuery {
                panel_id: panel["id"].as_u64().unwrap_or(0),
                ref_id: target["refId"].as_str().unwrap_or("").to_owned(),
                legend: target["legendFormat"].as_str().unwrap_or("").to_owned(),
                instant: target["instant"].as_bool().unwrap_or(false),
                expr: expr.to_owned(),
                grid_pos,
                ..base(
                    QuerySource::Panel,
                    panel["title"].as_str().unwrap_or(""),
                    panel["type"].as_str().unwrap_or(""),
                )
            });
        }
    }
    for annotation in board["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(expr) = annotation["expr"].as_str() {
            queries.push(PanelQuery {
                expr: expr.to_owned(),
                ..base(
                    QuerySource::Annotation,
                    annotation["name"].as_str().unwrap_or(""),
                    "annotation",
                )
            });
        }
    }
    for variable in board["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] != "query" {
            continue;
        }
        let query = match &variable["query"] {
            Value::String(q) => q.as_str(),
            q => q["query"].as_str().unwrap_or(""),
        };
        if let Some(expr) = variable_selector(query) {
            queries.push(PanelQuery {
                expr,
                ..base(
                    QuerySource::Variable,
                    variable["name"].as_str().unwrap_or(""),
                    "variable",
                )
            });
        }
    }
    Ok(queries)
}

/// Every query of every `*.json` dashboard in `dir`, sorted by file.
pub fn all_dashboard_queries(dir: &Path) -> Result<Vec<PanelQuery>> {
    let mut all = Vec::new();
    for file in dashboard_files(dir)? {
        all.extend(dashboard_queries(&file)?);
    }
    Ok(all)
}

/// The `*.json` files of `dir`, sorted.
pub fn dashboard_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| ObserveError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// The PromQL a variable query sends: `label_values(SEL, label)` → `SEL`, `query_result(Q)`
/// → `Q`; `label_values(label)` and `metrics(...)` ask no PromQL (None).
pub fn variable_selector(query: &str) -> Option<String> {
    let query = query.trim();
    let inner = |prefix: &str| {
        query
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(args) = inner("label_values(") {
        let (selector, _label) = args.rsplit_once(',')?;
        return Some(selector.trim().to_owned());
    }
    inner("query_result(").map(str::to_owned)
}

/// Fixed values for Grafana's macros and the dashboards' variables.
#[derive(Clone, Debug)]
pub struct Expansion {
    /// `$__rate_interval` (Grafana: at least four scrape intervals).
    pub rate_interval: String,
    /// `$__interval` (Grafana: the panel's step).
    pub interval: String,
    /// `$__range` (Grafana: the dashboard's time range).
    pub range: String,
    /// Every other `$name` / `${name}`: a regex that matches all values, as the dashboards'
    /// "All" (`allValue: ".*"`).
    pub all: String,
}

impl Default for Expansion {
    fn default() -> Self {
        Expansion {
            rate_interval: "1m".to_owned(),
            interval: "15s".to_owned(),
            range: "5m".to_owned(),
            all: ".*".to_owned(),
        }
    }
}

/// `expr` with every `$name`, `${name}` and `[[name]]` replaced per `values`.
pub fn expand_variables(expr: &str, values: &Expansion) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let name = name.split(':').next().unwrap_or(name);
        let value = match name {
            "" => "$",
            "__rate_interval" => &values.rate_interval,
            "__interval" => &values.interval,
            "__range" => &values.range,
            _ => &values.all,
        };
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_macros_are_expanded() {
        let expanded = expand_variables(
            "sum(rate(x{job=~\"$job\", instance=~\"${instance}\"}[$__rate_interval])) $",
            &Expansion::default(),
        );
        assert_eq!(
            expanded,
            "sum(rate(x{job=~\".*\", instance=~\".*\"}[1m])) $"
        );
    }

    #[test]
    fn label_values_queries_ask_their_selector() {
        assert_eq!(
            variable_selector("label_values(up{job=~\"trickles-.*\"}, job)").as_deref(),
            Some("up{job=~\"trickles-.*\"}")
        );
        assert_eq!(variable_selector("label_values(job)"), None);
        assert_eq!(
            variable_selector("query_result(max(up))").as_deref(),
            Some("max(up)")
        );
    }

    #[test]
    fn panels_annotations_and_variables_are_listed_with_their_place() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("d.json");
        let board = serde_json::json!({
            "uid": "d",
            "panels": [
                {"id": 1, "type": "row", "title": "r", "collapsed": true,
                 "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1},
                 "panels": [{"id": 3, "type": "stat", "title": "inner",
                             "gridPos": {"x": 0, "y": 1, "w": 6, "h": 4},
                             "targets": [{"refId": "A", "expr": "up", "instant": true}]}]},
                {"id": 2, "type": "timeseries", "title": "t",
                 "gridPos": {"x": 12, "y": 1, "w": 12, "h": 8},
                 "targets": [{"refId": "A", "expr": "a", "legendFormat": "{{x}}"},
                             {"refId": "B", "expr": "b"}]}
            ],
            "annotations": {"list": [{"name": "events", "expr": "changes(up[1m]) > 0"}]},
            "templating": {"list": [
                {"name": "job", "type": "query", "query": {"query": "label_values(up, job)"}},
                {"name": "datasource", "type": "datasource", "query": "prometheus"}
            ]}
        });
        std::fs::write(&path, board.to_string()).expect("write");
        let queries = dashboard_queries(&path).expect("queries");
        let summary: Vec<_> = queries
            .iter()
            .map(|q| {
                (
                    q.source,
                    q.title.as_str(),
                    q.ref_id.as_str(),
                    q.expr.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (QuerySource::Panel, "t", "A", "a"),
                (QuerySource::Panel, "t", "B", "b"),
                (QuerySource::Panel, "inner", "A", "up"),
                (QuerySource::Annotation, "events", "", "changes(up[1m]) > 0"),
                (QuerySource::Variable, "job", "", "up"),
            ]
        );
        assert_eq!(
            queries[0].grid_pos,
            GridPos {
                x: 12,
                y: 1,
                w: 12,
                h: 8
            }
        );
        assert!(queries[2].instant);
        assert_eq!(queries[0].legend, "{{x}}");
    }

    #[test]
    fn a_broken_dashboard_names_its_file_and_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\n\"uid\": \"x\",\n\"panels\": [,]\n}").expect("write");
        let error = dashboard_queries(&path).expect_err("refused").to_string();
        assert!(error.contains("bad.json: line 3"), "{error}");
    }
}
