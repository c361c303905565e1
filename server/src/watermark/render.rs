//! Rendering one watermarked image: decode the source, draw the overlay, encode a JPEG.
//!
//! The output is a pure function of the source bytes, the [`RenderParams`], the font file and
//! this code. Sources are decoded by the `image` crate (JPEG and PNG only, no threads). The
//! output is encoded by `jpeg-encoder` built without its `simd` feature: integer colour
//! conversion and DCT only, no CPU-dependent code path, single-threaded, baseline JPEG at the
//! fixed quality [`JPEG_QUALITY`] with 4:2:0 chroma subsampling, standard Huffman tables, and
//! no timestamp or other metadata (a JFIF header only). [`RENDER_VERSION`] names this
//! algorithm; change it whenever a change here (or an upgrade of `image`, `ab_glyph` or
//! `jpeg-encoder`) changes the bytes, so replicas running different code refuse each other's
//! continuations instead of mixing bytes.

use std::net::IpAddr;

use ab_glyph::FontArc;
use image::RgbImage;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use trickles::app::AppError;

use super::ucont::DIGEST_LEN;
use super::{decode, overlay};

/// Version of the rendering algorithm, carried in every continuation.
pub const RENDER_VERSION: u8 = 2;
/// JPEG quality of every rendered image.
pub const JPEG_QUALITY: u8 = 90;

/// What one rendering depends on besides the source file and the font.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RenderParams {
    /// Path of the source image under the watermark root.
    pub image_path: String,
    /// The request's caption.
    pub caption: String,
    /// The client's address as seen at `HELLO` (drawn as "for <address>").
    pub client: IpAddr,
}

impl RenderParams {
    /// The lines of text drawn on the image.
    pub fn lines(&self) -> [String; 2] {
        [self.caption.clone(), format!("for {}", self.client)]
    }
}

/// A rendered image: the JPEG bytes and their digest.
#[derive(Debug, PartialEq, Eq)]
pub struct RenderedImage {
    /// The JPEG file.
    pub jpeg: bytes::Bytes,
    /// First [`DIGEST_LEN`] bytes of BLAKE3 over `jpeg`.
    pub digest: [u8; DIGEST_LEN],
    /// Width and height in pixels.
    pub dimensions: (u32, u32),
}

/// The digest the continuation carries for `jpeg`.
pub fn digest(jpeg: &[u8]) -> [u8; DIGEST_LEN] {
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&blake3::hash(jpeg).as_bytes()[..DIGEST_LEN]);
    out
}

/// Render `params` over the source image file `source` (JPEG or PNG bytes).
pub fn render(
    source: &[u8],
    params: &RenderParams,
    font: &FontArc,
) -> Result<RenderedImage, AppError> {
    render_pixels(decode::decode(source)?, params, font)
}

/// Render `params` over decoded source pixels (which are drawn on, hence taken by value).
pub fn render_pixels(
    mut pixels: RgbImage,
    params: &RenderParams,
    font: &FontArc,
) -> Result<RenderedImage, AppError> {
    let (width, height) = pixels.dimensions();
    let lines = params.lines();
    overlay::draw(&mut pixels, font, &[&lines[0], &lines[1]]);
    let (Ok(encoded_width), Ok(encoded_height)) = (u16::try_from(width), u16::try_from(height))
    else {
        return Err(AppError::BadRequest(format!(
            "source image is {width}x{height}: too large to encode"
        )));
    };
    let mut jpeg = Vec::with_capacity(pixels.as_raw().len() / 4);
    let mut encoder = Encoder::new(&mut jpeg, JPEG_QUALITY);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder
        .encode(
            pixels.as_raw(),
            encoded_width,
            encoded_height,
            ColorType::Rgb,
        )
        .map_err(|e| AppError::Internal(format!("JPEG encoding failed: {e}")))?;
    Ok(RenderedImage {
        digest: digest(&jpeg),
        jpeg: jpeg.into(),
        dimensions: (width, height),
    })
}
