//! A generated test picture (no downloaded images): a landscape of sky, sun, hills and grain,
//! the same pixels for the same size and seed on every machine. Tests, benchmarks and the
//! example in `docs/examples/` use it as the source image.
//!
//! The grain is what makes JPEG files of realistic size: a photograph's sensor noise and
//! texture cost about as many bits.

use std::path::Path;

use image::{Rgb, RgbImage};

/// Quality sample sources are encoded at.
pub const SOURCE_QUALITY: u8 = 92;

/// The picture at `width` × `height` pixels; `grain` (0..=64) is the noise amplitude.
pub fn generate(width: u32, height: u32, grain: u8, seed: u64) -> RgbImage {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    };
    let (w, h) = (i64::from(width.max(1)), i64::from(height.max(1)));
    let (sun_x, sun_y, sun_r) = (w * 7 / 10, h * 3 / 10, (h / 9).max(1));
    let amplitude = i64::from(grain.min(64));
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        // Hills: a horizon made of two triangle waves.
        let wave = |period: i64, height: i64| {
            let p = (x * period * 200 / w) % 200;
            (if p < 100 { p } else { 200 - p }) * height / 100
        };
        let horizon = h * 55 / 100 + wave(7, h / 12) - wave(3, h / 10);
        let (sx, sy) = (x - sun_x, y - sun_y);
        let mut colour = if sx * sx + sy * sy < sun_r * sun_r {
            [255, 236, 160]
        } else if y < horizon {
            let t = y * 255 / h.max(1);
            [40 + t / 3, 90 + t / 3, 200 - t / 5]
        } else {
            let depth = (y - horizon) * 255 / (h - horizon).max(1);
            let stripe = ((x / 9 + y / 5) % 7) * 6;
            [30 + depth / 4 + stripe, 110 + depth / 5, 40 + stripe / 2]
        };
        if amplitude > 0 {
            for c in &mut colour {
                let noise = i64::from(next() % (2 * amplitude as u32 + 1)) - amplitude;
                *c = (*c + noise).clamp(0, 255);
            }
        }
        Rgb([colour[0] as u8, colour[1] as u8, colour[2] as u8])
    })
}

/// Write the picture as a JPEG file (see [`jpeg`]).
pub fn write_jpeg(
    path: &Path,
    width: u32,
    height: u32,
    grain: u8,
    seed: u64,
) -> std::io::Result<()> {
    std::fs::write(path, jpeg(width, height, grain, seed)?)
}

/// The picture as a JPEG file at [`SOURCE_QUALITY`] (4:4:4, as a camera's best setting).
pub fn jpeg(width: u32, height: u32, grain: u8, seed: u64) -> std::io::Result<Vec<u8>> {
    let (Ok(encoded_width), Ok(encoded_height)) = (u16::try_from(width), u16::try_from(height))
    else {
        return Err(std::io::Error::other(
            "sample images are at most 65535 pixels a side",
        ));
    };
    let pixels = generate(width, height, grain, seed);
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, SOURCE_QUALITY)
        .encode(
            pixels.as_raw(),
            encoded_width,
            encoded_height,
            jpeg_encoder::ColorType::Rgb,
        )
        .map_err(std::io::Error::other)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_pixels_other_seed_other_grain() {
        assert_eq!(generate(64, 48, 16, 7), generate(64, 48, 16, 7));
        assert_ne!(generate(64, 48, 16, 7), generate(64, 48, 16, 8));
        assert_eq!(generate(64, 48, 0, 7), generate(64, 48, 0, 8));
    }
}
