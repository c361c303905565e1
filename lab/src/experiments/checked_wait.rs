//! [`wait_checking`]: let a scenario run for a while, noticing Ctrl-C and a process that died
//! (a measurement over a window in which a flow had already failed would be meaningless).

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::interrupt;

/// How often the wait looks.
const TICK: Duration = Duration::from_millis(50);

/// Sleeps `duration`, calling `check` (and [`interrupt::check`]) every 50 ms; the first error
/// ends the wait.
pub fn wait_checking(duration: Duration, mut check: impl FnMut() -> Result<()>) -> Result<()> {
    let deadline = Instant::now() + duration;
    loop {
        interrupt::check()?;
        check()?;
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        std::thread::sleep(TICK.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LabError;

    #[test]
    fn waits_the_duration_and_stops_at_the_first_failure() {
        let started = Instant::now();
        let mut calls = 0;
        wait_checking(Duration::from_millis(120), || {
            calls += 1;
            Ok(())
        })
        .expect("no failure");
        assert!(started.elapsed() >= Duration::from_millis(120));
        assert!(calls >= 3, "{calls}");

        let started = Instant::now();
        let error = wait_checking(Duration::from_secs(10), || {
            Err(LabError::Usage("a flow died".into()))
        })
        .expect_err("the check fails");
        assert!(matches!(error, LabError::Usage(_)));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
