//! The user continuation of the static web application: which file a connection streams and
//! the identity that file had when the connection opened ([`FileIdentity`]: length and
//! modification time).
//!
//! Layout (big-endian): `version (1) = 2 | length (8) | mtime seconds (8, signed) | mtime
//! nanoseconds (4) | path (UTF-8, the rest)`. Version 1 (`version | length | path`, written by
//! older servers) is still read, with the length alone to check. The core MACs the ucont with
//! the transport state, so a server never sees a forged one; the identity lets a replica whose
//! file differs, or a file changed in place since, refuse with [`AppError::Changed`] instead of
//! sending other bytes.

use trickles::app::AppError;

use super::identity::FileIdentity;

/// Format version written.
pub const VERSION: u8 = 2;
/// The older format: length only.
pub const VERSION_LENGTH_ONLY: u8 = 1;
/// Bytes before the path.
pub const HEADER_LEN: usize = 1 + 8 + 8 + 4;

/// What a ucont says about its file: the full identity, or (version 1) the length alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealed {
    /// Length and modification time.
    Identity(FileIdentity),
    /// Length only.
    Length(u64),
}

impl Sealed {
    /// The sealed length.
    pub fn length(&self) -> u64 {
        match self {
            Sealed::Identity(identity) => identity.length,
            Sealed::Length(length) => *length,
        }
    }

    /// True if a file with identity `now` is still the file sealed.
    pub fn matches(&self, now: &FileIdentity) -> bool {
        match self {
            Sealed::Identity(identity) => identity == now,
            Sealed::Length(length) => *length == now.length,
        }
    }
}

/// Encode the continuation of a stream over `path`, a file of identity `identity`.
pub fn encode(path: &str, identity: &FileIdentity) -> Vec<u8> {
    let mut ucont = Vec::with_capacity(HEADER_LEN + path.len());
    ucont.push(VERSION);
    ucont.extend_from_slice(&identity.length.to_be_bytes());
    ucont.extend_from_slice(&identity.modified_secs.to_be_bytes());
    ucont.extend_from_slice(&identity.modified_nanos.to_be_bytes());
    ucont.extend_from_slice(path.as_bytes());
    ucont
}

/// Decode a continuation into its path and what it seals about the file.
pub fn decode(ucont: &[u8]) -> Result<(&str, Sealed), AppError> {
    let bad = |why: &str| AppError::BadRequest(format!("user continuation {why}"));
    let (&version, rest) = ucont.split_first().ok_or_else(|| bad("is empty"))?;
    let (length, rest) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| bad("is truncated"))?;
    let length = u64::from_be_bytes(*length);
    let (sealed, path) = match version {
        VERSION_LENGTH_ONLY => (Sealed::Length(length), rest),
        VERSION => {
            let (secs, rest) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| bad("is truncated"))?;
            let (nanos, path) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("is truncated"))?;
            let identity = FileIdentity {
                length,
                modified_secs: i64::from_be_bytes(*secs),
                modified_nanos: u32::from_be_bytes(*nanos),
            };
            (Sealed::Identity(identity), path)
        }
        _ => return Err(bad("has an unknown version")),
    };
    let path = std::str::from_utf8(path).map_err(|_| bad("path is not UTF-8"))?;
    Ok((path, sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> FileIdentity {
        FileIdentity {
            length: 1 << 40,
            modified_secs: -5,
            modified_nanos: 999_999_999,
        }
    }

    #[test]
    fn decode_inverts_encode() {
        let ucont = encode("/dir/file.bin", &identity());
        assert_eq!(
            decode(&ucont),
            Ok(("/dir/file.bin", Sealed::Identity(identity())))
        );
    }

    #[test]
    fn version_one_ucont_still_decodes_to_its_length() {
        let mut old = vec![VERSION_LENGTH_ONLY];
        old.extend_from_slice(&7u64.to_be_bytes());
        old.extend_from_slice(b"/a");
        assert_eq!(decode(&old), Ok(("/a", Sealed::Length(7))));
    }

    #[test]
    fn a_new_modification_time_does_not_match() {
        let sealed = Sealed::Identity(identity());
        let touched = FileIdentity {
            modified_nanos: 0,
            ..identity()
        };
        assert!(sealed.matches(&identity()));
        assert!(!sealed.matches(&touched));
        assert!(Sealed::Length(1 << 40).matches(&touched));
    }

    #[test]
    fn truncated_or_foreign_ucont_is_rejected() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[VERSION, 0, 0]).is_err());
        assert!(decode(&encode("/a", &identity())[..12]).is_err());
        let mut other = encode("/a", &identity());
        other[0] = 9;
        assert!(decode(&other).is_err());
    }
}
