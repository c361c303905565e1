//! Every expression of a Prometheus rule file, as a flat list of [`RuleExpr`]: the recording
//! rules' and the alerts' `expr`, with their group and name, so each can be evaluated against a
//! running Prometheus (`promtool check rules` only parses them).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ObserveError, Result};

/// A recording rule or an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `record:` a new series.
    Recording,
    /// `alert:` a condition.
    Alert,
}

/// One rule's expression.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleExpr {
    /// The rule file.
    pub file: PathBuf,
    /// The group's name.
    pub group: String,
    /// The recorded series or the alert's name.
    pub name: String,
    /// Recording rule or alert.
    pub kind: RuleKind,
    /// The expression.
    pub expr: String,
}

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: String,
}

/// Every rule of the file `path`.
pub fn rule_exprs(path: &Path) -> Result<Vec<RuleExpr>> {
    let text = std::fs::read_to_string(path).map_err(|source| ObserveError::Io {
        path: path.to_owned(),
        source,
    })?;
    let file: RuleFile = serde_yaml::from_str(&text).map_err(|e| ObserveError::Rules {
        path: path.to_owned(),
        reason: match e.location() {
            Some(at) => format!("line {}: {e}", at.line()),
            None => e.to_string(),
        },
    })?;
    let mut rules = Vec::new();
    for group in file.groups {
        for rule in group.rules {
            let (name, kind) = match (rule.record, rule.alert) {
                (Some(name), None) => (name, RuleKind::Recording),
                (None, Some(name)) => (name, RuleKind::Alert),
                _ => {
                    return Err(ObserveError::Rules {
                        path: path.to_owned(),
                        reason: format!(
                            "group {}: a rule needs exactly one of `record` and `alert`",
                            group.name
                        ),
                    })
                }
            };
            rules.push(RuleExpr {
                file: path.to_owned(),
                group: group.name.clone(),
                name,
                kind,
                expr: rule.expr.trim().to_owned(),
            });
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_rules_and_alerts_are_listed_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("r.yml");
        std::fs::write(
            &path,
            "groups:\n  - name: g\n    rules:\n      - record: a:b:rate1m\n        expr: rate(b[1m])\n      - alert: Down\n        expr: >\n          up == 0\n        for: 1m\n",
        )
        .expect("write");
        let rules = rule_exprs(&path).expect("rules");
        let summary: Vec<_> = rules
            .iter()
            .map(|r| (r.group.as_str(), r.name.as_str(), r.kind, r.expr.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("g", "a:b:rate1m", RuleKind::Recording, "rate(b[1m])"),
                ("g", "Down", RuleKind::Alert, "up == 0"),
            ]
        );
    }

    #[test]
    fn a_broken_rule_file_names_its_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("r.yml");
        std::fs::write(&path, "groups:\n  - name: g\n    rules: 3\n").expect("write");
        let error = rule_exprs(&path).expect_err("refused").to_string();
        assert!(error.contains("r.yml: line 3"), "{error}");
    }
}
