//! The Trickles UDP driver: runs the core's [`ClientConnection`] state machines over one socket.
//!
//! All transfers of a fetch (one, or N with `--parallel`) share a single UDP socket; incoming
//! datagrams are demultiplexed by their connection id ([`trickles::wire::connection_id`]),
//! whatever address they come from, since any replica may answer any connection.
//!
//! One loop, on a single-threaded tokio runtime:
//! 1. queue every datagram the connections want to send (`poll_transmit`) and send the queue,
//!    one `sendmmsg` per [`BATCH_LEN`] datagrams;
//! 2. read the in-order bytes of every connection into its [`TransferRecorder`], and settle the
//!    transfers that are done, refused, or idle for longer than the idle timeout;
//! 3. wait for a datagram until the earliest deadline (the connections' `poll_timeout`, the idle
//!    timeouts), then drain the socket without blocking, one `recvmmsg` per [`BATCH_LEN`]
//!    datagrams (up to [`RECEIVE_BATCH`] per wake-up), feeding each datagram to its connection;
//!    a datagram too long for a receive slot is dropped;
//! 4. fire the connection timers that are due (`handle_timeout`).
//!
//! The wait in step 3 also wakes for ICMP errors: a "destination unreachable" that quotes one
//! of our datagrams is handed to the connection it names (`handle_unreachable`), which resends
//! at once instead of waiting for its timer, at a pace the core bounds. A server whose process
//! died answers this way within a round trip, so the client resumes as soon as a replica (or
//! the restarted process) is back, not one backed-off timeout later.
//!
//! The batched I/O is [`crate::udp_socket`]'s (which says what it reuses from
//! `trickles-netfn`). The receive buffers and the send queue are allocated once per fetch.
//!
//! The core's clock is the wall clock in microseconds since the UNIX epoch (its continuations'
//! timestamps are compared by other replicas); the driver's own deadlines use the monotonic
//! clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trickles::client::{ClientConnection, ClientError as CoreError, ClientStatus};
use trickles::time::Instant as CoreInstant;
use trickles::Transmit;

use crate::error::{ClientError, Result};
use crate::metrics::TransportTotals;
use crate::options::FetchOptions;
use crate::recorder::TransferRecorder;
use crate::replicas;
use crate::stats::TransferStats;
use crate::udp_socket::{
    self, is_pending_icmp_error, ClientSocket, Received, RecvBatch, SendBatch, Unreachable,
    BATCH_LEN,
};
use crate::url::TargetUrl;
use crate::via_mirror::DatagramPath;

/// Datagrams drained per wake-up before the loop sends and delivers again (a multiple of
/// [`BATCH_LEN`], the datagrams per `recvmmsg`).
const RECEIVE_BATCH: usize = 8 * BATCH_LEN;
/// Bytes moved from a connection to its output per `read` call.
const READ_CHUNK: usize = 256 * 1024;
/// ICMP errors read per wake-up (the core paces its reactions; this bounds the reading).
const ERROR_BATCH: usize = 64;
/// Bytes of a quoted datagram kept: the header is what identifies it.
const QUOTED_LEN: usize = 512;

/// Fetches `url` once per recorder, all transfers over one UDP socket; one result per
/// recorder, in order. With one address the transfers use it; with several (of the first one's
/// family) they are ranked by probing ([`crate::replicas`]), the transfers start at the best and
/// move down the ranking when it fails.
pub async fn fetch_trickles(
    url: &TargetUrl,
    addrs: &[SocketAddr],
    opts: &FetchOptions,
    recorders: Vec<TransferRecorder>,
) -> Vec<Result<TransferStats>> {
    let count = recorders.len();
    let candidates = replicas::same_family(addrs);
    let Some(&server) = candidates.first() else {
        return (0..count)
            .map(|_| {
                Err(ClientError::Resolve {
                    host: url.host.to_string(),
                    reason: "no addresses".to_owned(),
                })
            })
            .collect();
    };
    let path = DatagramPath::new(opts.via.clone());
    let socket = match udp_socket::bind_for(path.first_hop(server), opts.socket_buffer_bytes) {
        Ok(socket) => socket,
        Err(error) => {
            let reason = error.to_string();
            return (0..count)
                .map(|_| {
                    Err(ClientError::Socket(std::io::Error::new(
                        error.kind(),
                        reason.clone(),
                    )))
                })
                .collect();
        }
    };
    let config = share_receive_buffer(socket.socket(), opts, count);
    let servers: Vec<SocketAddr> =
        replicas::rank(&socket, &path, url.path.as_bytes(), &config, &candidates)
            .await
            .into_iter()
            .map(|ranked| ranked.addr)
            .collect();
    let mut driver = Driver::new(url, &servers, opts, config, recorders);
    driver.path = path;
    driver.run(&socket).await;
    driver.into_outcomes()
}

