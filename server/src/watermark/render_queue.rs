//! [`RenderQueue`]: renderings run on threads of their own, never on a UDP worker.
//!
//! A HELLO for `/wm/...` may be spoofed, and a rendering takes a decode, a text overlay and a
//! JPEG encode (milliseconds in a release build, far more in a debug one). Run on the worker
//! that received the HELLO, a handful of them per second held every worker, and a static file's
//! first byte waited seconds behind them. So a worker only *asks* for a rendering:
//!
//! - the job goes into a bounded queue served by [`RenderQueue::threads`] threads; a rendering
//!   already queued or running is not asked twice;
//! - each source prefix (IPv4 /24, IPv6 /48) has a token bucket of renderings
//!   ([`PREFIX_BURST`] at once, [`PREFIX_PER_SECOND`] a second after): one network cannot fill
//!   the queue, nor evict everybody else's images from the cache;
//! - a full queue or an empty bucket refuses the job.
//!
//! Either way the worker answers nothing for now ([`trickles::app::AppError::Busy`]); the
//! client's retransmission finds the image in the cache. Nothing here blocks: one mutex,
//! held for a queue operation.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use super::render::RenderParams;

/// Jobs waiting at most.
pub const QUEUE_LEN: usize = 16;
/// Renderings a source prefix may ask for at once.
pub const PREFIX_BURST: f64 = 4.0;
/// Renderings a source prefix earns per second after its burst.
pub const PREFIX_PER_SECOND: f64 = 1.0;
/// Slots of the prefix table (prefixes hash into it; a collision shares a bucket).
const PREFIX_SLOTS: usize = 1_024;

/// Why a rendering was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Already queued or running: wait for it.
    InProgress,
    /// The queue is full.
    QueueFull,
    /// The client's prefix used its budget.
    PrefixBudget,
}

type Job = Box<dyn FnOnce() + Send>;

/// The queue and its threads; stops them when dropped.
pub struct RenderQueue {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RenderQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderQueue")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
}

struct State {
    jobs: VecDeque<(RenderParams, Job)>,
    /// Queued or running.
    pending: HashSet<RenderParams>,
    buckets: Vec<(f64, Instant)>,
    stopping: bool,
}

impl RenderQueue {
    /// `threads` (at least one) rendering threads.
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::with_capacity(QUEUE_LEN),
                pending: HashSet::new(),
                buckets: vec![(PREFIX_BURST, Instant::now()); PREFIX_SLOTS],
                stopping: false,
            }),
            work: Condvar::new(),
        });
        let threads = (0..threads.max(1))
            .filter_map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("render-{i}"))
                    .spawn(move || serve(&shared))
                    .ok()
            })
            .collect();
        RenderQueue { shared, threads }
    }

    /// Number of rendering threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Queue `job`, the rendering of `key` asked for by `client`; never blocks.
    pub fn submit(
        &self,
        key: &RenderParams,
        client: IpAddr,
        job: impl FnOnce() + Send + 'static,
    ) -> Result<(), Refused> {
        let mut state = lock(&self.shared.state);
        if state.pending.contains(key) {
            return Err(Refused::InProgress);
        }
        if state.jobs.len() >= QUEUE_LEN {
            return Err(Refused::QueueFull);
        }
        let slot = prefix_slot(client);
        let (tokens, since) = state.buckets[slot];
        let now = Instant::now();
        let tokens = (tokens + now.duration_since(since).as_secs_f64() * PREFIX_PER_SECOND)
            .min(PREFIX_BURST);
        if tokens < 1.0 {
            state.buckets[slot] = (tokens, now);
            return Err(Refused::PrefixBudget);
        }
        state.buckets[slot] = (tokens - 1.0, now);
        state.pending.insert(key.clone());
        state.jobs.push_back((key.clone(), Box::new(job)));
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        lock(&self.shared.state).pending.len()
    }
}

