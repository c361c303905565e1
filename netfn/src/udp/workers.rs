//! [`WorkerGroup`]: datapath threads, one per `SO_REUSEPORT` socket, stopped together.
//!
//! Each worker gets its own socket (the kernel spreads flows over them) and a shared stop flag
//! it looks at between batches; [`receive`] turns the socket's poll timeout and transient
//! errors into an empty batch, so a worker loop is just
//!
//! ```no_run
//! # use trickles_netfn::udp::{RecvBatch, WorkerContext, receive};
//! fn run(ctx: WorkerContext) {
//!     let mut batch = RecvBatch::new();
//!     while !ctx.stopping() {
//!         if receive(&mut batch, &ctx.socket) == 0 { continue; }
//!         for datagram in batch.iter() { /* decide, queue, count */ }
//!         // send the queued datagrams with a SendBatch
//!     }
//! }
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::batch::RecvBatch;
use super::socket::{bind_group, PortSharing};
use crate::error::NetfnError;

/// Whether a group's address may be shared with other processes, and how the binary's user
/// asks for it (named in the error when the address is taken).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exclusivity {
    /// Share or not.
    pub sharing: PortSharing,
    /// How the binary asks for sharing, ending the error's sentence: ", or pass
    /// --share-port to serve it together" (empty when it cannot).
    pub hint: &'static str,
}

impl Default for Exclusivity {
    /// Exclusive, with no way to share.
    fn default() -> Self {
        Exclusivity {
            sharing: PortSharing::Exclusive,
            hint: "",
        }
    }
}

impl Exclusivity {
    /// Shared with other processes when `share`, else exclusive; `hint` ends the error when
    /// the address is taken.
    pub fn new(share: bool, hint: &'static str) -> Self {
        let sharing = if share {
            PortSharing::WithOtherProcesses
        } else {
            PortSharing::Exclusive
        };
        Exclusivity { sharing, hint }
    }
}

/// What one worker thread is given.
#[derive(Debug)]
pub struct WorkerContext {
    /// Position of the worker in its group (0-based).
    pub index: usize,
    /// Its socket (one of the `SO_REUSEPORT` group).
    pub socket: UdpSocket,
    stop: Arc<AtomicBool>,
}

impl WorkerContext {
    /// True once the group is being stopped: the worker should return.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Receive one batch; 0 when the poll timeout expired or a transient error occurred (an ICMP
/// error reported on the socket, at once, an interrupted call). Never spins: a persistent error sleeps
/// a millisecond.
pub fn receive(batch: &mut RecvBatch, socket: &UdpSocket) -> usize {
    match batch.recv(socket) {
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            ) =>
        {
            0
        }
        // An ICMP error for an earlier datagram, now on the socket's error queue (a socket
        // that asked for them, `error_queue::enable`): the caller reads it there.
        Err(e) if super::error_queue::is_pending_icmp_error(&e) => 0,
        Err(e) => {
            tracing::debug!(error = %e, "receive failed");
            std::thread::sleep(Duration::from_millis(1));
            0
        }
    }
}

/// Running worker threads sharing one address.
pub struct WorkerGroup {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerGroup {
    /// Bind `workers` sockets on `addr` and run `work` on each in its own thread named
    /// `{name}-{index}`. Fails, starting nothing, if the address cannot be bound.
    pub fn start<F>(
        name: &str,
        addr: SocketAddr,
        workers: usize,
        work: F,
    ) -> Result<WorkerGroup, NetfnError>
    where
        F: Fn(WorkerContext) + Send + Sync + 'static,
    {
        Self::start_with(name, addr, workers, Exclusivity::default(), work)
    }

    /// [`WorkerGroup::start`], sharing the address with other processes or not as
    /// `exclusivity` says ([`bind_group`]).
    pub fn start_with<F>(
        name: &str,
        addr: SocketAddr,
        workers: usize,
        exclusivity: Exclusivity,
        work: F,
    ) -> Result<WorkerGroup, NetfnError>
    where
        F: Fn(WorkerContext) + Send + Sync + 'static,
    {
        let sockets = bind_group(addr, workers, exclusivity.sharing, exclusivity.hint)?;
        let local_addr = sockets[0]
            .local_addr()
            .map_err(|source| NetfnError::Bind { addr, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let work = Arc::new(work);
        let mut group = WorkerGroup {
            local_addr,
            stop: stop.clone(),
            threads: Vec::with_capacity(sockets.len()),
        };
        for (index, socket) in sockets.into_iter().enumerate() {
            let context = WorkerContext {
                index,
                socket,
                stop: stop.clone(),
            };
            let work = work.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || work(context));
            match spawned {
                Ok(thread) => group.threads.push(thread),
                Err(source) => {
                    group.stop();
                    return Err(NetfnError::Runtime {
                        what: "a datapath thread",
                        source,
                    });
                }
            }
        }
        Ok(group)
    }

    /// The bound address (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Number of worker threads.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// True when no worker runs.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Stop every worker and wait for it (at most one poll interval).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a datapath worker panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udp::{Outgoing, SendBatch};

    #[test]
    fn echo_workers_answer_and_stop() {
        let group = WorkerGroup::start("echo", "127.0.0.1:0".parse().expect("addr"), 2, |ctx| {
            let mut batch = RecvBatch::new();
            let mut send = SendBatch::new();
            while !ctx.stopping() {
                if receive(&mut batch, &ctx.socket) == 0 {
                    continue;
                }
                let out: Vec<Outgoing<'_>> = batch
                    .iter()
                    .filter_map(|d| Some(Outgoing::new(d.from?, d.payload)))
                    .collect();
                send.send(&ctx.socket, &out);
            }
        })
        .expect("start");
        assert_eq!(group.len(), 2);
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        client.send_to(b"ping", group.local_addr()).expect("send");
        let mut buf = [0u8; 16];
        let (n, from) = client.recv_from(&mut buf).expect("echo");
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, group.local_addr());
        let started = std::time::Instant::now();
        group.stop();
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