/// The connections' receive windows, sized so that their windows together fit the socket's
/// receive buffer: the kernel drops datagrams that do not fit, which the transport would take
/// for congestion. Linux reports twice the usable size and a ~1.3 KB datagram occupies about
/// 2.3 KB of it, hence a quarter of the reported size for payload, shared by the transfers.
fn share_receive_buffer(
    socket: &std::net::UdpSocket,
    opts: &FetchOptions,
    transfers: usize,
) -> trickles::client::ClientConfig {
    let reported = socket2::SockRef::from(socket)
        .recv_buffer_size()
        .unwrap_or(opts.socket_buffer_bytes);
    let share = (reported / 4) / transfers.max(1);
    let mut config = opts.trickles.clone();
    config.receive_window = config.receive_window.min(share.max(MIN_RECEIVE_WINDOW));
    config
}

/// Smallest receive window given to a connection (two full packets).
const MIN_RECEIVE_WINDOW: usize = 2 * 1200;

/// One transfer: its connection, and its recorder until it is settled.
struct Transfer {
    connection: ClientConnection,
    recorder: Option<TransferRecorder>,
    outcome: Option<Result<TransferStats>>,
    length_announced: bool,
}

/// The state of the loop described in the module doc.
struct Driver<'a> {
    url: &'a TargetUrl,
    opts: &'a FetchOptions,
    transfers: Vec<Transfer>,
    by_conn_id: HashMap<u64, usize>,
    running: usize,
    chunk: Vec<u8>,
    /// Datagrams queued by the connections, sent together.
    outbox: Vec<Transmit>,
    sender: SendBatch,
    /// Direct, or through a packet mirror (`--via`).
    path: DatagramPath,
    /// The datagram an ICMP error quotes.
    quoted: Vec<u8>,
}

impl<'a> Driver<'a> {
    fn new(
        url: &'a TargetUrl,
        servers: &[SocketAddr],
        opts: &'a FetchOptions,
        config: trickles::client::ClientConfig,
        recorders: Vec<TransferRecorder>,
    ) -> Self {
        let now = wall_clock();
        let mut by_conn_id = HashMap::with_capacity(recorders.len());
        let mut transfers = Vec::with_capacity(recorders.len());
        for (index, recorder) in recorders.into_iter().enumerate() {
            let conn_id = loop {
                let candidate: u64 = rand::random();
                if !by_conn_id.contains_key(&candidate) {
                    break candidate;
                }
            };
            by_conn_id.insert(conn_id, index);
            let mut connection = ClientConnection::new(
                now,
                servers[0],
                url.path.as_bytes().to_vec(),
                config.clone(),
                conn_id,
            );
            if servers.len() > 1 {
                connection = connection.with_replicas(servers.to_vec());
            }
            transfers.push(Transfer {
                connection,
                recorder: Some(recorder),
                outcome: None,
                length_announced: false,
            });
        }
        Driver {
            url,
            opts,
            running: transfers.len(),
            transfers,
            by_conn_id,
            chunk: vec![0; READ_CHUNK],
            outbox: Vec::new(),
            sender: SendBatch::new(),
            path: DatagramPath::default(),
            quoted: vec![0; QUOTED_LEN],
        }
    }

    async fn run(&mut self, socket: &ClientSocket) {
        let mut inbox = RecvBatch::new();
        while self.running > 0 {
            self.send_all(socket).await;
            self.deliver_and_settle();
            if self.running == 0 {
                break;
            }
            let deadline = self.next_deadline();
            match tokio::time::timeout_at(deadline, socket.incoming()).await {
                Ok(Ok(incoming)) => {
                    if incoming.errors {
                        self.drain_errors(socket);
                    }
                    if incoming.datagrams {
                        self.drain(socket, &mut inbox);
                    }
                }
                Ok(Err(error)) => tracing::debug!(%error, "udp receive error"),
                Err(_elapsed) => {}
            }
            self.fire_timers();
        }
    }

    /// Sends everything every running connection has queued.
    async fn send_all(&mut self, socket: &ClientSocket) {
        let now = wall_clock();
        for transfer in self.transfers.iter_mut().filter(|t| t.outcome.is_none()) {
            while let Some(transmit) = transfer.connection.poll_transmit(now) {
                self.outbox.push(transmit);
            }
        }
        self.path.wrap_all(&mut self.outbox);
        socket.send_all(&mut self.sender, &self.outbox).await;
        self.outbox.clear();
    }

