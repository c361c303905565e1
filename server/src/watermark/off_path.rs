//! [`OffPathWatermark`]: the watermarking application as the UDP workers run it, never
//! rendering on the worker's thread.
//!
//! `open` and `read_at` answer from the render cache when the image is there. When it is not,
//! they queue its rendering ([`super::render_queue`]) and answer [`AppError::Busy`]: the
//! server drops the datagram without an answer and the client's retransmission (its HELLO
//! again after a timeout, or a restart of its request) finds the image ready. The checks are
//! those of the synchronous application: a rendering of the current source whose bytes differ
//! from what a continuation names is [`AppError::Changed`].

use std::net::SocketAddr;
use std::sync::Arc;

use trickles::app::{AppError, Application, Opened};

use super::render_queue::RenderQueue;
use super::{source, ucont, Watermark};

/// The watermarking application with its renderings off the datapath.
#[derive(Debug)]
pub struct OffPathWatermark {
    watermark: Arc<Watermark>,
    queue: RenderQueue,
}

impl OffPathWatermark {
    /// `watermark`, rendering on `threads` threads of its own.
    pub fn new(watermark: Arc<Watermark>, threads: usize) -> Self {
        OffPathWatermark {
            watermark,
            queue: RenderQueue::new(threads),
        }
    }

    /// The application behind it.
    pub fn watermark(&self) -> &Arc<Watermark> {
        &self.watermark
    }

    /// The render queue.
    pub fn queue(&self) -> &RenderQueue {
        &self.queue
    }

    /// Queue the rendering of `params` from `canonical` (version `stamp`) for `client`; always
    /// [`AppError::Busy`] (queued, already queued, or refused: the retry asks again).
    fn render_later(
        &self,
        params: &super::RenderParams,
        canonical: std::path::PathBuf,
        stamp: super::SourceStamp,
        client: std::net::IpAddr,
    ) -> AppError {
        let watermark = self.watermark.clone();
        let key = params.clone();
        let refused = self.queue.submit(params, client, move || {
            if let Err(e) = watermark.render_into_cache(&key, &canonical, stamp) {
                tracing::debug!(image = %key.image_path, error = %e, "rendering failed");
            }
        });
        if let Err(why) = refused {
            tracing::debug!(image = %params.image_path, ?why, "rendering not queued");
        }
        AppError::Busy
    }
}

impl Application for OffPathWatermark {
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError> {
        let (params, canonical, stamp) = self.watermark.locate(request, client.ip())?;
        let Some(image) = self.watermark.cached(&params, stamp) else {
            return Err(self.render_later(&params, canonical, stamp, client.ip()));
        };
        let response = self.watermark.response(params, image)?;
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
        let cache = self.watermark.cache();
        let matches = |cached: &super::CachedImage| {
            cached.image.digest == named.digest && cached.image.jpeg.len() as u64 == named.length
        };
        let image = match cache.lookup(&named.params, matches) {
            Some(image) => image,
            None => {
                let (canonical, stamp) =
                    source::locate(self.watermark.root(), &named.params.image_path).map_err(
                        |e| match e {
                            AppError::Internal(_) => e,
                            _ => AppError::Changed,
                        },
                    )?;
                if cache.lookup(&named.params, |c| c.stamp == stamp).is_some() {
                    // Rendered from the source as it is now, yet other bytes: it changed.
                    return Err(AppError::Changed);
                }
                return Err(self.render_later(
                    &named.params,
                    canonical,
                    stamp,
                    named.params.client,
                ));
            }
        };
        let start = usize::try_from(offset).map_err(|_| AppError::Changed)?;
        let jpeg = &image.image.jpeg;
        let n = buf.len().min(jpeg.len() - start);
        buf[..n].copy_from_slice(&jpeg[start..start + n]);
        Ok(n)
    }
}
