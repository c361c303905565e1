//! [`ServerEndpoint`]: the whole server as one function of (datagram, source, time).

use std::net::SocketAddr;
use std::sync::Arc;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::app::{AppError, Application, MAX_UCONT_LEN};
use crate::cc::{WindowParams, INITIAL_SSTHRESH, MAX_CWND};
use crate::crypto::KeyRing;
use crate::replay::ReplayFilter;
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::continuation::Continuation;
use crate::wire::refuse::CODE_HELLO_TOO_SMALL;
use crate::wire::{
    ContState, Header, HelloRepr, PacketType, RefuseRepr, RequestKind, RequestRepr, WireError,
};

use super::config::ServerConfig;
use super::drop_reason::DropReason;
use super::proof::Proof;
use super::response_builder::{build, full_packet_len, BuildContext};
use super::seal::{open, pseudo_header, OpenError};
use super::step::{decide, Emission, StepError};
use super::tokens::{
    ack_token, recovering_from_token, recovering_token, request_token, retransmission_token,
};

/// A Trickles server: keys, an application, and bounded soft state (replay filter, RNG).
pub struct ServerEndpoint<A: Application> {
    config: ServerConfig,
    keys: KeyRing,
    app: A,
    /// Shared by every endpoint of one process (see [`ServerEndpoint::with_replay_filter`]).
    replay: Arc<ReplayFilter>,
    rng: ChaCha8Rng,
    emissions: Vec<Emission>,
}

impl<A: Application> ServerEndpoint<A> {
    /// A server with `keys` serving `app`; `seed` seeds the connection-token RNG (drivers pass
    /// OS randomness, the simulator a seeded value).
    pub fn new(config: ServerConfig, keys: KeyRing, app: A, seed: u64) -> Self {
        let replay = Arc::new(replay_filter_for(&config));
        ServerEndpoint::with_replay_filter(config, keys, app, seed, replay)
    }

    /// A server using `replay`, a filter shared with the other endpoints of its process (made
    /// by [`replay_filter_for`]): a request consumed by one is a replay for all, whichever
    /// socket it arrives on.
    pub fn with_replay_filter(
        config: ServerConfig,
        keys: KeyRing,
        app: A,
        seed: u64,
        replay: Arc<ReplayFilter>,
    ) -> Self {
        ServerEndpoint {
            config,
            keys,
            app,
            replay,
            rng: ChaCha8Rng::seed_from_u64(seed),
            emissions: Vec::with_capacity(8),
        }
    }

    /// Replace the key ring (rotation): continuations of the current and previous epochs of the
    /// new ring stay valid.
    pub fn set_keys(&mut self, keys: KeyRing) {
        self.keys = keys;
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Bytes of soft state held (replay filter, possibly shared with other endpoints).
    pub fn soft_state_bytes(&self) -> usize {
        self.replay.memory_bytes()
    }

    /// The replay filter (shared with the other endpoints of the process, if made so).
    pub fn replay_filter(&self) -> &Arc<ReplayFilter> {
        &self.replay
    }

    /// Handle one datagram from `from`; the answers are appended to `out`. Returns the number
    /// of datagrams queued, or why the input was dropped.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<Transmit>,
    ) -> Result<usize, DropReason> {
        let (header, body) = Header::parse(datagram).map_err(|e| match e {
            WireError::Version(_) => DropReason::Version,
            _ => DropReason::Malformed,
        })?;
        match header.packet_type {
            PacketType::Hello => {
                let hello = HelloRepr::parse(&header, body).map_err(|_| DropReason::Malformed)?;
                self.on_hello(now, from, &hello, datagram.len(), out)
            }
            PacketType::Request => {
                let request =
                    RequestRepr::parse(&header, body).map_err(|_| DropReason::Malformed)?;
                self.on_request(now, from, &request, out)
            }
            PacketType::Response | PacketType::Refuse => Err(DropReason::UnexpectedType),
        }
    }

