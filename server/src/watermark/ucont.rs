//! The user continuation of the watermarking application: everything a replica needs to render
//! the same image again, plus what it must match.
//!
//! Layout (big-endian):
//!
//! ```text
//! tag 'W' (1) | render version (1) | output length (8) | output digest (16)
//! | client IP: family 4 or 6 (1), address (4 or 16) | caption length (1) | caption (UTF-8)
//! | image path (UTF-8, the rest)
//! ```
//!
//! The tag byte (`0x57`) differs from the static application's version byte, so one server
//! tells the two continuations apart ([`super::router`]). The *render version* names the
//! rendering algorithm; the *digest* (first 16 bytes of BLAKE3 over the rendered JPEG) and the
//! length pin the exact bytes. A replica that renders something else (another source file,
//! font or encoder) refuses with [`AppError::Changed`] instead of sending different bytes.
//! The core MACs the continuation, but [`decode`] still checks every field: any replica may
//! receive any continuation.

use std::net::IpAddr;

use trickles::app::{AppError, MAX_UCONT_LEN};

use super::render::{RenderParams, RENDER_VERSION};
use super::request;

/// First byte of every watermark continuation.
pub const TAG: u8 = b'W';
/// Length of the output digest.
pub const DIGEST_LEN: usize = 16;

/// A decoded continuation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatermarkUcont {
    /// What to render.
    pub params: RenderParams,
    /// Length of the rendered JPEG.
    pub length: u64,
    /// Digest of the rendered JPEG.
    pub digest: [u8; DIGEST_LEN],
}

/// Encode a continuation; an error when it would not fit in [`MAX_UCONT_LEN`] bytes.
pub fn encode(ucont: &WatermarkUcont) -> Result<Vec<u8>, AppError> {
    let params = &ucont.params;
    let caption_len = u8::try_from(params.caption.len())
        .map_err(|_| AppError::BadRequest("caption too long".into()))?;
    let mut out = Vec::with_capacity(64 + params.caption.len() + params.image_path.len());
    out.push(TAG);
    out.push(RENDER_VERSION);
    out.extend_from_slice(&ucont.length.to_be_bytes());
    out.extend_from_slice(&ucont.digest);
    match params.client {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.push(caption_len);
    out.extend_from_slice(params.caption.as_bytes());
    out.extend_from_slice(params.image_path.as_bytes());
    if out.len() > MAX_UCONT_LEN {
        return Err(AppError::BadRequest(
            "request too long for a continuation".into(),
        ));
    }
    Ok(out)
}

/// Decode and validate a continuation. A foreign render version is [`AppError::Changed`] (the
/// replica runs another renderer); anything malformed is [`AppError::BadRequest`].
pub fn decode(bytes: &[u8]) -> Result<WatermarkUcont, AppError> {
    let bad = |why: &str| AppError::BadRequest(format!("watermark continuation {why}"));
    let mut reader = Reader(bytes);
    if reader.take(1).ok_or_else(|| bad("is empty"))? != [TAG] {
        return Err(bad("has the wrong tag"));
    }
    let version = reader.take(1).ok_or_else(|| bad("is truncated"))?[0];
    if version != RENDER_VERSION {
        return Err(AppError::Changed);
    }
    let length = reader
        .array::<8>()
        .map(u64::from_be_bytes)
        .ok_or_else(|| bad("is truncated"))?;
    let digest = reader
        .array::<DIGEST_LEN>()
        .ok_or_else(|| bad("is truncated"))?;
    let client = match reader.take(1).ok_or_else(|| bad("is truncated"))?[0] {
        4 => IpAddr::from(reader.array::<4>().ok_or_else(|| bad("is truncated"))?),
        6 => IpAddr::from(reader.array::<16>().ok_or_else(|| bad("is truncated"))?),
        _ => return Err(bad("has an unknown address family")),
    };
    let caption_len = usize::from(reader.take(1).ok_or_else(|| bad("is truncated"))?[0]);
    let caption = reader
        .take(caption_len)
        .ok_or_else(|| bad("is truncated"))?;
    let caption = std::str::from_utf8(caption).map_err(|_| bad("caption is not UTF-8"))?;
    request::validate_caption(caption)?;
    let image_path = std::str::from_utf8(reader.0).map_err(|_| bad("image path is not UTF-8"))?;
    request::validate_image_path(image_path)?;
    Ok(WatermarkUcont {
        params: RenderParams {
            image_path: image_path.to_owned(),
            caption: caption.to_owned(),
            client,
        },
        length,
        digest,
    })
}

/// A cursor over the continuation bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(client: &str) -> WatermarkUcont {
        WatermarkUcont {
            params: RenderParams {
                image_path: "/dir/photo.jpg".into(),
                caption: "Hello, w\u{f6}rld".into(),
                client: client.parse().expect("ip"),
            },
            length: 3_141_592,
            digest: [7; DIGEST_LEN],
        }
    }

    #[test]
    fn decode_inverts_encode_for_both_families() {
        for client in ["198.18.0.2", "2001:db8::42"] {
            let ucont = sample(client);
            assert_eq!(decode(&encode(&ucont).expect("encode")), Ok(ucont));
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encode(&sample("198.18.0.2")).expect("encode");
        // Cutting inside the image path still leaves a valid (shorter) path; every cut before
        // it, and cuts leaving a path without a source extension, must be refused.
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "truncated to {cut} bytes was accepted"
            );
        }
    }

    #[test]
    fn foreign_render_version_means_changed() {
        let mut bytes = encode(&sample("198.18.0.2")).expect("encode");
        bytes[1] = RENDER_VERSION.wrapping_add(1);
        assert_eq!(decode(&bytes), Err(AppError::Changed));
    }

    #[test]
    fn malformed_fields_are_bad_requests() {
        let good = encode(&sample("198.18.0.2")).expect("encode");
        let family_at = 1 + 1 + 8 + DIGEST_LEN;
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 1;
        let mut wrong_family = good.clone();
        wrong_family[family_at] = 5;
        let mut control_caption = good.clone();
        control_caption[family_at + 1 + 4 + 1] = b'\n';
        let mut traversal = good[..good.len() - "/dir/photo.jpg".len()].to_vec();
        traversal.extend_from_slice(b"/../photo.jpg");
        for bytes in [wrong_tag, wrong_family, control_caption, traversal] {
            assert!(matches!(decode(&bytes), Err(AppError::BadRequest(_))));
        }
    }

    #[test]
    fn oversized_continuation_is_refused_at_encode() {
        let mut ucont = sample("198.18.0.2");
        ucont.params.image_path = format!("/{}.jpg", "d".repeat(MAX_UCONT_LEN));
        assert!(encode(&ucont).is_err());
    }
}
