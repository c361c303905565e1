//! The committed examples are valid: the controller's YAML loads, and BIRD parses the site's
//! and the router's configurations (`bird -p -c`).

use std::path::PathBuf;

use trickles_anycast::config::AnycastConfig;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

#[test]
fn the_example_controller_config_loads_with_both_families() {
    let config = AnycastConfig::load(&example("anycast.yaml")).expect("valid");
    let protocols: Vec<&str> = config
        .announcements
        .iter()
        .map(|a| a.protocol.as_str())
        .collect();
    assert_eq!(protocols, ["anycast4", "anycast6"]);
    assert_eq!(config.bfd_addresses().len(), 2);
}

#[test]
fn bird_parses_the_example_site_and_router_configs() {
    for name in ["bird.conf", "router.conf"] {
        let Ok(out) = std::process::Command::new("bird")
            .arg("-p")
            .arg("-c")
            .arg(example(name))
            .output()
        else {
            eprintln!("skipped: bird not installed (scripts/setup installs bird2)");
            return;
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "bird -p {name}: {stderr}");
    }
    let text = std::fs::read_to_string(example("bird.conf")).expect("read");
    let yaml = std::fs::read_to_string(example("anycast.yaml")).expect("read");
    for protocol in ["anycast4", "anycast6"] {
        assert!(
            text.contains(&format!("protocol static {protocol}"))
                && yaml.contains(&format!("protocol: {protocol}")),
            "the YAML names the site config's protocol {protocol}"
        );
    }
}
