//! The BFD control packet (RFC 5880 §4.1), without authentication: a checked parse into
//! [`ControlRepr`] and an emit into 24 bytes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! ```

/// Field offsets and flag bits.
pub mod field {
    /// Version (3 bits) and diagnostic (5 bits).
    pub const VERS_DIAG: usize = 0;
    /// State (2 bits) and the P F C A D M flags.
    pub const STATE_FLAGS: usize = 1;
    /// Detection multiplier.
    pub const DETECT_MULT: usize = 2;
    /// Length of the packet.
    pub const LENGTH: usize = 3;
    /// My discriminator.
    pub const MY_DISCR: usize = 4;
    /// Your discriminator.
    pub const YOUR_DISCR: usize = 8;
    /// Desired min TX interval, µs.
    pub const DESIRED_MIN_TX: usize = 12;
    /// Required min RX interval, µs.
    pub const REQUIRED_MIN_RX: usize = 16;
    /// Required min echo RX interval, µs.
    pub const REQUIRED_MIN_ECHO_RX: usize = 20;
    /// Length without authentication.
    pub const LEN: usize = 24;
    /// Poll.
    pub const FLAG_POLL: u8 = 0x20;
    /// Final.
    pub const FLAG_FINAL: u8 = 0x10;
    /// Authentication present.
    pub const FLAG_AUTH: u8 = 0x04;
    /// Demand mode.
    pub const FLAG_DEMAND: u8 = 0x02;
    /// Multipoint (must be zero).
    pub const FLAG_MULTIPOINT: u8 = 0x01;
}

/// The UDP port of single-hop control packets (RFC 5881).
pub const CONTROL_PORT: u16 = 3784;
/// The only version.
pub const VERSION: u8 = 1;

/// Session state on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// AdminDown (0).
    AdminDown,
    /// Down (1).
    Down,
    /// Init (2).
    Init,
    /// Up (3).
    Up,
}

impl State {
    fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

/// Diagnostic codes used here.
pub mod diag {
    /// No diagnostic.
    pub const NONE: u8 = 0;
    /// Control detection time expired.
    pub const DETECTION_EXPIRED: u8 = 1;
    /// Neighbor signaled session down.
    pub const NEIGHBOR_DOWN: u8 = 3;
    /// Path down: the site behind this next hop is not serving (unhealthy, draining, or the
    /// controller's loop stopped renewing its lease).
    pub const PATH_DOWN: u8 = 5;
}

/// Why a datagram is not a usable control packet (RFC 5880 §6.8.6, first checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than 24 bytes, or its Length field disagrees.
    Length,
    /// Version is not 1.
    Version,
    /// Detect Mult is zero.
    ZeroMultiplier,
    /// The Multipoint bit is set.
    Multipoint,
    /// My Discriminator is zero.
    ZeroDiscriminator,
    /// Your Discriminator is zero while the state is Init or Up.
    ZeroYourDiscriminator,
    /// Authentication is not supported by this responder.
    Authentication,
}