    fn on_hello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        hello: &HelloRepr<'_>,
        received: usize,
        out: &mut Vec<Transmit>,
    ) -> Result<usize, DropReason> {
        let budget = received.saturating_mul(self.config.amplification_factor);
        let refuse = |code: u8, message: &str, out: &mut Vec<Transmit>| {
            let payload = RefuseRepr {
                conn_id: hello.conn_id,
                code,
                message: message.as_bytes(),
            }
            .emit();
            if payload.len() <= budget {
                out.push(Transmit {
                    destination: from,
                    payload,
                });
            }
        };
        let opened = match self.app.open(hello.request, from) {
            Ok(o) if o.ucont.len() > MAX_UCONT_LEN => {
                refuse(4, "application state too large", out);
                return Err(DropReason::App);
            }
            Ok(o) if hello.resume_offset > o.length => {
                let e = AppError::BadRequest("resume offset past the end".into());
                refuse(e.code(), &e.to_string(), out);
                return Err(DropReason::App);
            }
            Ok(o) => o,
            // Not ready: no answer, the client's HELLO retransmission comes back for it.
            Err(AppError::Busy) => return Err(DropReason::Busy),
            Err(e) => {
                refuse(e.code(), &e.to_string(), out);
                return Err(DropReason::App);
            }
        };
        let key = self.keys.current();
        let mss = self.config.mss.max(1);
        let window_cap = (hello.receive_window / u32::from(mss)).clamp(2, MAX_CWND);
        let mut template = Continuation {
            epoch: key.epoch(),
            state: ContState::Normal,
            seq: 1,
            timestamp: now.micros(),
            mrtt: 0,
            tcp_base: 1,
            start_cwnd: self.config.initial_cwnd,
            ssthresh: INITIAL_SSTHRESH,
            first_loss: 0,
            first_bootstrap_seq: 0,
            token_base: token_base(key.epoch(), self.rng.next_u64()),
            data_base: 1,
            start_offset: hello.resume_offset,
            total_len: opened.length,
            mss,
            window_cap,
            ucont: &opened.ucont,
        };
        let window = (budget / full_packet_len(&template)).min(self.config.initial_cwnd as usize);
        if window == 0 {
            refuse(CODE_HELLO_TOO_SMALL, "hello too small: pad it", out);
            return Err(DropReason::HelloTooSmall);
        }
        template.start_cwnd = window as u32;
        let params = WindowParams {
            tcp_base: 1,
            start_cwnd: window as u32,
            ssthresh: INITIAL_SSTHRESH,
            max_cwnd: window_cap,
        };
        let last = template.last_seq();
        let pseudo = pseudo_header(hello.conn_id, from);
        let ctx = BuildContext {
            key,
            nonce_key: key,
            pseudo: &pseudo,
            conn_id: hello.conn_id,
            echo: 0,
            app: &self.app,
            template,
            now_micros: now.micros(),
            mrtt: 0,
        };
        let mut sent = 0;
        for seq in 1..=(window as u64).min(last) {
            let e = Emission {
                seq,
                state: ContState::Normal,
                params,
                first_loss: 0,
                first_bootstrap_seq: 0,
                retransmission: false,
                ack: 0,
            };
            let payload = build(&ctx, &e).map_err(|e| match e {
                AppError::Busy => DropReason::Busy,
                _ => DropReason::App,
            })?;
            out.push(Transmit {
                destination: from,
                payload,
            });
            sent += 1;
        }
        Ok(sent)
    }

    fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &RequestRepr<'_>,
        out: &mut Vec<Transmit>,
    ) -> Result<usize, DropReason> {
        let pseudo = pseudo_header(req.conn_id, from);
        open(&self.keys, now, &pseudo, &req.continuation).map_err(|e| match e {
            OpenError::UnknownEpoch => DropReason::Epoch,
            OpenError::BadMac => DropReason::Mac,
        })?;
        if req.kind == RequestKind::Normal && req.attempt != 0 {
            // Only restarts carry an attempt number (PROTOCOL §5.3 check 1a).
            return Err(DropReason::Malformed);
        }
        let c = req.continuation.fields;
        let issued = Instant(c.timestamp);
        if now.saturating_since(issued) > self.config.freshness
            || issued.saturating_since(now) > self.config.max_clock_skew
        {
            return Err(DropReason::Stale);
        }
        if req.kind == RequestKind::SlowStart {
            let shift = u32::from(req.attempt);
            if req.attempt > self.config.max_restart_attempt
                || now.saturating_since(issued).micros()
                    < self.config.min_restart_age.micros() << shift
            {
                return Err(DropReason::TooEarly);
            }
        }
        let nonce_key = self
            .keys
            .get(nonce_epoch(c.token_base))
            .ok_or(DropReason::Epoch)?;
        // A token is consumed before the proof is checked: a wrong proof burns the request, so
        // nobody gets more than one guess at the nonces per continuation (per attempt for a
        // restart). A normal request's token is its continuation's position (`tokens`); a
        // restart's, its restart point, once the proof is known good.
        let first = match req.kind {
            RequestKind::Normal => request_token(&c, req.kind, 0, 0),
            RequestKind::SlowStart => restart_guess_token(req.continuation.tag, req.attempt),
        };
        if !self.replay.check_and_insert(now, first) {
            return Err(DropReason::Replay);
        }
        let proof = Proof::verify(nonce_key, c.token_base, c.tcp_base, req.sacks.clone())
            .map_err(|_| DropReason::Proof)?;
        if req.kind == RequestKind::SlowStart
            && !self.replay.check_and_insert(
                now,
                request_token(
                    &c,
                    req.kind,
                    req.attempt,
                    proof.contiguous_end_from(c.tcp_base),
                ),
            )
        {
            // Another continuation of the same 100 ms restarted at this point with this attempt.
            return Err(DropReason::Replay);
        }
        if req.kind == RequestKind::Normal
            && c.state != ContState::Recovery
            && !proof.covers(c.tcp_base, c.seq)
        {
            // One recovery plan per window: its first loss is the one the first request that
            // recovered saw.
            let from = recovering_from_token(&c, proof.first_missing_from(c.tcp_base));
            if self.replay.contains(now, recovering_token(&c)) && !self.replay.contains(now, from) {
                return Err(DropReason::Replay);
            }
            self.replay.check_and_insert(now, recovering_token(&c));
            self.replay.check_and_insert(now, from);
        }
        self.emissions.clear();
        decide(&c, req.kind, &proof, &mut self.emissions).map_err(|e| match e {
            StepError::Window | StepError::GapTooLarge => DropReason::Window,
        })?;
        // What the recovery path releases: each lost packet resent once per window, and a
        // post-loss packet released for a lost packet's ack uses up that ack (`tokens`).
        let replay = &self.replay;
        self.emissions.retain(|e| {
            if e.retransmission {
                replay.check_and_insert(now, retransmission_token(&c, e.seq))
            } else if e.ack != c.seq {
                replay.check_and_insert(now, ack_token(&c, e.ack))
            } else {
                true
            }
        });
        let sample = now
            .saturating_since(issued)
            .micros()
            .min(u64::from(u32::MAX)) as u32;
        let mrtt = if c.mrtt == 0 {
            sample
        } else {
            c.mrtt - c.mrtt / 8 + sample / 8
        };
        let ctx = BuildContext {
            key: self.keys.current(),
            nonce_key,
            pseudo: &pseudo,
            conn_id: req.conn_id,
            echo: req.echo,
            app: &self.app,
            template: c,
            now_micros: now.micros(),
            mrtt,
        };
        for e in &self.emissions {
            let payload = match build(&ctx, e) {
                Ok(payload) => payload,
                Err(AppError::Changed) => {
                    // The object is not the one the connection began with: say so (the MAC
                    // bound `from`, so this answers no spoofed source) rather than let the
                    // client time out.
                    let refuse = RefuseRepr {
                        conn_id: req.conn_id,
                        code: AppError::Changed.code(),
                        message: AppError::Changed.to_string().as_bytes(),
                    }
                    .emit();
                    out.push(Transmit {
                        destination: from,
                        payload: refuse,
                    });
                    return Err(DropReason::App);
                }
                Err(AppError::Busy) => return Err(DropReason::Busy),
                Err(_) => return Err(DropReason::App),
            };
            out.push(Transmit {
                destination: from,
                payload,
            });
        }
        Ok(self.emissions.len())
    }
}

