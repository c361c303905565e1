//! Render time of the watermarking application per megapixel: whole renderings (decode the
//! source JPEG, draw the overlay, encode the output) at three sizes, and each stage alone at
//! 2 MP (plus the `image` crate's encoder, for reference) and a rendering from kept decoded
//! pixels (what a second client of the same photo costs), with the throughput in pixels so
//! criterion prints megapixels per second.
//!
//! Run: `cargo bench -p trickles-server --bench watermark_render -- --warm-up-time 1
//! --measurement-time 3`. Results: `docs/WATERMARK.md`.

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use image::codecs::jpeg::JpegEncoder;
use image::ColorType;
use trickles_server::watermark::{font, overlay, render, sample_image, RenderParams};

/// Noise amplitude of the sources: photo-like JPEG sizes (~1.4 bytes per pixel at q92).
const GRAIN: u8 = 48;

fn source_jpeg(width: u32, height: u32) -> Vec<u8> {
    sample_image::jpeg(width, height, GRAIN, 1).expect("encode the source")
}

fn params() -> RenderParams {
    RenderParams {
        image_path: "/photo.jpg".into(),
        caption: "Trickles: rendered for you".into(),
        client: "198.18.0.2".parse().expect("ip"),
    }
}

fn whole_rendering(c: &mut Criterion) {
    let font = font::load(Path::new(font::DEFAULT_FONT_PATH)).expect("font");
    let mut group = c.benchmark_group("watermark_render");
    group.sample_size(10);
    for (width, height) in [(1024u32, 512u32), (2048, 1024), (4096, 2048)] {
        let source = source_jpeg(width, height);
        let pixels = u64::from(width) * u64::from(height);
        group.throughput(Throughput::Elements(pixels));
        let output = render::render(&source, &params(), &font).expect("render");
        eprintln!(
            "{width}x{height}: source {} bytes, output {} bytes",
            source.len(),
            output.jpeg.len()
        );
        group.bench_function(format!("render_{:.1}MP", pixels as f64 / 1e6), |b| {
            b.iter(|| render::render(black_box(&source), &params(), &font).expect("render"))
        });
    }
    group.finish();
}

fn stages(c: &mut Criterion) {
    let font = font::load(Path::new(font::DEFAULT_FONT_PATH)).expect("font");
    let (width, height) = (2048u32, 1024u32);
    let source = source_jpeg(width, height);
    let decoded = image::load_from_memory(&source)
        .expect("decode")
        .into_rgb8();
    let mut group = c.benchmark_group("watermark_stage_2.1MP");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(width) * u64::from(height)));
    group.bench_function("decode", |b| {
        b.iter(|| {
            image::io::Reader::with_format(
                Cursor::new(black_box(&source)),
                image::ImageFormat::Jpeg,
            )
            .decode()
            .expect("decode")
        })
    });
    let shared = std::sync::Arc::new(decoded.clone());
    group.bench_function("render_from_kept_source", |b| {
        b.iter(|| {
            let pixels = image::RgbImage::clone(&shared);
            render::render_pixels(pixels, &params(), &font).expect("render")
        })
    });
    let lines = params().lines();
    group.bench_function("overlay", |b| {
        b.iter(|| {
            let mut pixels = decoded.clone();
            overlay::draw(&mut pixels, &font, &[&lines[0], &lines[1]]);
            pixels
        })
    });
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, render::JPEG_QUALITY);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            encoder
                .encode(
                    decoded.as_raw(),
                    width as u16,
                    height as u16,
                    jpeg_encoder::ColorType::Rgb,
                )
                .expect("encode");
            out
        })
    });
    // For reference: the `image` crate's encoder (4:4:4 only), used by render version 1.
    group.bench_function("encode_image_crate_444", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            JpegEncoder::new_with_quality(&mut out, render::JPEG_QUALITY)
                .encode(decoded.as_raw(), width, height, ColorType::Rgb8)
                .expect("encode");
            out
        })
    });
    group.finish();
}

criterion_group!(benches, whole_rendering, stages);
criterion_main!(benches);
