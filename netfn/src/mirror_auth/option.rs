//! The authentication option the mirror reads from the encapsulation header.
//!
//! The shared encapsulation header ([`crate::encap`]) has room for options after the
//! peer address: TLVs of one type byte, one length byte (of the value) and the value, all
//! counted in the header length. The mirror defines two:
//!
//! ```text
//! type 0x4D  len 13   key id (u8) | timestamp (u32, s since the UNIX epoch) | tag (u64)
//! type 0x4E  len n    n bytes of padding (ignored)
//! ```
//!
//! Multi-byte fields are big-endian. A sender to the mirror adds the `0x4D` option when it has
//! a key ([`super::key::AuthKey`]); the mirror strips every option when it forwards, so what it
//! emits is never longer than what it received because of options. The padding option lets a
//! sender pay in advance for an address that grows on the way out (an IPv6 sender reaching an
//! IPv4 destination: the header the mirror writes names the sender, 12 bytes longer).
//!
//! Options of other types are skipped. A TLV that runs past the end of the header is malformed.

use super::key::AuthKey;

/// Option type of the mirror authentication tag.
pub const OPTION_MIRROR_AUTH: u8 = 0x4D;
/// Option type of padding.
pub const OPTION_PADDING: u8 = 0x4E;
/// Length of the auth option's value.
pub const AUTH_VALUE_LEN: usize = 13;
/// Length of the whole auth option (type, length, value).
pub const AUTH_OPTION_LEN: usize = 2 + AUTH_VALUE_LEN;

/// Offsets inside the auth option's value.
pub mod field {
    /// Key id.
    pub const KEY_ID: usize = 0;
    /// Timestamp (u32).
    pub const TIMESTAMP: core::ops::Range<usize> = 1..5;
    /// Tag (u64).
    pub const TAG: core::ops::Range<usize> = 5..13;
}

/// The option bytes are not a well-formed TLV sequence, or an auth option has the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedOptions;

/// The mirror authentication option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthOption {
    /// Which key computed the tag.
    pub key_id: u8,
    /// When the sender made it (seconds since the UNIX epoch, wrapping in 2106).
    pub timestamp: u32,
    /// [`AuthKey::tag`] over key id, timestamp, header flags, destination and carried datagram.
    pub tag: u64,
}

impl AuthOption {
    /// Find the auth option among a header's options (the first one, if several).
    pub fn find(options: &[u8]) -> Result<Option<AuthOption>, MalformedOptions> {
        let mut found = None;
        let mut rest = options;
        while !rest.is_empty() {
            let [kind, len, tail @ ..] = rest else {
                return Err(MalformedOptions);
            };
            let value = tail.get(..usize::from(*len)).ok_or(MalformedOptions)?;
            if *kind == OPTION_MIRROR_AUTH && found.is_none() {
                found = Some(Self::from_value(value)?);
            }
            rest = &tail[value.len()..];
        }
        Ok(found)
    }

    fn from_value(value: &[u8]) -> Result<AuthOption, MalformedOptions> {
        if value.len() != AUTH_VALUE_LEN {
            return Err(MalformedOptions);
        }
        let mut timestamp = [0u8; 4];
        timestamp.copy_from_slice(&value[field::TIMESTAMP]);
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&value[field::TAG]);
        Ok(AuthOption {
            key_id: value[field::KEY_ID],
            timestamp: u32::from_be_bytes(timestamp),
            tag: u64::from_be_bytes(tag),
        })
    }

    /// The option a holder of `key` attaches to `inner` sent towards `destination` at
    /// `timestamp`, in a header with `flags`.
    pub fn sign(
        key: &AuthKey,
        timestamp: u32,
        flags: u8,
        destination: std::net::SocketAddr,
        inner: &[u8],
    ) -> Self {
        AuthOption {
            key_id: key.id,
            timestamp,
            tag: key.tag(timestamp, flags, destination, inner),
        }
    }

    /// The option's bytes (type, length, value).
    pub fn to_bytes(&self) -> [u8; AUTH_OPTION_LEN] {
        let mut bytes = [0u8; AUTH_OPTION_LEN];
        bytes[0] = OPTION_MIRROR_AUTH;
        bytes[1] = AUTH_VALUE_LEN as u8;
        let value = &mut bytes[2..];
        value[field::KEY_ID] = self.key_id;
        value[field::TIMESTAMP].copy_from_slice(&self.timestamp.to_be_bytes());
        value[field::TAG].copy_from_slice(&self.tag.to_be_bytes());
        bytes
    }
}

/// A padding option of `total` bytes in all (at least 2), or `None` if `total` is 1 or more
/// than a TLV holds.
pub fn padding(total: usize) -> Option<Vec<u8>> {
    let value_len = u8::try_from(total.checked_sub(2)?).ok()?;
    let mut bytes = vec![0u8; total];
    bytes[0] = OPTION_PADDING;
    bytes[1] = value_len;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option() -> AuthOption {
        AuthOption {
            key_id: 3,
            timestamp: 0x0102_0304,
            tag: 0x1122_3344_5566_7788,
        }
    }

    #[test]
    fn auth_option_is_byte_exact_and_round_trips() {
        let bytes = option().to_bytes();
        assert_eq!(
            bytes,
            [0x4D, 13, 3, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        );
        assert_eq!(AuthOption::find(&bytes), Ok(Some(option())));
    }

    #[test]
    fn other_options_are_skipped() {
        let mut options = padding(5).expect("pad");
        options.extend_from_slice(&[0x99, 0]);
        options.extend_from_slice(&option().to_bytes());
        assert_eq!(AuthOption::find(&options), Ok(Some(option())));
        assert_eq!(AuthOption::find(&padding(12).expect("pad")), Ok(None));
        assert_eq!(AuthOption::find(&[]), Ok(None));
    }

    #[test]
    fn truncated_or_misshapen_options_are_malformed() {
        let bytes = option().to_bytes();
        for cut in 1..bytes.len() {
            assert_eq!(
                AuthOption::find(&bytes[..cut]),
                Err(MalformedOptions),
                "cut {cut}"
            );
        }
        let wrong_len = [OPTION_MIRROR_AUTH, 2, 0, 0];
        assert_eq!(AuthOption::find(&wrong_len), Err(MalformedOptions));
        assert_eq!(padding(1), None);
        assert_eq!(padding(258), None);
        assert_eq!(padding(257).map(|p| p.len()), Some(257));
    }
}
