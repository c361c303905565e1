//! What the lab's tests share: the debug binaries (built once per test run with cargo, never
//! skipped: a build failure fails the test with cargo's message), fixtures, a pool on a
//! topology, the root check, and checks of an experiment's report.

use std::sync::OnceLock;

use trickles_lab::binaries::{Binaries, Profile};
use trickles_lab::experiments::context::BaseArgs;
use trickles_lab::experiments::report::Report;
use trickles_lab::fixture::ServiceFixture;
use trickles_lab::topology::require_root;

/// The debug binaries, built by one `cargo build` on first use (a no-op when `cargo test
/// --workspace` has just built them).
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| match Binaries::build(Profile::Debug) {
        Ok(binaries) => binaries,
        Err(error) => panic!("cannot build the binaries under test: {error}"),
    })
}

/// A fixture (key, `www/`) serving the given files: `(name, size, seed)`; returns the digests.
pub fn fixture_with(files: &[(&str, u64, u64)]) -> (ServiceFixture, Vec<String>) {
    let fixture = ServiceFixture::new(binaries()).expect("fixture");
    let digests = files
        .iter()
        .map(|&(name, size, seed)| fixture.add_file(name, size, seed).expect("test file"))
        .collect();
    (fixture, digests)
}

/// Fails the test, saying why, unless it runs as root.
pub fn root(test: &str) {
    if let Err(error) = require_root(test) {
        panic!("{error}");
    }
}

/// An experiment's flags for a test: results into a fresh directory, the debug binaries.
pub fn experiment_base(test: &str) -> (tempfile::TempDir, BaseArgs) {
    root(test);
    let out = tempfile::tempdir().expect("results dir");
    let mut base = BaseArgs::for_tests(out.path().to_path_buf());
    base.bin_dir = binaries().server.parent().map(|dir| dir.to_path_buf());
    (out, base)
}

/// Every file the report names exists and is not empty.
pub fn assert_written(report: &Report) {
    assert!(!report.files.is_empty(), "the report names no file");
    for file in &report.files {
        assert!(
            std::fs::metadata(file).is_ok_and(|m| m.len() > 0),
            "{} missing or empty",
            file.display()
        );
    }
}
