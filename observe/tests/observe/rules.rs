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

#[test]
fn the_scrape_configuration_has_one_job_per_component_with_a_target_file() {
    let dir = workspace::prometheus_dir();
    let text = std::fs::read_to_string(dir.join("prometheus.yml")).expect("prometheus.yml");
    let config: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let mut jobs = Vec::new();
    for job in config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        let name = job["job_name"].as_str().expect("job_name");
        jobs.push(name.to_owned());
        for file in job["file_sd_configs"][0]["files"]
            .as_sequence()
            .expect("file_sd_configs")
        {
            let path = dir.join(file.as_str().expect("file"));
            let targets: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&path).expect("target file"))
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                targets[0]["targets"]
                    .as_sequence()
                    .is_some_and(|t| !t.is_empty()),
                "{}: no targets",
                path.display()
            );
        }
    }
    // The job names the rules, the dashboards and the tests' Prometheus use.
    assert_eq!(
        jobs,
        [
            "trickles-server",
            "trickles-balancer",
            "trickles-mirror",
            "trickles-anycast",
            "trickles-client"
        ]
    );
}
