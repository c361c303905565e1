//! Progress reporting: the fetch loops call a [`ProgressReporter`]; [`ProgressBarReporter`]
//! draws an indicatif bar on stderr (the CLI uses it only when stderr is a terminal).
//!
//! One reporter is shared by all transfers of a `--parallel` run, so it shows the aggregate:
//! each transfer adds its body length when it learns it, and its bytes as they arrive.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives progress events from running transfers (from several threads or tasks at once).
pub trait ProgressReporter: Send + Sync {
    /// A transfer learned that its body is `bytes` long.
    fn add_length(&self, bytes: u64);
    /// `bytes` new body bytes were delivered.
    fn advance(&self, bytes: u64);
    /// Every transfer has ended (successfully or not).
    fn finish(&self);
}

/// An indicatif progress bar on stderr.
pub struct ProgressBarReporter {
    bar: ProgressBar,
}

impl ProgressBarReporter {
    /// A bar drawn on stderr, labelled with `message` (e.g. the URL).
    pub fn new(message: String) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(message);
        ProgressBarReporter { bar }
    }
}

impl ProgressReporter for ProgressBarReporter {
    fn add_length(&self, bytes: u64) {
        self.bar.inc_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn finish(&self) {
        self.bar.finish();
    }
}
