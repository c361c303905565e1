//! The state file: what a running controller is doing, for operators and for
//! `trickles-anycast drain` (which finds the controller's pid here, signals it and waits for
//! `safe_to_stop`). JSON, replaced atomically (write to a temporary file, then rename).
//!
//! ```json
//! {"pid":4242,"state":"drained","safe_to_stop":true,
//!  "announced":{"198.18.0.10/32":false,"2001:2::10/128":false},"bird_up":true}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The controller's overall state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checking and announcing.
    Serving,
    /// Drain started: withdrawn, waiting for the routes to move.
    Draining,
    /// Drain finished: safe to stop.
    Drained,
    /// The controller exited.
    Stopped,
}

/// The file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// The controller's process id.
    pub pid: u32,
    /// Its phase.
    pub state: Phase,
    /// A drain finished.
    pub safe_to_stop: bool,
    /// Announced state per prefix.
    pub announced: BTreeMap<String, bool>,
    /// BIRD answered the last round.
    pub bird_up: bool,
}

impl StateFile {
    /// Write `self` to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, path)
    }

    /// Read `path`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("not a trickles-anycast state file: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_what_was_written() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.json");
        let state = StateFile {
            pid: 42,
            state: Phase::Drained,
            safe_to_stop: true,
            announced: [("198.18.0.10/32".to_owned(), false)].into_iter().collect(),
            bird_up: true,
        };
        state.write(&path).expect("write");
        assert_eq!(StateFile::read(&path).expect("read"), state);
    }
}