    /// Receives whatever is already queued on the socket (up to [`RECEIVE_BATCH`] datagrams),
    /// without waiting.
    fn drain(&mut self, socket: &ClientSocket, inbox: &mut RecvBatch) {
        let (mut drained, mut pending_errors) = (0, 0);
        while drained < RECEIVE_BATCH {
            match socket.try_recv_batch(inbox) {
                // recvmmsg returns at least one datagram or an error; never spin on a zero.
                Ok(0) => break,
                Ok(count) => {
                    drained += count;
                    let now = wall_clock();
                    for datagram in inbox.iter() {
                        self.dispatch(now, datagram);
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                // An ICMP error was pending: it is on the error queue, datagrams may follow.
                Err(error) if is_pending_icmp_error(&error) && pending_errors < BATCH_LEN => {
                    pending_errors += 1;
                    self.drain_errors(socket);
                }
                Err(error) => {
                    tracing::debug!(%error, "udp receive error");
                    break;
                }
            }
        }
    }

    /// Reads the socket's queued ICMP errors (up to [`ERROR_BATCH`]) and hands each
    /// "unreachable" to the connection whose datagram it quotes.
    fn drain_errors(&mut self, socket: &ClientSocket) {
        for _ in 0..ERROR_BATCH {
            match socket.try_recv_unreachable(&mut self.quoted) {
                Ok(Some(unreachable)) => self.dispatch_unreachable(wall_clock(), unreachable),
                Ok(None) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    tracing::debug!(%error, "udp error queue");
                    break;
                }
            }
        }
    }

    /// Hands an ICMP "unreachable" to the connection its quoted datagram names.
    fn dispatch_unreachable(&mut self, now: CoreInstant, unreachable: Unreachable) {
        let quoted = &self.quoted[..unreachable.quoted_len];
        let Some(quoted) = self.path.quoted(quoted) else {
            return;
        };
        let Some(&index) =
            trickles::wire::connection_id(quoted).and_then(|conn_id| self.by_conn_id.get(&conn_id))
        else {
            tracing::trace!(?unreachable, "unreachable for no connection of ours");
            return;
        };
        if let Some(transfer) = self.transfers.get_mut(index) {
            if transfer.outcome.is_none() {
                // Through a mirror the error names the mirror: it stands for the server.
                let server = transfer.connection.server();
                let destination = if self.path.first_hop(server) == unreachable.destination {
                    server
                } else {
                    unreachable.destination
                };
                let acted = transfer
                    .connection
                    .handle_unreachable(now, destination, quoted);
                tracing::debug!(?unreachable, acted, "destination unreachable");
            }
        }
    }

    /// Hands a datagram received at `now` to the connection it names; strays and truncated
    /// datagrams are dropped.
    fn dispatch(&mut self, now: CoreInstant, datagram: Received<'_>) {
        let (Some(from), false) = (datagram.from, datagram.truncated) else {
            tracing::trace!(from = ?datagram.from, "truncated datagram or unknown sender family");
            return;
        };
        let Some((from, payload)) = self.path.received(from, datagram.payload) else {
            return;
        };
        let Some(&index) = trickles::wire::connection_id(payload)
            .and_then(|conn_id| self.by_conn_id.get(&conn_id))
        else {
            tracing::trace!(%from, len = payload.len(), "datagram for no connection of ours");
            return;
        };
        if let Some(transfer) = self.transfers.get_mut(index) {
            if transfer.outcome.is_none() {
                transfer.connection.handle_datagram(now, from, payload);
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = wall_clock();
        for transfer in self.transfers.iter_mut().filter(|t| t.outcome.is_none()) {
            if transfer
                .connection
                .poll_timeout()
                .is_some_and(|due| due <= now)
            {
                transfer.connection.handle_timeout(now);
            }
        }
    }

    /// The earliest of the connections' timers and the idle timeouts.
    fn next_deadline(&self) -> tokio::time::Instant {
        let (now_wall, now_mono) = (wall_clock(), std::time::Instant::now());
        let mut deadline = now_mono + self.opts.idle_timeout;
        for transfer in self.transfers.iter().filter(|t| t.outcome.is_none()) {
            if let Some(recorder) = &transfer.recorder {
                deadline = deadline.min(recorder.last_progress() + self.opts.idle_timeout);
            }
            if let Some(due) = transfer.connection.poll_timeout() {
                let wait = Duration::from_micros(due.micros().saturating_sub(now_wall.micros()));
                deadline = deadline.min(now_mono + wait);
            }
        }
        tokio::time::Instant::from_std(deadline)
    }

    /// Moves in-order bytes to the outputs and settles transfers that have ended.
    fn deliver_and_settle(&mut self) {
        for index in 0..self.transfers.len() {
            if self.transfers[index].outcome.is_some() {
                continue;
            }
            if let Some(outcome) = self.step_transfer(index) {
                let transfer = &mut self.transfers[index];
                transfer.outcome = Some(outcome);
                transfer.recorder = None;
                self.running -= 1;
            }
        }
    }

    /// Delivers what transfer `index` has; returns its outcome if it has ended.
    fn step_transfer(&mut self, index: usize) -> Option<Result<TransferStats>> {
        let (url, idle_timeout) = (self.url, self.opts.idle_timeout);
        let transfer = &mut self.transfers[index];
        let recorder = transfer.recorder.as_mut()?;
        loop {
            let len = transfer.connection.read(&mut self.chunk);
            if len == 0 {
                break;
            }
            if let Err(error) = recorder.deliver(std::time::Instant::now(), &self.chunk[..len]) {
                return Some(Err(ClientError::Output(error)));
            }
        }
        recorder.transport_totals(transport_totals(&transfer.connection));
        if !transfer.length_announced {
            if let Some(total) = transfer.connection.total_len() {
                recorder.announce_length(total);
                transfer.length_announced = true;
            }
        }
        let idle_for = recorder.last_progress().elapsed();
        match transfer.connection.status() {
            ClientStatus::Done => {
                let recorder = transfer.recorder.take()?;
                Some(finish(url, &transfer.connection, recorder))
            }
            ClientStatus::Failed(error) => {
                let received = recorder.delivered();
                let stats = transfer.connection.stats();
                tracing::debug!(?error, received, ?stats, "connection failed");
                Some(Err(core_failure(url, error, idle_for, received)))
            }
            ClientStatus::Connecting | ClientStatus::Transferring if idle_for >= idle_timeout => {
                let received = recorder.delivered();
                let (stats, timer) = (
                    transfer.connection.stats(),
                    transfer.connection.poll_timeout(),
                );
                tracing::debug!(received, ?stats, ?timer, now = ?wall_clock(), "idle timeout");
                Some(Err(ClientError::Timeout {
                    url: url.to_string(),
                    seconds: idle_timeout.as_secs_f64(),
                    received,
                }))
            }
            ClientStatus::Connecting | ClientStatus::Transferring => None,
        }
    }

    fn into_outcomes(self) -> Vec<Result<TransferStats>> {
        let url = self.url.to_string();
        self.transfers
            .into_iter()
            .map(|transfer| {
                transfer.outcome.unwrap_or_else(|| {
                    Err(ClientError::Protocol {
                        url: url.clone(),
                        reason: "the transfer never ended".to_owned(),
                    })
                })
            })
            .collect()
    }
}

/// A completed connection: check the length, produce the statistics.
fn finish(
    url: &TargetUrl,
    connection: &ClientConnection,
    recorder: TransferRecorder,
) -> Result<TransferStats> {
    let delivered = recorder.delivered();
    if let Some(total) = connection.total_len() {
        if delivered != total {
            return Err(ClientError::Protocol {
                url: url.to_string(),
                reason: format!("stream ended after {delivered} of {total} bytes"),
            });
        }
    }
    recorder
        .finish(url, transport_totals(connection), 0)
        .map_err(ClientError::Output)
}

/// The connection's running totals, as the recorder and the metrics count them.
fn transport_totals(connection: &ClientConnection) -> TransportTotals {
    let stats = connection.stats();
    TransportTotals {
        retransmissions: stats.retransmissions,
        timeouts: stats.timeouts,
        unreachables: stats.unreachables,
        replica_moves: stats.replica_moves,
    }
}

/// The core gave up: a REFUSE (not found, bad request...) or its own timeout.
fn core_failure(
    url: &TargetUrl,
    error: CoreError,
    idle_for: Duration,
    received: u64,
) -> ClientError {
    match error {
        CoreError::Refused { code, .. } if code == trickles::app::AppError::NotFound.code() => {
            ClientError::NotFound {
                url: url.to_string(),
            }
        }
        CoreError::Refused { code, message } => ClientError::Refused {
            url: url.to_string(),
            reason: format!("{message} (code {code})"),
        },
        CoreError::Timeout(reason) => {
            tracing::debug!(reason, "the connection gave up");
            ClientError::Timeout {
                url: url.to_string(),
                seconds: (idle_for.as_secs_f64() * 10.0).round() / 10.0,
                received,
            }
        }
    }
}

/// The core's clock: wall-clock microseconds since the UNIX epoch.
pub(crate) fn wall_clock() -> CoreInstant {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    CoreInstant(u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX))
}
