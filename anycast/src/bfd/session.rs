//! One BFD session in asynchronous mode (RFC 5880 §6.8), sans-IO: packets and the time go in,
//! packets to send and the next deadline come out. The responder is passive (it speaks only to
//! a peer that spoke first) and refuses to come Up while its [`Session::on_packet`] /
//! [`Session::poll_transmit`] caller says the path is not allowed: then it holds Down with
//! diagnostic Path Down, and a session that was Up tells the peer at once.
//!
//! Timers: while not Up it advertises a Desired Min TX of one second (§6.8.3); once Up it
//! advertises the configured interval and runs a Poll Sequence until the peer's Final. It sends
//! every `max(advertised tx, peer's Required Min RX)`, less 0–25 % jitter (§6.8.7), and answers
//! a Poll at once with Final.

use std::time::{Duration, Instant};

use super::packet::{diag, ControlRepr, State};
use crate::config::BfdConfig;

/// The Desired Min TX advertised while the session is not Up.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// One session's state.
#[derive(Clone, Debug)]
pub struct Session {
    config: BfdConfig,
    local_discr: u32,
    state: State,
    diag: u8,
    remote_discr: u32,
    remote_min_rx: Duration,
    remote_mult: u8,
    remote_desired_tx: Duration,
    advertised_tx: Duration,
    poll_pending: bool,
    final_due: bool,
    last_rx: Option<Instant>,
    next_tx: Instant,
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Session {
    /// A session created by the first packet of a peer.
    pub fn new(config: BfdConfig, local_discr: u32, now: Instant) -> Self {
        Session {
            config,
            local_discr,
            state: State::Down,
            diag: diag::NONE,
            remote_discr: 0,
            remote_min_rx: Duration::from_micros(1),
            remote_mult: 1,
            remote_desired_tx: SLOW_TX,
            advertised_tx: SLOW_TX,
            poll_pending: false,
            final_due: false,
            last_rx: None,
            next_tx: now,
        }
    }

    /// The local state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our discriminator.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    fn detection_time(&self) -> Duration {
        self.remote_desired_tx.max(self.config.min_rx) * u32::from(self.remote_mult)
    }

    fn go(&mut self, state: State, code: u8, now: Instant) {
        if state == self.state {
            return;
        }
        self.state = state;
        self.diag = code;
        let wanted = if state == State::Up {
            self.config.min_tx
        } else {
            SLOW_TX
        };
        if wanted != self.advertised_tx {
            self.advertised_tx = wanted;
            self.poll_pending = true;
        }
        // Tell the peer about every change at once.
        self.next_tx = now;
    }

    /// A valid packet from the peer (§6.8.6); `allowed` says whether the path may be Up.
    pub fn on_packet(&mut self, now: Instant, packet: &ControlRepr, allowed: bool) {
        self.remote_discr = packet.my_discr;
        self.remote_min_rx = Duration::from_micros(u64::from(packet.required_min_rx_us));
        self.remote_desired_tx = Duration::from_micros(u64::from(packet.desired_min_tx_us));
        self.remote_mult = packet.detect_mult;
        self.last_rx = Some(now);
        if packet.final_ {
            self.poll_pending = false;
        }
        if packet.poll {
            self.final_due = true;
            self.next_tx = now;
        }
        let target = match (self.state, packet.state) {
            (_, State::AdminDown) => Some((State::Down, diag::NEIGHBOR_DOWN)),
            (State::Down, State::Down) if allowed => Some((State::Init, diag::NONE)),
            (State::Down, State::Init) if allowed => Some((State::Up, diag::NONE)),
            (State::Init, State::Init | State::Up) if allowed => Some((State::Up, diag::NONE)),
            (State::Up, State::Down) => Some((State::Down, diag::NEIGHBOR_DOWN)),
            _ => None,
        };
        if let Some((state, code)) = target {
            self.go(state, code, now);
        }
        self.enforce(allowed, now);
    }

    fn enforce(&mut self, allowed: bool, now: Instant) {
        if !allowed && matches!(self.state, State::Init | State::Up) {
            self.go(State::Down, diag::PATH_DOWN, now);
        }
    }

    /// Expire the session if the peer fell silent; hold it Down if not allowed.
    pub fn handle_timeout(&mut self, now: Instant, allowed: bool) {
        if let Some(last) = self.last_rx {
            if matches!(self.state, State::Init | State::Up) && now >= last + self.detection_time()
            {
                self.go(State::Down, diag::DETECTION_EXPIRED, now);
            }
        }
        self.enforce(allowed, now);
    }

    /// The peer has been silent for this long: the responder forgets the session.
    pub fn is_stale(&self, now: Instant) -> bool {
        self.last_rx
            .is_none_or(|last| now.duration_since(last) > self.detection_time().max(SLOW_TX) * 10)
    }