impl Drop for RenderQueue {
    fn drop(&mut self) {
        lock(&self.shared.state).stopping = true;
        self.shared.work.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A rendering thread: run jobs until the queue stops.
fn serve(shared: &Shared) {
    loop {
        let (key, job) = {
            let mut state = lock(&shared.state);
            loop {
                if state.stopping {
                    return;
                }
                if let Some(next) = state.jobs.pop_front() {
                    break next;
                }
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        // A panicking rendering must not take the thread (the cache turns it into an error).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        lock(&shared.state).pending.remove(&key);
    }
}

/// The bucket of `client`'s prefix: /24 for IPv4, /48 for IPv6.
fn prefix_slot(client: IpAddr) -> usize {
    let prefix: u64 = match client.to_canonical() {
        IpAddr::V4(ip) => u64::from(u32::from(ip) >> 8),
        IpAddr::V6(ip) => (u128::from(ip) >> 80) as u64 | 1 << 63,
    };
    let mixed = prefix.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 54) as usize % PREFIX_SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn params(caption: &str, client: &str) -> RenderParams {
        RenderParams {
            image_path: "photo.jpg".into(),
            caption: caption.into(),
            client: client.parse().expect("ip"),
        }
    }

    /// Waits (bounded) until the queue is empty.
    fn drained(queue: &RenderQueue) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.pending() > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    #[test]
    fn jobs_run_on_the_queue_threads_once_per_key() {
        let queue = RenderQueue::new(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let job = || {
            let (ran, gate) = (ran.clone(), gate.clone());
            move || {
                let _ = gate
                    .lock()
                    .expect("gate")
                    .recv_timeout(Duration::from_secs(5));
                ran.fetch_add(1, Ordering::SeqCst);
            }
        };
        let key = params("a", "198.18.0.1");
        assert_eq!(queue.submit(&key, key.client, job()), Ok(()));
        assert_eq!(
            queue.submit(&key, key.client, job()),
            Err(Refused::InProgress)
        );
        assert_ne!(
            std::thread::current().name(),
            Some("render-0"),
            "the test itself is no rendering thread"
        );
        drop(open);
        assert!(drained(&queue));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(
            queue.submit(&key, key.client, job()),
            Ok(()),
            "done: may run again"
        );
        assert!(drained(&queue));
    }

    #[test]
    fn one_prefix_gets_its_burst_and_others_are_not_charged() {
        let queue = RenderQueue::new(1);
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        let blocker = {
            let release = release.clone();
            move || {
                let _ = release
                    .lock()
                    .expect("lock")
                    .recv_timeout(Duration::from_secs(5));
            }
        };
        let attacker = |i: usize| params(&format!("flood {i}"), &format!("203.0.113.{}", i % 250));
        let first = attacker(0);
        queue.submit(&first, first.client, blocker).expect("first");
        let mut accepted = 1;
        for i in 1..10 {
            let key = attacker(i);
            if queue.submit(&key, key.client, || {}).is_ok() {
                accepted += 1;
            }
        }
        assert_eq!(
            accepted, PREFIX_BURST as usize,
            "one /24 got more than its burst"
        );
        let neighbour = params("legit", "198.51.100.7");
        assert_eq!(queue.submit(&neighbour, neighbour.client, || {}), Ok(()));
        let v6 = params("legit", "2001:db8:1::7");
        assert_eq!(queue.submit(&v6, v6.client, || {}), Ok(()));
        drop(hold);
        assert!(drained(&queue));
    }

    #[test]
    fn a_full_queue_refuses_at_once() {
        let queue = RenderQueue::new(1);
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        let blocker = move || {
            let _ = release
                .lock()
                .expect("lock")
                .recv_timeout(Duration::from_secs(5));
        };
        let first = params("running", "10.0.0.1");
        queue
            .submit(&first, first.client, blocker)
            .expect("running");
        // Wait until the thread took it, so the queue itself is empty.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !lock(&queue.shared.state).jobs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut refused = None;
        for i in 0..QUEUE_LEN + 1 {
            // Every job from another /24, so only the queue length limits them.
            let key = params("queued", &format!("10.{}.{}.1", i / 200, i % 200));
            let started = Instant::now();
            if let Err(why) = queue.submit(&key, key.client, || {}) {
                assert!(started.elapsed() < Duration::from_secs(1), "submit blocked");
                refused = Some((i, why));
                break;
            }
        }
        assert_eq!(refused, Some((QUEUE_LEN, Refused::QueueFull)));
        drop(hold);
        assert!(drained(&queue));
    }
}
