//! [`Follower`]: the thread that keeps an attached XDP program in step with its control plane:
//! every [`TICK`] it calls the datapath's `tick` (look for a new table or rules, write them,
//! add the counters to the metrics), until stopped or until `tick` says the program must go
//! (a table it cannot hold); then `finish` (last counts) runs and the program is dropped,
//! which detaches it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread wakes.
pub const TICK: Duration = Duration::from_millis(10);

/// The running thread.
#[derive(Debug)]
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// Starts thread `name` over `state`: `tick(&mut state)` every [`TICK`] while it returns
    /// true, then `finish(state)`.
    pub fn start<S: Send + 'static>(
        name: &str,
        mut state: S,
        mut tick: impl FnMut(&mut S) -> bool + Send + 'static,
        finish: impl FnOnce(S) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        if !tick(&mut state) {
                            break;
                        }
                    }
                    finish(state);
                })?
        };
        Ok(Follower {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (its `finish` has run when this returns).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                eprintln!("an XDP control thread panicked");
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.halt();
    }
}