    /// When the next packet is due.
    pub fn poll_timeout(&self) -> Instant {
        let expiry = self
            .last_rx
            .filter(|_| matches!(self.state, State::Init | State::Up))
            .map(|last| last + self.detection_time());
        expiry.map_or(self.next_tx, |e| e.min(self.next_tx))
    }

    /// The packet to send now, if one is due; `jitter` in 0.0..1.0 shortens the next interval
    /// by up to 25 %.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        allowed: bool,
        jitter: f64,
    ) -> Option<ControlRepr> {
        self.handle_timeout(now, allowed);
        if now < self.next_tx || self.remote_min_rx.is_zero() {
            return None;
        }
        let interval = self.advertised_tx.max(self.remote_min_rx);
        // §6.8.7: 75–100 % of the interval, 75–90 % when the multiplier is 1.
        let jitter = jitter.clamp(0.0, 1.0);
        let cut = if self.config.multiplier == 1 {
            0.90 - 0.15 * jitter
        } else {
            1.0 - 0.25 * jitter
        };
        self.next_tx = now + interval.mul_f64(cut);
        let final_ = std::mem::take(&mut self.final_due);
        Some(ControlRepr {
            diag: self.diag,
            state: self.state,
            poll: self.poll_pending && !final_,
            final_,
            demand: false,
            detect_mult: self.config.multiplier,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx_us: us(self.advertised_tx),
            required_min_rx_us: us(self.config.min_rx),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: BfdConfig = BfdConfig {
        min_tx: Duration::from_millis(100),
        min_rx: Duration::from_millis(100),
        multiplier: 3,
        lease: Duration::from_secs(3),
    };

    fn peer(state: State, your: u32) -> ControlRepr {
        ControlRepr {
            diag: 0,
            state,
            poll: false,
            final_: false,
            demand: false,
            detect_mult: 3,
            my_discr: 0xb1d,
            your_discr: your,
            desired_min_tx_us: 100_000,
            required_min_rx_us: 100_000,
        }
    }

    #[test]
    fn the_three_way_handshake_brings_it_up_and_polls_the_faster_timer() {
        let t = Instant::now();
        let mut s = Session::new(CONFIG, 7, t);
        s.on_packet(t, &peer(State::Down, 0), true);
        assert_eq!(s.state(), State::Init);
        let sent = s.poll_transmit(t, true, 0.0).expect("due");
        assert_eq!(
            (sent.state, sent.your_discr, sent.desired_min_tx_us),
            (State::Init, 0xb1d, 1_000_000)
        );
        s.on_packet(t, &peer(State::Up, 7), true);
        assert_eq!(s.state(), State::Up);
        let sent = s.poll_transmit(t, true, 0.0).expect("due");
        assert!(sent.poll, "a faster Desired Min TX starts a Poll Sequence");
        assert_eq!(sent.desired_min_tx_us, 100_000);
        let mut fin = peer(State::Up, 7);
        fin.final_ = true;
        s.on_packet(t, &fin, true);
        let later = t + Duration::from_millis(100);
        assert!(!s.poll_transmit(later, true, 0.0).expect("due").poll);
    }

    #[test]
    fn a_poll_is_answered_at_once_with_final() {
        let t = Instant::now();
        let mut s = Session::new(CONFIG, 7, t);
        s.on_packet(t, &peer(State::Down, 0), true);
        s.poll_transmit(t, true, 0.0);
        let mut poll = peer(State::Init, 7);
        poll.poll = true;
        s.on_packet(t + Duration::from_millis(1), &poll, true);
        let reply = s
            .poll_transmit(t + Duration::from_millis(1), true, 0.0)
            .expect("immediate");
        assert!(reply.final_ && !reply.poll);
    }

    #[test]
    fn a_session_that_is_not_allowed_never_comes_up_and_drops_at_once_when_revoked() {
        let t = Instant::now();
        let mut s = Session::new(CONFIG, 7, t);
        s.on_packet(t, &peer(State::Down, 0), false);
        s.on_packet(t, &peer(State::Init, 7), false);
        assert_eq!(s.state(), State::Down);
        s.on_packet(t, &peer(State::Down, 0), true);
        s.on_packet(t, &peer(State::Up, 7), true);
        assert_eq!(s.state(), State::Up);
        let later = t + Duration::from_millis(10);
        let sent = s.poll_transmit(later, false, 0.0).expect("immediate");
        assert_eq!((sent.state, sent.diag), (State::Down, diag::PATH_DOWN));
    }

    #[test]
    fn silence_for_the_detection_time_takes_it_down() {
        let t = Instant::now();
        let mut s = Session::new(CONFIG, 7, t);
        s.on_packet(t, &peer(State::Down, 0), true);
        s.on_packet(t, &peer(State::Up, 7), true);
        s.handle_timeout(t + Duration::from_millis(299), true);
        assert_eq!(s.state(), State::Up);
        s.handle_timeout(t + Duration::from_millis(300), true);
        assert_eq!(s.state(), State::Down);
    }
}
