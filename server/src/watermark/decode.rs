//! Decoding a source image (JPEG or PNG bytes) into RGB pixels, within size limits checked
//! before any pixel is allocated.

use std::io::Cursor;

use image::{ImageFormat, RgbImage};
use trickles::app::AppError;

/// Largest source image accepted, in pixels (width × height).
pub const MAX_SOURCE_PIXELS: u64 = 24_000_000;
/// Largest source width or height accepted.
pub const MAX_SOURCE_SIDE: u32 = 16_384;

/// Decode `source` (the bytes of a JPEG or PNG file) into RGB pixels; alpha is dropped.
pub fn decode(source: &[u8]) -> Result<RgbImage, AppError> {
    let unusable = |why: String| AppError::BadRequest(format!("source image {why}"));
    let reader = || {
        image::io::Reader::new(Cursor::new(source))
            .with_guessed_format()
            .map_err(|e| AppError::Internal(e.to_string()))
    };
    let mut decoder = reader()?;
    if !matches!(decoder.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
        return Err(unusable("is neither a JPEG nor a PNG file".into()));
    }
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| unusable(format!("cannot be read: {e}")))?;
    if width == 0
        || height == 0
        || width > MAX_SOURCE_SIDE
        || height > MAX_SOURCE_SIDE
        || u64::from(width) * u64::from(height) > MAX_SOURCE_PIXELS
    {
        return Err(unusable(format!(
            "is {width}x{height}: at most {MAX_SOURCE_PIXELS} pixels and {MAX_SOURCE_SIDE} per side"
        )));
    }
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_SOURCE_PIXELS * 8);
    decoder.limits(limits);
    Ok(decoder
        .decode()
        .map_err(|e| unusable(format!("cannot be decoded: {e}")))?
        .into_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_or_foreign_sources_are_refused_before_decoding() {
        // A PNG header claiming 20000×20000 pixels: refused from its dimensions alone.
        let mut header = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        header.extend_from_slice(&[0, 0, 0, 13]);
        header.extend_from_slice(b"IHDR");
        header.extend_from_slice(&20_000u32.to_be_bytes());
        header.extend_from_slice(&20_000u32.to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        header.extend_from_slice(&crc32(&header[12..]).to_be_bytes());
        assert!(matches!(decode(&header), Err(AppError::BadRequest(_))));
        assert!(matches!(
            decode(b"GIF89a...."),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(decode(b""), Err(AppError::BadRequest(_))));
    }

    #[test]
    fn png_source_is_decoded() {
        let pixels = RgbImage::from_pixel(5, 3, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        pixels
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .expect("encode");
        assert_eq!(decode(&png).expect("decode"), pixels);
    }

    /// CRC-32 (IEEE) of a PNG chunk's type and data.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
