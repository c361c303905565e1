//! The process guard against real children (`sleep`, `sh`): what the tests and the lab rely on.

use super::*;

fn alive(pid: u32) -> bool {
    // A zombie would still answer kill(0); the guard reaps, so "gone" means gone.
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `/proc/PID/stat`'s state letter (R, S, T for stopped, ...).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = stat.rsplit_once(") ").expect("stat format").1;
    after_name.chars().next().expect("state")
}

fn sleeper(dir: &tempfile::TempDir) -> ChildProcess {
    let mut command = Command::new("sleep");
    command.arg("30");
    ChildProcess::spawn("sleep", command, &dir.path().join("log")).expect("spawn")
}

fn shell(dir: &tempfile::TempDir, script: &str) -> ChildProcess {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    ChildProcess::spawn("sh", command, &dir.path().join("log")).expect("spawn")
}

#[test]
fn dropped_guard_kills_and_reaps_its_child() {
    let dir = tempfile::tempdir().expect("temp dir");
    let child = sleeper(&dir);
    let pid = child.pid();
    assert!(alive(pid));
    drop(child);
    assert!(!alive(pid), "the child outlived its guard");
}

#[test]
fn failure_names_the_exit_and_quotes_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = shell(&dir, "echo first; echo 'the real reason' >&2; exit 3");
    let status = child.wait_for(Duration::from_secs(10)).expect("exits");
    let message = child.failure(Some(status)).to_string();
    assert!(message.contains("exit status 3"), "{message}");
    assert!(message.contains("the real reason"), "{message}");
}

#[test]
fn wait_until_fails_with_the_log_when_the_child_exits_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = shell(&dir, "echo 'cannot bind' >&2; exit 4");
    let error = child
        .wait_until("sh to be ready", Duration::from_secs(10), || false)
        .expect_err("the child exits");
    let message = error.to_string();
    assert!(message.contains("exit status 4"), "{message}");
    assert!(message.contains("cannot bind"), "{message}");
}

#[test]
fn wait_for_is_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = sleeper(&dir);
    let error = child
        .wait_for(Duration::from_millis(50))
        .expect_err("must time out");
    assert!(matches!(error, TestkitError::Timeout { .. }), "{error}");
}

#[test]
fn an_announced_line_is_read_from_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = shell(
        &dir,
        "echo 'noise'; echo 'listening on 198.18.0.1:9'; sleep 30",
    );
    let rest = child
        .wait_for_log_line("listening on ", Duration::from_secs(10))
        .expect("announced");
    assert_eq!(rest, "198.18.0.1:9");
}

#[test]
fn terminate_gives_a_clean_exit_its_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = shell(
        &dir,
        "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.01; done",
    );
    child
        .wait_for_log_line("trapped", Duration::from_secs(10))
        .expect("the trap is set");
    child.terminate(Duration::from_secs(10)).expect("stops");
    let status = child.exit_status().expect("reaped");
    assert_eq!(describe_status(status), "exit status 0");
}

#[test]
fn terminate_kills_a_child_that_ignores_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = shell(&dir, "trap '' TERM; echo deaf; exec sleep 30");
    child
        .wait_for_log_line("deaf", Duration::from_secs(10))
        .expect("SIGTERM ignored");
    child.terminate(Duration::from_millis(100)).expect("stops");
    let status = child.exit_status().expect("reaped");
    assert_eq!(describe_status(status), "killed by signal 9");
}

#[test]
fn a_paused_child_is_stopped_until_resumed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = sleeper(&dir);
    let pid = child.pid();
    child.pause().expect("SIGSTOP");
    child
        .wait_until("the stop", Duration::from_secs(10), || state(pid) == 'T')
        .expect("stopped");
    child.resume().expect("SIGCONT");
    child
        .wait_until("the resume", Duration::from_secs(10), || state(pid) != 'T')
        .expect("running again");
    child.kill_hard().expect("kill");
    assert!(!alive(pid));
}
