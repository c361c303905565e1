//! The user continuation of the static web application: which file a connection streams and
//! how long that file was when the connection opened.
//!
//! Layout (big-endian): `version (1) = 1 | length (8) | path (UTF-8, the rest)`. The core MACs
//! it with the transport state, so a server never sees a forged one; the length lets a replica
//! whose copy of the file differs refuse with [`AppError::Changed`] instead of sending wrong
//! bytes.

use trickles::app::AppError;

/// Format version of the encoding.
pub const VERSION: u8 = 1;
/// Bytes before the path.
pub const HEADER_LEN: usize = 1 + 8;

/// Encode the continuation of a stream over `path`, `length` bytes long.
pub fn encode(path: &str, length: u64) -> Vec<u8> {
    let mut ucont = Vec::with_capacity(HEADER_LEN + path.len());
    ucont.push(VERSION);
    ucont.extend_from_slice(&length.to_be_bytes());
    ucont.extend_from_slice(path.as_bytes());
    ucont
}

/// Decode a continuation into `(path, length)`.
pub fn decode(ucont: &[u8]) -> Result<(&str, u64), AppError> {
    let bad = |why: &str| AppError::BadRequest(format!("user continuation {why}"));
    let (&version, rest) = ucont.split_first().ok_or_else(|| bad("is empty"))?;
    if version != VERSION {
        return Err(bad("has an unknown version"));
    }
    let (length, path) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| bad("is truncated"))?;
    let path = std::str::from_utf8(path).map_err(|_| bad("path is not UTF-8"))?;
    Ok((path, u64::from_be_bytes(*length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_inverts_encode() {
        let ucont = encode("/dir/file.bin", 1 << 40);
        assert_eq!(decode(&ucont), Ok(("/dir/file.bin", 1 << 40)));
    }

    #[test]
    fn truncated_or_foreign_ucont_is_rejected() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[VERSION, 0, 0]).is_err());
        let mut other = encode("/a", 1);
        other[0] = 9;
        assert!(decode(&other).is_err());
    }
}
