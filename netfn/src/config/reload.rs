//! Reloading a configuration while running: on `SIGHUP`, when the file changes (polled
//! modification time and length), or when asked through a [`ReloadTrigger`].
//!
//! The reload itself is the caller's closure: it reads and validates the file completely and
//! publishes nothing unless everything is valid. An error is logged with its file, line and
//! reason, and the configuration in force keeps serving. Polling the file (rather than inotify)
//! needs no dependency and catches edits through symlinks and editors that rename; a file caught
//! half-written fails to parse and is retried when it changes again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify};

/// Asks the reload task to reload now (tests, an admin endpoint).
#[derive(Clone, Debug, Default)]
pub struct ReloadTrigger(Arc<Notify>);

impl ReloadTrigger {
    /// A trigger not yet attached to a task.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reload as soon as possible.
    pub fn trigger(&self) {
        self.0.notify_one();
    }
}

/// What starts a reload.
#[derive(Clone, Debug)]
pub struct ReloadOptions {
    /// The configuration file (watched when `watch_interval` is set).
    pub path: PathBuf,
    /// Reload on `SIGHUP`.
    pub on_sighup: bool,
    /// Poll the file this often and reload when it changed.
    pub watch_interval: Option<Duration>,
}

/// Modification time and length of `path`, if readable.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Run reloads until `shutdown` turns true. `reload` is called for every trigger; its error
/// (a [`ConfigError`](super::ConfigError) with file and line, or the caller's own error type) is logged and nothing
/// else happens. Must run inside a tokio runtime with signals enabled when
/// `on_sighup` is set. Returns the number of successful reloads.
pub async fn run_reloads<F, E>(
    options: ReloadOptions,
    trigger: ReloadTrigger,
    mut shutdown: watch::Receiver<bool>,
    mut reload: F,
) -> u64
where
    F: FnMut() -> Result<(), E>,
    E: std::fmt::Display,
{
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = if options.on_sighup {
        match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload by file watch only");
                None
            }
        }
    } else {
        None
    };
    let mut last_stamp = stamp(&options.path);
    let poll = options.watch_interval.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut successes = 0;
    loop {
        let cause = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = trigger.0.notified() => "trigger",
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => "SIGHUP",
            _ = ticker.tick(), if options.watch_interval.is_some() => {
                if stamp(&options.path) == last_stamp {
                    continue;
                }
                "file change"
            }
        };
        // Whatever the cause, remember the file as it is now so an edit is not reloaded twice.
        last_stamp = stamp(&options.path);
        match reload() {
            Ok(()) => {
                successes += 1;
                tracing::info!(cause, path = %options.path.display(), "configuration reloaded");
            }
            Err(e) => tracing::error!(
                cause,
                "reload failed, the running configuration keeps serving: {e}"
            ),
        }
    }
    successes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn file_edits_and_triggers_reload_and_errors_keep_going() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "a: 1\n").expect("write");
        let (stop, shutdown) = watch::channel(false);
        let trigger = ReloadTrigger::new();
        let attempts = Arc::new(AtomicU64::new(0));
        let counted = attempts.clone();
        let reload_path = path.clone();
        let task = tokio::spawn(run_reloads(
            ReloadOptions {
                path: path.clone(),
                on_sighup: false,
                watch_interval: Some(Duration::from_millis(20)),
            },
            trigger.clone(),
            shutdown,
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let text = std::fs::read_to_string(&reload_path).unwrap_or_default();
                if text.contains("bad") {
                    Err(ConfigError::file(&reload_path, "bad"))
                } else {
                    Ok(())
                }
            },
        ));
        let wait_for = |n: u64| {
            let attempts = attempts.clone();
            async move {
                for _ in 0..200 {
                    if attempts.load(Ordering::SeqCst) >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("reload {n} never happened");
            }
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 0, "no change, no reload");
        std::fs::write(&path, "bad: true, longer\n").expect("write");
        wait_for(1).await;
        std::fs::write(&path, "a: 2, and longer still\n").expect("write");
        wait_for(2).await;
        trigger.trigger();
        wait_for(3).await;
        stop.send(true).expect("stop");
        let successes = task.await.expect("task");
        assert_eq!(successes, 2, "the bad file failed, the other two reloaded");
    }
}