/// A control packet's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRepr {
    /// Diagnostic.
    pub diag: u8,
    /// The sender's state.
    pub state: State,
    /// Poll.
    pub poll: bool,
    /// Final.
    pub final_: bool,
    /// Demand mode.
    pub demand: bool,
    /// Detection multiplier.
    pub detect_mult: u8,
    /// The sender's discriminator.
    pub my_discr: u32,
    /// The receiver's discriminator as the sender knows it (0: not yet).
    pub your_discr: u32,
    /// Desired min TX interval, µs.
    pub desired_min_tx_us: u32,
    /// Required min RX interval, µs.
    pub required_min_rx_us: u32,
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl ControlRepr {
    /// Parse and check a datagram.
    pub fn parse(bytes: &[u8]) -> Result<Self, PacketError> {
        use field::*;
        if bytes.len() < LEN {
            return Err(PacketError::Length);
        }
        let length = bytes[LENGTH] as usize;
        if length < LEN || length > bytes.len() {
            return Err(PacketError::Length);
        }
        if bytes[VERS_DIAG] >> 5 != VERSION {
            return Err(PacketError::Version);
        }
        let flags = bytes[STATE_FLAGS];
        if flags & FLAG_AUTH != 0 {
            return Err(PacketError::Authentication);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(PacketError::Multipoint);
        }
        let repr = ControlRepr {
            diag: bytes[VERS_DIAG] & 0x1f,
            state: State::from_bits(flags >> 6),
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            demand: flags & FLAG_DEMAND != 0,
            detect_mult: bytes[DETECT_MULT],
            my_discr: be32(bytes, MY_DISCR),
            your_discr: be32(bytes, YOUR_DISCR),
            desired_min_tx_us: be32(bytes, DESIRED_MIN_TX),
            required_min_rx_us: be32(bytes, REQUIRED_MIN_RX),
        };
        if repr.detect_mult == 0 {
            return Err(PacketError::ZeroMultiplier);
        }
        if repr.my_discr == 0 {
            return Err(PacketError::ZeroDiscriminator);
        }
        if repr.your_discr == 0 && matches!(repr.state, State::Init | State::Up) {
            return Err(PacketError::ZeroYourDiscriminator);
        }
        Ok(repr)
    }

    /// The 24 bytes on the wire.
    pub fn emit(&self) -> [u8; field::LEN] {
        use field::*;
        let mut out = [0u8; LEN];
        out[VERS_DIAG] = (VERSION << 5) | (self.diag & 0x1f);
        let mut flags = self.state.bits() << 6;
        if self.poll {
            flags |= FLAG_POLL;
        }
        if self.final_ {
            flags |= FLAG_FINAL;
        }
        if self.demand {
            flags |= FLAG_DEMAND;
        }
        out[STATE_FLAGS] = flags;
        out[DETECT_MULT] = self.detect_mult;
        out[LENGTH] = LEN as u8;
        out[MY_DISCR..MY_DISCR + 4].copy_from_slice(&self.my_discr.to_be_bytes());
        out[YOUR_DISCR..YOUR_DISCR + 4].copy_from_slice(&self.your_discr.to_be_bytes());
        out[DESIRED_MIN_TX..DESIRED_MIN_TX + 4]
            .copy_from_slice(&self.desired_min_tx_us.to_be_bytes());
        out[REQUIRED_MIN_RX..REQUIRED_MIN_RX + 4]
            .copy_from_slice(&self.required_min_rx_us.to_be_bytes());
        out[REQUIRED_MIN_ECHO_RX..LEN].copy_from_slice(&0u32.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Down packet BIRD 2.0.12 sent (captured): diag 0, mult 3, 300 ms / 100 ms.
    const BIRD_DOWN: &str = "2040031884e37f9100000000000493e0000186a000000000";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn a_captured_bird_packet_parses_and_emits_back_identically() {
        let bytes = hex(BIRD_DOWN);
        let repr = ControlRepr::parse(&bytes).expect("valid");
        assert_eq!(repr.state, State::Down);
        assert_eq!((repr.detect_mult, repr.your_discr), (3, 0));
        assert_eq!(
            (repr.desired_min_tx_us, repr.required_min_rx_us),
            (300_000, 100_000)
        );
        assert_eq!(repr.emit().as_slice(), bytes.as_slice());
    }

    #[test]
    fn malformed_packets_are_refused_with_their_reason() {
        let good = hex(BIRD_DOWN);
        assert_eq!(ControlRepr::parse(&good[..20]), Err(PacketError::Length));
        let mut bad = good.clone();
        bad[0] = 0x40;
        assert_eq!(ControlRepr::parse(&bad), Err(PacketError::Version));
        let mut bad = good.clone();
        bad[2] = 0;
        assert_eq!(ControlRepr::parse(&bad), Err(PacketError::ZeroMultiplier));
        let mut bad = good.clone();
        bad[1] = 0xc0; // Up with Your Discriminator 0
        assert_eq!(
            ControlRepr::parse(&bad),
            Err(PacketError::ZeroYourDiscriminator)
        );
        let mut bad = good;
        bad[1] |= field::FLAG_AUTH;
        assert_eq!(ControlRepr::parse(&bad), Err(PacketError::Authentication));
    }
}
