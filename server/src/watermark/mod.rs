//! The watermarking application: JPEG images with a text overlay made for each client (the
//! request's caption and the client's address, drawn in a real font), served over Trickles so
//! that any replica can produce any byte of any response, and over the HTTP/TCP baseline.
//!
//! - [`request`]: the request format, `/wm/<image path>?text=<caption>`;
//! - [`ucont`]: the user continuation (image path, caption, client address, render version,
//!   output length and digest);
//! - [`source`], [`decode`], [`font`], [`overlay`], [`render`]: reading and decoding the source,
//!   drawing the text and encoding a deterministic JPEG;
//! - [`cache`]: the bounded soft-state cache of renderings; [`decoded_sources`]: the bounded
//!   cache of decoded source pixels shared by the renderings of one photo for many clients;
//! - [`render_queue`], [`off_path`]: renderings on threads of their own, so the UDP workers
//!   never render (they answer nothing until the image is ready);
//! - [`router`]: the application the server runs, routing `/wm/` requests here and the rest
//!   to the static files; [`http`]: the same over the HTTP baseline;
//! - [`settings`]: configuration keys and flags; [`metrics`]: the cache counters for
//!   Prometheus; [`sample_image`]: a generated test picture.
//!
//! [`Application::open`] renders the image (or finds it cached), and answers its length and a
//! continuation naming the parameters plus the length and digest of the bytes. Every
//! [`Application::read_at`] takes the rendering from the cache when its digest matches,
//! otherwise renders again from the continuation alone and checks the digest, answering
//! [`AppError::Changed`] rather than bytes that differ from what the continuation promised.
//! The design and measurements are in `docs/WATERMARK.md`.

pub mod cache;
pub mod decode;
pub mod decoded_sources;
pub mod font;
pub mod http;
pub mod metrics;
pub mod off_path;
pub mod overlay;
pub mod render;
pub mod render_queue;
pub mod request;
pub mod router;
pub mod sample_image;
pub mod settings;
pub mod source;
pub mod ucont;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ab_glyph::FontArc;
use image::RgbImage;
use trickles::app::{AppError, Application, Opened};

pub use cache::{CacheLimits, CacheStats, CachedImage, RenderCache};
pub use decoded_sources::DecodedSources;
pub use render::{RenderParams, RenderedImage};
pub use settings::WatermarkSettings;
pub use source::SourceStamp;

/// The watermarking application over one directory of source images.
#[derive(Debug)]
pub struct Watermark {
    root: PathBuf,
    font: FontArc,
    cache: RenderCache,
    sources: DecodedSources,
}

/// A rendered response: its continuation and the rendering.
#[derive(Debug)]
pub struct WatermarkResponse {
    /// The continuation naming this response.
    pub ucont: ucont::WatermarkUcont,
    /// The rendering (shared with the cache).
    pub image: Arc<CachedImage>,
}

