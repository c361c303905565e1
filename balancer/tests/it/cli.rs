//! The `trickles-balancer` executable's `--check`: the example configuration is valid, and an
//! invalid file is refused with file, line and reason and a failing exit status.

use std::process::Command;

fn check(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trickles-balancer"))
        .arg("--config")
        .arg(path)
        .arg("--check")
        .output()
        .expect("run trickles-balancer")
}

#[test]
fn the_example_configuration_is_valid() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("balancer.example.yaml");
    let output = check(&example);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("valid; Maglev policy, Relay mode, 3 backends"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "listen: [\"127.0.0.1:4433\"]\nbackends:\n  - name: r1\n    address: 127.0.0.1:5001\n    weight: 0\n",
    )
    .expect("write");
    let output = check(&path);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:5:", path.display())),
        "{stderr}"
    );
}
