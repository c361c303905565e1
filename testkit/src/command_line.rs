//! Running a configuration tool (`ip`, `tc`, `sysctl`) and turning a failure into a
//! [`TestkitError::Command`] that quotes the command line and what it printed.

use std::process::{Command, Output, Stdio};

use crate::error::{Result, TestkitError};

/// Runs `program args..`, waits, and returns its standard output; a non-zero exit is an error
/// quoting the command and its standard error.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = output(program, args)?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(TestkitError::Command {
        command: render(program, args),
        reason: format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

/// Runs `program args..` and returns whether it succeeded, ignoring what it printed (cleanup
/// paths, where a failure is not worth stopping for).
pub fn run_quietly(program: &str, args: &[&str]) -> bool {
    output(program, args).is_ok_and(|output| output.status.success())
}

fn output(program: &str, args: &[&str]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| TestkitError::Command {
            command: render(program, args),
            reason: if error.kind() == std::io::ErrorKind::NotFound {
                format!("{program} is not installed (scripts/setup installs it: iproute2)")
            } else {
                error.to_string()
            },
        })
}

fn render(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}