impl Watermark {
    /// The application the settings describe (loads the font).
    pub fn new(settings: &WatermarkSettings) -> Result<Self, crate::ServerError> {
        let font = font::load(&settings.font).map_err(|e| match e {
            font::FontError::Read { path, source } => crate::ServerError::io(path, source),
            font::FontError::Invalid { path } => crate::ServerError::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a TrueType/OpenType font",
                ),
            ),
        })?;
        Self::with_font(&settings.root, font, settings.cache_limits())
            .map_err(|e| crate::ServerError::io(&settings.root, e))
    }

    /// Serve the images under `root` with `font`, caching within `limits`.
    pub fn with_font(root: &Path, font: FontArc, limits: CacheLimits) -> std::io::Result<Self> {
        Ok(Watermark {
            root: crate::static_files::request_path::canonical_root(root)?,
            font,
            cache: RenderCache::new(limits),
            sources: DecodedSources::new(limits.source_budget_bytes),
        })
    }

    /// The render cache.
    pub fn cache(&self) -> &RenderCache {
        &self.cache
    }

    /// The cache of decoded sources.
    pub fn decoded_sources(&self) -> &DecodedSources {
        &self.sources
    }

    /// The canonical directory of source images.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Render (or find cached) the response to `request` from `client`.
    pub fn respond(&self, request: &[u8], client: IpAddr) -> Result<WatermarkResponse, AppError> {
        let (params, canonical, stamp) = self.locate(request, client)?;
        let image = self.cache.get_or_render(
            &params,
            |cached| cached.stamp == stamp,
            || self.render_from(&canonical, stamp, &params),
        )?;
        self.response(params, image)
    }

    /// What `request` from `client` asks to render, the source file and its version now.
    pub fn locate(
        &self,
        request: &[u8],
        client: IpAddr,
    ) -> Result<(RenderParams, PathBuf, SourceStamp), AppError> {
        let request = request::parse(request)?;
        let params = RenderParams {
            image_path: request.image_path,
            caption: request.caption,
            client: client.to_canonical(),
        };
        let (canonical, stamp) = source::locate(&self.root, &params.image_path)?;
        Ok((params, canonical, stamp))
    }

    /// The rendering of `params` from the source version `stamp`, only if it is cached.
    pub fn cached(&self, params: &RenderParams, stamp: SourceStamp) -> Option<Arc<CachedImage>> {
        self.cache.lookup(params, |cached| cached.stamp == stamp)
    }

    /// Render `params` from the source at `canonical` (version `stamp`) into the cache, unless
    /// it is there already: what a rendering thread runs.
    pub fn render_into_cache(
        &self,
        params: &RenderParams,
        canonical: &Path,
        stamp: SourceStamp,
    ) -> Result<(), AppError> {
        self.cache
            .get_or_render(
                params,
                |cached| cached.stamp == stamp,
                || self.render_from(canonical, stamp, params),
            )
            .map(|_| ())
    }

    /// The response naming `image`, the rendering of `params`.
    pub fn response(
        &self,
        params: RenderParams,
        image: Arc<CachedImage>,
    ) -> Result<WatermarkResponse, AppError> {
        let length = image.image.jpeg.len();
        if length + cache::ENTRY_OVERHEAD > self.cache.limits().budget_bytes {
            return Err(AppError::BadRequest(format!(
                "the rendered image ({length} bytes) is larger than the render cache"
            )));
        }
        Ok(WatermarkResponse {
            ucont: ucont::WatermarkUcont {
                params,
                length: length as u64,
                digest: image.image.digest,
            },
            image,
        })
    }

    /// The rendering a continuation names: cached, or rendered again and checked.
    pub fn rendering_for(
        &self,
        named: &ucont::WatermarkUcont,
    ) -> Result<Arc<CachedImage>, AppError> {
        let matches = |cached: &CachedImage| {
            cached.image.digest == named.digest && cached.image.jpeg.len() as u64 == named.length
        };
        if let Some(image) = self.cache.lookup(&named.params, matches) {
            return Ok(image);
        }
        let vanished = |e: AppError| match e {
            AppError::Internal(_) => e,
            _ => AppError::Changed,
        };
        let (canonical, stamp) =
            source::locate(&self.root, &named.params.image_path).map_err(vanished)?;
        // An entry rendered from the file as it is now, yet with other bytes, means this
        // replica's source differs: refuse without rendering again.
        let image = self
            .cache
            .get_or_render(
                &named.params,
                |cached| matches(cached) || cached.stamp == stamp,
                || self.render_from(&canonical, stamp, &named.params),
            )
            .map_err(vanished)?;
        if !matches(&image) {
            return Err(AppError::Changed);
        }
        Ok(image)
    }

    /// Render `params` over the source at `canonical`, last seen as version `stamp`: from its
    /// kept decoded pixels when they are of that version, else read and decoded now.
    fn render_from(
        &self,
        canonical: &Path,
        stamp: SourceStamp,
        params: &RenderParams,
    ) -> Result<CachedImage, AppError> {
        let (pixels, stamp) = match self.sources.get(canonical, stamp) {
            Some(pixels) => (pixels, stamp),
            None => {
                let (bytes, read_stamp) = source::read(canonical)?;
                let pixels = Arc::new(decode::decode(&bytes)?);
                self.sources.insert(canonical, read_stamp, pixels.clone());
                (pixels, read_stamp)
            }
        };
        // Drawing needs its own copy unless nobody else holds these pixels.
        let pixels = Arc::try_unwrap(pixels).unwrap_or_else(|shared| RgbImage::clone(&shared));
        let image = render::render_pixels(pixels, params, &self.font)?;
        Ok(CachedImage { image, stamp })
    }
}

impl Application for Watermark {
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError> {
        let response = self.respond(request, client.ip())?;
        Ok(Opened {
            ucont: ucont::encode(&response.ucont)?,
            length: response.ucont.length,
        })
    }

    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        let named = ucont::decode(ucont)?;
        if offset > named.length {
            return Err(AppError::Changed);
        }
        let image = self.rendering_for(&named)?;
        let start = usize::try_from(offset).map_err(|_| AppError::Changed)?;
        let jpeg = &image.image.jpeg;
        let n = buf.len().min(jpeg.len() - start);
        buf[..n].copy_from_slice(&jpeg[start..start + n]);
        Ok(n)
    }
}