/// The replay filter `config` asks for: `replay_capacity` tokens per generation at
/// `replay_false_positive`. A continuation is valid until `freshness` after its timestamp, and
/// its timestamp may be up to `max_clock_skew` ahead of this replica's clock (a replica whose
/// clock runs fast sealed it), so it can be used for `freshness + max_clock_skew` of local
/// time: one generation must be that long.
pub fn replay_filter_for(config: &ServerConfig) -> ReplayFilter {
    ReplayFilter::with_capacity(
        config.replay_capacity,
        config.replay_false_positive,
        replay_generation(config),
    )
}

/// How long the replay filter must remember a token: see [`replay_filter_for`].
pub fn replay_generation(config: &ServerConfig) -> crate::time::Duration {
    config.freshness + config.max_clock_skew
}

/// A connection's token base: the top byte names the key epoch of its nonce stream (fixed for
/// the life of the connection, so proofs stay valid across a key rotation), the rest is random.
fn token_base(epoch: u8, random: u64) -> u64 {
    u64::from(epoch) << 56 | (random & 0x00FF_FFFF_FFFF_FFFF)
}

/// The key epoch of a connection's nonce stream.
fn nonce_epoch(token_base: u64) -> u8 {
    (token_base >> 56) as u8
}

/// The token a slow-start request consumes before its proof is checked: its continuation's MAC
/// tag and attempt number, so each continuation gives one guess at the nonces per attempt.
fn restart_guess_token(tag: &[u8], attempt: u8) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&tag[..8]);
    let mix = (u64::from(RequestKind::SlowStart as u8) << 8 | u64::from(attempt))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    u64::from_le_bytes(first) ^ mix
}
