//! Finding the Prometheus programs (`promtool`, `prometheus`, from the Debian package
//! `prometheus` that `scripts/setup` installs) and running `promtool` on metrics text, rule
//! tests and configuration files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{ObserveError, Result};

const INSTALL_HINT: &str = "install the Debian package `prometheus` (scripts/setup does)";

/// The path of `program` on `PATH`, or a clear error saying how to install it.
pub fn find_program(program: &'static str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or(ObserveError::MissingProgram {
            program,
            hint: INSTALL_HINT,
        })
}

fn run(mut command: Command, stdin: Option<&str>) -> Result<String> {
    let shown = format!("{command:?}");
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| ObserveError::ProgramFailed {
        program: shown.clone(),
        output: e.to_string(),
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| ObserveError::ProgramFailed {
                program: shown.clone(),
                output: format!("writing its input: {e}"),
            })?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| ObserveError::ProgramFailed {
            program: shown.clone(),
            output: e.to_string(),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(ObserveError::ProgramFailed {
            program: shown,
            output: text,
        })
    }
}

/// `promtool check metrics` on a `/metrics` answer: names, types, help and units follow the
/// Prometheus conventions.
pub fn check_metrics(exposition: &str) -> Result<()> {
    let mut command = Command::new(find_program("promtool")?);
    command.args(["check", "metrics"]);
    run(command, Some(exposition)).map(drop)
}

/// `promtool test rules FILE...`: the rules' unit tests.
pub fn test_rules(tests: &[PathBuf]) -> Result<String> {
    let mut command = Command::new(find_program("promtool")?);
    command.args(["test", "rules"]).args(tests);
    run(command, None)
}

/// `promtool check config FILE` (the configuration and the rule files it names).
pub fn check_config(config: &Path) -> Result<String> {
    let mut command = Command::new(find_program("promtool")?);
    command.args(["check", "config"]).arg(config);
    run(command, None)
}

/// `promtool check rules FILE...`.
pub fn check_rules(files: &[PathBuf]) -> Result<String> {
    let mut command = Command::new(find_program("promtool")?);
    command.args(["check", "rules"]).args(files);
    run(command, None)
}
