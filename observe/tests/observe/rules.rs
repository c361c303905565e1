//! The Prometheus configuration and rules: valid, unit-tested, documented.

use trickles_observe::{rule_exprs, tools, workspace, RuleKind};

#[test]
fn the_rules_pass_their_promtool_unit_tests() {
    let tests = workspace::rule_tests();
    assert!(tests.len() >= 2, "rule tests: {tests:?}");
    let output = tools::test_rules(&tests).unwrap_or_else(|e| panic!("{e}"));
    assert!(output.contains("SUCCESS"), "{output}");
}

#[test]
fn the_prometheus_configuration_and_its_rule_files_are_valid() {
    let config = workspace::prometheus_dir().join("prometheus.yml");
    let output = tools::check_config(&config).unwrap_or_else(|e| panic!("{e}"));
    assert!(output.contains("SUCCESS"), "{output}");
    tools::check_rules(&workspace::rule_files()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_alert_has_a_unit_test_and_a_documented_meaning() {
    let tests: String = workspace::rule_tests()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("test file"))
        .collect();
    let doc = std::fs::read_to_string(workspace::root().join("docs/OBSERVABILITY.md"))
        .expect("docs/OBSERVABILITY.md");
    let mut alerts = 0;
    for file in workspace::rule_files() {
        for rule in rule_exprs(&file).unwrap_or_else(|e| panic!("{e}")) {
            let tested = match rule.kind {
                RuleKind::Alert => {
                    alerts += 1;
                    assert!(
                        doc.contains(&format!("### {}", rule.name)),
                        "{} has no `### {}` section in docs/OBSERVABILITY.md",
                        rule.name,
                        rule.name
                    );
                    // An alert test with expected alerts names the alert and expects labels.
                    tests.contains(&format!("alertname: {}\n        exp_alerts", rule.name))
                }
                RuleKind::Recording => tests.contains(&format!("- expr: {}\n", rule.name)),
            };
            assert!(
                tested,
                "{} ({}) has no unit test",
                rule.name,
                file.display()
            );
        }
    }
    assert!(alerts >= 6, "only {alerts} alerts");
}
