//! The request format of the watermarking application: which source image, which caption.
//!
//! A request is `/wm/<image path>[?text=<caption>]`, the same text over Trickles (the `HELLO`
//! payload) and over HTTP (the request target). The image path follows the static
//! application's path rules ([`crate::static_files::request_path`]) and is resolved under the
//! watermark root; only `.jpg`, `.jpeg` and `.png` files are sources. The caption is
//! percent-decoded (`+` is a space), must be UTF-8 without control characters and at most
//! [`MAX_CAPTION_LEN`] bytes; without `text=` the caption is [`DEFAULT_CAPTION`]. Other query
//! parameters are refused, so two spellings of one request cannot differ silently.

use trickles::app::AppError;

use crate::static_files::request_path;

/// Prefix of every watermark request; the rest (up to `?`) is the image path.
pub const PREFIX: &str = "/wm";
/// Longest caption accepted, in bytes of UTF-8.
pub const MAX_CAPTION_LEN: usize = 120;
/// Caption drawn when the request names none.
pub const DEFAULT_CAPTION: &str = "trickles";
/// Longest image path accepted, in bytes.
pub const MAX_IMAGE_PATH_LEN: usize = 256;

/// A parsed, validated watermark request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatermarkRequest {
    /// Path of the source image under the watermark root (`/photo.jpg`).
    pub image_path: String,
    /// Text drawn on the image.
    pub caption: String,
}

/// True when `request` is meant for the watermarking application (starts with `/wm/`).
pub fn is_watermark_request(request: &[u8]) -> bool {
    request
        .strip_prefix(PREFIX.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b'/'))
}

/// Parse a request (`/wm/photo.jpg?text=Hello%20world`).
pub fn parse(request: &[u8]) -> Result<WatermarkRequest, AppError> {
    let text = std::str::from_utf8(request)
        .map_err(|_| AppError::BadRequest("request is not UTF-8".into()))?;
    let rest = text
        .strip_prefix(PREFIX)
        .filter(|rest| rest.starts_with('/'))
        .ok_or_else(|| AppError::BadRequest(format!("request does not start with {PREFIX}/")))?;
    let (raw_path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let path_bytes = percent_decode(raw_path, false)
        .ok_or_else(|| AppError::BadRequest("bad percent-encoding in the path".into()))?;
    let path = std::str::from_utf8(&path_bytes)
        .map_err(|_| AppError::BadRequest("path is not UTF-8".into()))?;
    let image_path = validate_image_path(path)?.to_owned();
    let mut caption = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "text" {
            return Err(AppError::BadRequest(format!(
                "unknown query parameter {name:?} (only `text` is understood)"
            )));
        }
        if caption.is_some() {
            return Err(AppError::BadRequest("`text` given twice".into()));
        }
        let bytes = percent_decode(value, true)
            .ok_or_else(|| AppError::BadRequest("bad percent-encoding in `text`".into()))?;
        let value = String::from_utf8(bytes)
            .map_err(|_| AppError::BadRequest("`text` is not UTF-8".into()))?;
        caption = Some(value);
    }
    let caption = caption.unwrap_or_else(|| DEFAULT_CAPTION.to_owned());
    validate_caption(&caption)?;
    Ok(WatermarkRequest {
        image_path,
        caption,
    })
}

/// Check an image path: the static path rules, a length limit and a source image extension.
pub fn validate_image_path(path: &str) -> Result<&str, AppError> {
    if path.len() > MAX_IMAGE_PATH_LEN {
        return Err(AppError::BadRequest(format!(
            "image path longer than {MAX_IMAGE_PATH_LEN} bytes"
        )));
    }
    let path = request_path::validate(path.as_bytes())?;
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(extension.as_str(), "jpg" | "jpeg" | "png") {
        return Err(AppError::BadRequest(
            "source images are .jpg, .jpeg or .png files".into(),
        ));
    }
    Ok(path)
}

/// Check a caption: at most [`MAX_CAPTION_LEN`] bytes, no control characters.
pub fn validate_caption(caption: &str) -> Result<(), AppError> {
    if caption.len() > MAX_CAPTION_LEN {
        return Err(AppError::BadRequest(format!(
            "caption longer than {MAX_CAPTION_LEN} bytes"
        )));
    }
    if caption.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "caption contains a control character".into(),
        ));
    }
    Ok(())
}

/// Decode `%XX` escapes (and `+` as a space when `plus_is_space`); `None` if one is malformed.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                decoded.push(b' ');
                i += 1;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_caption_are_decoded() {
        let request = parse(b"/wm/dir/photo.jpg?text=Hello+w%C3%B6rld%21").expect("parse");
        assert_eq!(request.image_path, "/dir/photo.jpg");
        assert_eq!(request.caption, "Hello w\u{f6}rld!");
    }

    #[test]
    fn missing_caption_is_the_default() {
        let request = parse(b"/wm/a.png").expect("parse");
        assert_eq!(request.caption, DEFAULT_CAPTION);
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            &b"/photo.jpg"[..],
            b"/wm",
            b"/wmx/photo.jpg",
            b"/wm/../secret.jpg",
            b"/wm/%2e%2e/secret.jpg",
            b"/wm/photo.gif",
            b"/wm/photo.jpg?text=a&text=b",
            b"/wm/photo.jpg?size=3",
            b"/wm/photo.jpg?text=%0a",
            b"/wm/photo.jpg?text=%zz",
            b"/wm/photo.jpg?text=%ff",
        ] {
            assert!(
                matches!(parse(bad), Err(AppError::BadRequest(_))),
                "{} was accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn overlong_caption_is_refused() {
        let request = format!("/wm/a.jpg?text={}", "x".repeat(MAX_CAPTION_LEN + 1));
        assert!(parse(request.as_bytes()).is_err());
        let request = format!("/wm/a.jpg?text={}", "x".repeat(MAX_CAPTION_LEN));
        assert!(parse(request.as_bytes()).is_ok());
    }

    #[test]
    fn only_the_wm_prefix_is_routed_here() {
        assert!(is_watermark_request(b"/wm/a.jpg"));
        assert!(!is_watermark_request(b"/wm"));
        assert!(!is_watermark_request(b"/wmx/a.jpg"));
        assert!(!is_watermark_request(b"/a.jpg"));
    }
}
