//! Drawing the per-client text on an image: a darkened band along the bottom edge carrying
//! one line of text per entry, in white, anti-aliased with the font's coverage.
//!
//! The text size follows the image height (one line is about 1/16 of it) and shrinks so the
//! longest line fits the width. All arithmetic is either integer or plain IEEE `f32` with no
//! fused or platform-dependent operations, so the same binary draws the same pixels on every
//! replica.

use ab_glyph::{point, Font, FontArc, GlyphId, PxScale, ScaleFont};
use image::RgbImage;

/// Smallest text size drawn, in pixels.
pub const MIN_TEXT_PX: f32 = 10.0;
/// Largest text size drawn, in pixels.
pub const MAX_TEXT_PX: f32 = 400.0;

/// Draw `lines` in a band along the bottom of `image`.
pub fn draw(image: &mut RgbImage, font: &FontArc, lines: &[&str]) {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 || lines.is_empty() {
        return;
    }
    let margin = (width as f32 / 40.0).max(2.0);
    let widest_at_one_px = lines
        .iter()
        .map(|line| line_width(font, PxScale::from(1.0), line))
        .fold(0.0f32, f32::max);
    let mut size = height as f32 / 16.0;
    if widest_at_one_px > 0.0 {
        size = size.min((width as f32 - 2.0 * margin) / widest_at_one_px);
    }
    let size = size.clamp(MIN_TEXT_PX, MAX_TEXT_PX);
    let scale = PxScale::from(size);
    let scaled = font.as_scaled(scale);
    let line_height = (size * 1.25).ceil();
    let padding = (size * 0.4).ceil();
    let band = (line_height * lines.len() as f32 + 2.0 * padding).min(height as f32) as u32;
    darken_rows(image, height - band);
    let top = (height - band) as f32 + padding;
    for (index, line) in lines.iter().enumerate() {
        let baseline = top + index as f32 * line_height + scaled.ascent();
        draw_line(image, font, scale, margin, baseline, line);
    }
}

/// Width of `text` laid out at `scale`, in pixels.
fn line_width(font: &FontArc, scale: PxScale, text: &str) -> f32 {
    let scaled = font.as_scaled(scale);
    let mut x = 0.0;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(previous) = previous {
            x += scaled.kern(previous, id);
        }
        x += scaled.h_advance(id);
        previous = Some(id);
    }
    x
}

/// Multiply every pixel from row `first_row` down by 2/5.
fn darken_rows(image: &mut RgbImage, first_row: u32) {
    let width = image.width() as usize;
    let start = first_row as usize * width * 3;
    for value in &mut image.as_mut()[start..] {
        *value = ((u16::from(*value) * 2) / 5) as u8;
    }
}

/// Draw one line of white text with its left end at `x` and its baseline at `baseline`.
fn draw_line(
    image: &mut RgbImage,
    font: &FontArc,
    scale: PxScale,
    x: f32,
    baseline: f32,
    text: &str,
) {
    let scaled = font.as_scaled(scale);
    let (width, height) = image.dimensions();
    let mut caret = x;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(previous) = previous {
            caret += scaled.kern(previous, id);
        }
        let glyph = id.with_scale_and_position(scale, point(caret, baseline));
        caret += scaled.h_advance(id);
        previous = Some(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue; // a space, or a glyph without an outline
        };
        let bounds = outlined.px_bounds();
        let (left, top) = (bounds.min.x as i64, bounds.min.y as i64);
        outlined.draw(|gx, gy, coverage| {
            let (px, py) = (left + i64::from(gx), top + i64::from(gy));
            if px < 0 || py < 0 || px >= i64::from(width) || py >= i64::from(height) {
                return;
            }
            let alpha = u32::from((coverage.clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
            let pixel = image.get_pixel_mut(px as u32, py as u32);
            for channel in pixel.0.iter_mut() {
                let blended = (u32::from(*channel) * (255 - alpha) + 255 * alpha + 127) / 255;
                *channel = blended as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> FontArc {
        super::super::font::load(std::path::Path::new(super::super::font::DEFAULT_FONT_PATH))
            .expect("the default font (scripts/setup installs fonts-dejavu-core)")
    }

    #[test]
    fn text_whitens_pixels_inside_the_darkened_band_only() {
        let mut image = RgbImage::from_pixel(320, 200, image::Rgb([100, 100, 100]));
        draw(&mut image, &font(), &["Hello", "for 198.18.0.2"]);
        let top_half_unchanged =
            (0..100).all(|y| (0..320).all(|x| image.get_pixel(x, y).0 == [100; 3]));
        assert!(top_half_unchanged, "the overlay reached the top half");
        let bottom = image.get_pixel(319, 199).0;
        assert_eq!(bottom, [40; 3], "the band is not darkened");
        let white = image.pixels().filter(|p| p.0 == [255; 3]).count();
        assert!(white > 100, "only {white} white pixels: no text drawn");
    }

    #[test]
    fn long_line_is_shrunk_to_fit_the_width() {
        let font = font();
        let long = "W".repeat(30);
        let mut image = RgbImage::from_pixel(400, 400, image::Rgb([0, 0, 0]));
        draw(&mut image, &font, &[&long]);
        // Nothing drawn in the right margin: the line fits.
        let right_margin_dark = (0..400).all(|y| image.get_pixel(399, y).0 == [0; 3]);
        assert!(right_margin_dark);
    }

    #[test]
    fn tiny_image_does_not_panic() {
        let mut image = RgbImage::from_pixel(3, 2, image::Rgb([9, 9, 9]));
        draw(&mut image, &font(), &["caption"]);
    }
}
