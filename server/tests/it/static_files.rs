//! Claims about the static web application: it serves exactly the bytes of files under its
//! root, refuses every way out of the root, and answers `Changed` rather than wrong bytes when a
//! replica's file differs from the one the continuation was issued for.

use std::net::SocketAddr;
use std::os::unix::fs::symlink;

use trickles::app::{AppError, Application};
use trickles_server::static_files::StaticFiles;

fn client() -> SocketAddr {
    "127.0.0.1:40000".parse().expect("addr")
}

/// `outside/secret` next to `root/` holding `root/dir/file.bin`.
fn tree() -> (tempfile::TempDir, StaticFiles) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("dir")).expect("mkdir");
    std::fs::create_dir(dir.path().join("outside")).expect("mkdir");
    std::fs::write(dir.path().join("outside/secret"), b"secret").expect("write");
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("dir/file.bin"), body).expect("write");
    let app = StaticFiles::new(&root).expect("root");
    (dir, app)
}

#[test]
fn file_is_served_byte_exact_at_any_offset() {
    let (dir, app) = tree();
    let expected = std::fs::read(dir.path().join("root/dir/file.bin")).expect("read");
    let opened = app.open(b"/dir/file.bin", client()).expect("open");
    assert_eq!(opened.length, expected.len() as u64);
    for offset in [0u64, 1, 1199, 9_999, 10_000] {
        let mut buf = vec![0u8; 1200];
        let n = app.read_at(&opened.ucont, offset, &mut buf).expect("read");
        let start = offset as usize;
        let end = (start + 1200).min(expected.len());
        assert_eq!(&buf[..n], &expected[start..end], "offset {offset}");
    }
}

#[test]
fn traversal_and_absolute_paths_are_bad_requests() {
    let (_dir, app) = tree();
    for request in [
        &b"/../outside/secret"[..],
        b"/dir/../../outside/secret",
        b"//etc/passwd",
        b"/etc/../../../etc/passwd",
        b"etc/passwd",
        b"/dir/./file.bin",
    ] {
        assert!(
            matches!(app.open(request, client()), Err(AppError::BadRequest(_))),
            "{} was not refused",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn symlink_leading_out_of_the_root_is_refused() {
    let (dir, app) = tree();
    symlink(
        dir.path().join("outside/secret"),
        dir.path().join("root/escape"),
    )
    .expect("symlink");
    symlink(
        dir.path().join("outside"),
        dir.path().join("root/escape_dir"),
    )
    .expect("symlink");
    assert!(matches!(
        app.open(b"/escape", client()),
        Err(AppError::BadRequest(_))
    ));
    assert!(matches!(
        app.open(b"/escape_dir/secret", client()),
        Err(AppError::BadRequest(_))
    ));
}

#[test]
fn symlink_inside_the_root_is_followed() {
    let (dir, app) = tree();
    symlink("dir/file.bin", dir.path().join("root/alias")).expect("symlink");
    assert_eq!(app.open(b"/alias", client()).expect("open").length, 10_000);
}

#[test]
fn missing_file_is_not_found_and_directory_is_bad_request() {
    let (_dir, app) = tree();
    assert_eq!(app.open(b"/nope", client()), Err(AppError::NotFound));
    assert_eq!(
        app.open(b"/dir/file.bin/x", client()),
        Err(AppError::NotFound)
    );
    assert!(matches!(
        app.open(b"/dir", client()),
        Err(AppError::BadRequest(_))
    ));
}

#[test]
fn replica_with_a_different_file_answers_changed() {
    let (dir, app) = tree();
    let opened = app.open(b"/dir/file.bin", client()).expect("open");
    // Another replica, same path, different length.
    let other_root = dir.path().join("other");
    std::fs::create_dir_all(other_root.join("dir")).expect("mkdir");
    std::fs::write(other_root.join("dir/file.bin"), b"short").expect("write");
    let replica = StaticFiles::new(&other_root).expect("root");
    let mut buf = [0u8; 100];
    assert_eq!(
        replica.read_at(&opened.ucont, 0, &mut buf),
        Err(AppError::Changed)
    );
    // A replica that lost the file also answers Changed.
    std::fs::remove_file(other_root.join("dir/file.bin")).expect("rm");
    let replica = StaticFiles::new(&other_root).expect("root");
    assert_eq!(
        replica.read_at(&opened.ucont, 0, &mut buf),
        Err(AppError::Changed)
    );
}

#[test]
fn read_past_the_stream_end_is_refused() {
    let (_dir, app) = tree();
    let opened = app.open(b"/dir/file.bin", client()).expect("open");
    let mut buf = [0u8; 10];
    assert_eq!(
        app.read_at(&opened.ucont, 10_001, &mut buf),
        Err(AppError::Changed)
    );
}

#[test]
fn new_root_takes_effect_after_set_root() {
    let (dir, app) = tree();
    let other = dir.path().join("outside");
    app.open(b"/dir/file.bin", client()).expect("open");
    app.set_root(&other).expect("set root");
    assert_eq!(
        app.open(b"/dir/file.bin", client()),
        Err(AppError::NotFound)
    );
    assert_eq!(app.open(b"/secret", client()).expect("open").length, 6);
}
