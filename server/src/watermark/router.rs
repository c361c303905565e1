//! The application a server runs: the static files, plus the watermarking application when
//! it is configured.
//!
//! Requests starting with `/wm/` go to the watermarking application (when it is configured;
//! otherwise they are static paths like any other); continuations are told apart by their
//! first byte ([`super::ucont::TAG`] for watermark ones, the static application's version
//! byte otherwise), so every replica routes every packet the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use trickles::app::{AppError, Application, Opened};

use super::off_path::OffPathWatermark;
use super::{request, ucont, Watermark};
use crate::static_files::StaticFiles;

/// The static files and, optionally, the watermarking application.
#[derive(Debug)]
pub struct ServedApplications {
    files: Arc<StaticFiles>,
    watermark: Option<Arc<Watermark>>,
    /// When set, watermark requests go here: renderings off the datapath.
    off_path: Option<OffPathWatermark>,
}

impl ServedApplications {
    /// Serve `files`, and `watermark` under `/wm/` if given (rendering on the caller's thread).
    pub fn new(files: Arc<StaticFiles>, watermark: Option<Arc<Watermark>>) -> Self {
        ServedApplications {
            files,
            watermark,
            off_path: None,
        }
    }

    /// The same, rendering on `threads` threads of its own instead ([`OffPathWatermark`]):
    /// what the UDP workers run.
    pub fn rendering_off_the_datapath(mut self, threads: usize) -> Self {
        self.off_path = self
            .watermark
            .clone()
            .map(|watermark| OffPathWatermark::new(watermark, threads));
        self
    }

    /// The watermarking application, if configured.
    pub fn watermark(&self) -> Option<&Arc<Watermark>> {
        self.watermark.as_ref()
    }
}

impl Application for ServedApplications {
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError> {
        match &self.watermark {
            Some(watermark) if request::is_watermark_request(request) => match &self.off_path {
                Some(off_path) => off_path.open(request, client),
                None => watermark.open(request, client),
            },
            _ => self.files.open(request, client),
        }
    }

    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        if ucont.first() == Some(&ucont::TAG) {
            // A watermark continuation reaching a replica without the application.
            let watermark = self.watermark.as_ref().ok_or(AppError::Changed)?;
            return match &self.off_path {
                Some(off_path) => off_path.read_at(ucont, offset, buf),
                None => watermark.read_at(ucont, offset, buf),
            };
        }
        self.files.read_at(ucont, offset, buf)
    }
}
