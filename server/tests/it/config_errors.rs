//! Claims about configuration loading: syntax errors name file, line and column; semantic
//! errors name the file and the offending key's line; flags override the file.

use std::path::{Path, PathBuf};

use trickles_server::cli::RunArgs;
use trickles_server::config::Settings;
use trickles_server::ServerError;

fn write_config(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("server.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn load(path: PathBuf) -> Result<Settings, ServerError> {
    Settings::load(&RunArgs {
        config: Some(path),
        ..RunArgs::default()
    })
}

/// Loads a configuration file holding `text`, which must be refused: its directory (keep it
/// while the path is used), the file and the error.
fn refused(text: &str) -> (tempfile::TempDir, PathBuf, ServerError) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, text);
    let error = load(path.clone()).expect_err("the configuration must be refused");
    (dir, path, error)
}

/// `error` names `path`, `line` and a reason containing `about`.
fn assert_located(error: &ServerError, path: &Path, line: usize, about: &str) {
    let (p, l, reason) = match error {
        ServerError::ConfigSyntax {
            path, line, reason, ..
        } => (path, Some(*line), reason),
        ServerError::ConfigInvalid { path, line, reason } => (path, *line, reason),
        other => panic!("unexpected error {other:?}"),
    };
    assert_eq!(p, path);
    assert_eq!(l, Some(line), "{error}");
    assert!(reason.contains(about), "{reason}");
}

#[test]
fn unknown_key_is_reported_with_file_and_line() {
    let (_dir, path, error) =
        refused("root: .\ntcp_listen: 127.0.0.1:0\nlisen: [\"127.0.0.1:1\"]\n");
    assert!(
        matches!(error, ServerError::ConfigSyntax { .. }),
        "{error:?}"
    );
    assert_located(&error, &path, 3, "lisen");
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("{}:3:", path.display())),
        "{shown}"
    );
}

#[test]
fn bad_address_is_reported_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        "root: .\nlisten:\n  - 127.0.0.1:4433\n  - not-an-address\n",
    );
    match load(path).expect_err("bad address") {
        ServerError::ConfigSyntax { line, .. } => assert_eq!(line, 4),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn missing_root_directory_names_the_root_line() {
    let (_dir, path, error) = refused("tcp_listen: 127.0.0.1:0\n\nroot: /definitely/not/here\n");
    assert!(
        matches!(error, ServerError::ConfigInvalid { .. }),
        "{error:?}"
    );
    assert_located(&error, &path, 3, "/definitely/not/here");
}

#[test]
fn udp_listener_without_key_file_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, "root: .\nlisten: [\"127.0.0.1:4433\"]\n");
    let error = load(path).expect_err("no key file");
    assert!(error.to_string().contains("key file"), "{error}");
}

#[test]
fn nothing_to_serve_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, "root: .\n");
    let error = load(path).expect_err("no listener");
    assert!(error.to_string().contains("nothing to serve"), "{error}");
}

#[test]
fn out_of_range_workers_is_rejected_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, "root: .\ntcp_listen: 127.0.0.1:0\nworkers: 0\n");
    match load(path).expect_err("zero workers") {
        ServerError::ConfigInvalid { line, .. } => assert_eq!(line, Some(3)),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn relative_paths_in_the_file_are_relative_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("www")).expect("mkdir");
    let path = write_config(
        &dir,
        "listen: [\"[::1]:4433\", \"127.0.0.1:4433\"]\nroot: www\nkey_file: keys.yaml\nmss: 1200\nworkers: 3\n",
    );
    let settings = load(path).expect("valid config");
    assert_eq!(settings.root, dir.path().join("www"));
    assert_eq!(settings.key_file, Some(dir.path().join("keys.yaml")));
    assert_eq!(settings.listen.len(), 2);
    assert_eq!((settings.workers, settings.mss), (3, Some(1200)));
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        "root: /definitely/not/here\ntcp_listen: 127.0.0.1:1\nworkers: 9\n",
    );
    let settings = Settings::load(&RunArgs {
        config: Some(path),
        root: Some(dir.path().to_path_buf()),
        workers: Some(2),
        ..RunArgs::default()
    })
    .expect("flags fix the file");
    assert_eq!(settings.root, dir.path());
    assert_eq!(settings.workers, 2);
}

#[test]
fn empty_file_means_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, "# nothing yet\n");
    let settings = Settings::load(&RunArgs {
        config: Some(path),
        root: Some(dir.path().to_path_buf()),
        tcp_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..RunArgs::default()
    })
    .expect("comments only");
    assert!(settings.listen.is_empty());
}

#[test]
fn key_file_under_the_root_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.yaml"), "[]").expect("write");
    let path = write_config(
        &dir,
        "listen: [\"127.0.0.1:0\"]\nroot: .\nkey_file: keys.yaml\n",
    );
    match load(path).expect_err("key file would be served") {
        ServerError::ConfigInvalid { line, reason, .. } => {
            assert_eq!(line, Some(3));
            assert!(reason.contains("served to anyone"), "{reason}");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn two_dsr_vips_of_one_family_are_rejected_at_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.yaml"), "[]").expect("write");
    std::fs::create_dir(dir.path().join("www")).expect("mkdir");
    let path = write_config(
        &dir,
        "listen: [\"0.0.0.0:4433\"]\nroot: www\nkey_file: keys.yaml\n\
         dsr_vips: [\"198.18.0.100:4433\", \"198.18.0.101:4433\"]\n",
    );
    match load(path).expect_err("ambiguous VIPs") {
        ServerError::ConfigInvalid { line, reason, .. } => {
            assert_eq!(line, Some(4));
            assert!(reason.contains("one IPv4"), "{reason}");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn dsr_vip_flags_replace_the_file_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("www")).expect("mkdir");
    let path = write_config(
        &dir,
        "listen: [\"0.0.0.0:4433\"]\nroot: www\nkey_file: keys.yaml\n\
         dsr_vips: [\"198.18.0.100:4433\"]\n",
    );
    let from_file = load(path.clone()).expect("valid");
    assert_eq!(
        from_file.direct_return.vips,
        vec!["198.18.0.100:4433"
            .parse::<std::net::SocketAddr>()
            .expect("addr")]
    );
    assert!(!from_file.direct_return.free_bind);
    let vip6: std::net::SocketAddr = "[2001:2::100]:4433".parse().expect("addr");
    let settings = Settings::load(&RunArgs {
        config: Some(path),
        dsr_vips: vec![vip6],
        dsr_vip_freebind: true,
        ..RunArgs::default()
    })
    .expect("flags");
    assert_eq!(settings.direct_return.vips, vec![vip6]);
    assert!(settings.direct_return.free_bind);
}

#[test]
fn replay_capacity_is_read_from_the_file_and_refused_out_of_range_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        "root: .\ntcp_listen: 127.0.0.1:0\nreplay_capacity: 4194304\n",
    );
    assert_eq!(load(path).expect("valid").replay_capacity, Some(4 << 20));
    let (_dir, path, error) = refused("root: .\ntcp_listen: 127.0.0.1:0\nreplay_capacity: 10\n");
    assert_located(&error, &path, 3, "replay_capacity = 10, must be between");
}
