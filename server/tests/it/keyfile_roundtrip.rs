//! Claims about key files: what keygen writes loads back, rotation keeps exactly one previous
//! key, files are private, and malformed files are refused with the file and the reason.

use std::os::unix::fs::PermissionsExt;

use trickles_server::cli::KeygenArgs;
use trickles_server::keyfile::KeyFile;
use trickles_server::keygen::keygen;

fn args(output: std::path::PathBuf, epoch: Option<u8>, rotate: bool) -> KeygenArgs {
    KeygenArgs {
        output,
        epoch,
        rotate,
        stage: false,
        promote: false,
        force: false,
        retire: false,
        accept_previous_for: None,
    }
}

#[test]
fn generated_key_file_loads_back_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    let written = keygen(&args(path.clone(), Some(7), false)).expect("keygen");
    let loaded = KeyFile::load(&path).expect("load");
    assert_eq!(loaded, written);
    assert_eq!(loaded.current.epoch, 7);
    assert!(loaded.previous.is_none());
}

#[test]
fn key_file_is_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    keygen(&args(path.clone(), None, false)).expect("keygen");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn existing_key_file_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    keygen(&args(path.clone(), None, false)).expect("keygen");
    assert!(keygen(&args(path, None, false)).is_err());
}

#[test]
fn rotation_keeps_the_old_key_as_previous_and_drops_older_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    let first = keygen(&args(path.clone(), Some(1), false)).expect("keygen");
    let second = keygen(&args(path.clone(), None, true)).expect("rotate");
    assert_eq!(second.current.epoch, 2);
    assert_eq!(second.previous.as_ref(), Some(&first.current));
    assert_ne!(second.current.secret, first.current.secret);

    let third = keygen(&args(path.clone(), Some(9), true)).expect("rotate again");
    let loaded = KeyFile::load(&path).expect("load");
    assert_eq!(loaded, third);
    assert_eq!(loaded.current.epoch, 9);
    assert_eq!(loaded.previous.as_ref(), Some(&second.current));
}

#[test]
fn rotation_to_the_current_epoch_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    keygen(&args(path.clone(), Some(4), false)).expect("keygen");
    assert!(keygen(&args(path, Some(4), true)).is_err());
}

#[test]
fn malformed_key_files_name_the_file_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    let cases = [
        ("- epoch: 1\n  secret: zz\n", "hex"),
        ("- epoch: 1\n  secret: abcd\n", "2 bytes long"),
        ("[]\n", "no key"),
        ("- epoch: 300\n  secret: ab\n", "line"),
        (
            &format!(
                "- epoch: 1\n  secret: {s}\n- epoch: 1\n  secret: {s}\n",
                s = "00".repeat(32)
            ),
            "share epoch",
        ),
        (
            &format!(
                "- {{epoch: 3, secret: {s}}}\n- {{epoch: 2, secret: {s}}}\n- {{epoch: 1, secret: {s}}}\n",
                s = "00".repeat(32)
            ),
            "more than two",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, text).expect("write");
        let error = KeyFile::load(&path).expect_err(text).to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(expected), "{error} lacks {expected:?}");
    }
}

#[test]
fn staged_key_is_accepted_first_and_promoted_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    let first = keygen(&args(path.clone(), Some(1), false)).expect("keygen");
    let staged = keygen(&KeygenArgs {
        stage: true,
        ..args(path.clone(), None, false)
    })
    .expect("stage");
    assert_eq!(
        staged.current, first.current,
        "staging must not change the sealing key"
    );
    let next = staged.previous.clone().expect("staged key");
    assert_eq!(next.epoch, 2);

    let promoted = keygen(&KeygenArgs {
        promote: true,
        ..args(path.clone(), None, false)
    })
    .expect("promote");
    assert_eq!(promoted.current, next);
    assert_eq!(promoted.previous, Some(first.current));
    assert_eq!(KeyFile::load(&path).expect("load"), promoted);
}

#[test]
fn promoting_a_single_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    keygen(&args(path.clone(), None, false)).expect("keygen");
    let error = keygen(&KeygenArgs {
        promote: true,
        ..args(path, None, false)
    })
    .expect_err("nothing to promote");
    assert!(error.to_string().contains("nothing to promote"), "{error}");
}

/// The wall clock in UNIX seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn rotated_and_promoted_old_keys_retire_one_freshness_period_later_and_staged_keys_never() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    keygen(&args(path.clone(), Some(1), false)).expect("keygen");
    let before = unix_now();
    let rotated = keygen(&args(path.clone(), None, true)).expect("rotate");
    let until = rotated.previous_until.expect("a retirement time");
    assert!((before + 32..=unix_now() + 32).contains(&until), "{until}");
    let loaded = KeyFile::load(&path).expect("load");
    assert_eq!(loaded.previous_until, Some(until));
    assert_eq!(
        loaded.key_ring().previous_retires_at(),
        Some(trickles::time::Instant(until * 1_000_000))
    );

    let staged = keygen(&KeygenArgs {
        stage: true,
        ..args(path.clone(), None, false)
    })
    .expect("stage");
    assert_eq!(staged.previous_until, None, "a staged key must not retire");
    let promoted = keygen(&KeygenArgs {
        promote: true,
        accept_previous_for: Some(600),
        ..args(path.clone(), None, false)
    })
    .expect("promote");
    let until = promoted.previous_until.expect("a retirement time");
    assert!(
        (before + 600..=unix_now() + 600).contains(&until),
        "{until}"
    );
}

#[test]
fn retire_removes_the_previous_key_and_a_single_key_has_nothing_to_retire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    let first = keygen(&args(path.clone(), Some(1), false)).expect("keygen");
    let error = keygen(&KeygenArgs {
        retire: true,
        ..args(path.clone(), None, false)
    })
    .expect_err("nothing to retire");
    assert!(error.to_string().contains("nothing to retire"), "{error}");
    let loaded = KeyFile::load(&path).expect("load");
    assert_eq!(
        loaded.current, first.current,
        "a refused retire changed the file"
    );

    let rotated = keygen(&args(path.clone(), None, true)).expect("rotate");
    let retired = keygen(&KeygenArgs {
        retire: true,
        ..args(path.clone(), None, false)
    })
    .expect("retire");
    assert_eq!(retired.current, rotated.current);
    assert!(retired.previous.is_none() && retired.previous_until.is_none());
    assert_eq!(KeyFile::load(&path).expect("load"), retired);
}

#[test]
fn retirement_time_on_the_current_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.yaml");
    let secret = "ab".repeat(32);
    std::fs::write(
        &path,
        format!("- epoch: 1\n  secret: {secret}\n  accepted_until: 5\n"),
    )
    .expect("write");
    let error = KeyFile::load(&path).expect_err("misplaced accepted_until");
    assert!(
        error.to_string().contains("belongs to the second"),
        "{error}"
    );
}
