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

use super::{request, ucont, Watermark};
use crate::static_files::StaticFiles;

/// The static files and, optionally, the watermarking application.
#[derive(Debug)]
pub struct ServedApplications {
    files: Arc<StaticFiles>,
    watermark: Option<Arc<Watermark>>,
}

impl ServedApplications {
    /// Serve `files`, and `watermark` under `/wm/` if given.
    pub fn new(files: Arc<StaticFiles>, watermark: Option<Arc<Watermark>>) -> Self {
        ServedApplications { files, watermark }
    }

    /// The watermarking application, if configured.
    pub fn watermark(&self) -> Option<&Arc<Watermark>> {
        self.watermark.as_ref()
    }
}

impl Application for ServedApplications {
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError> {
        match &self.watermark {
            Some(watermark) if request::is_watermark_request(request) => {
                watermark.open(request, client)
            }
            _ => self.files.open(request, client),
        }
    }

    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        if ucont.first() == Some(&ucont::TAG) {
            // A watermark continuation reaching a replica without the application.
            let watermark = self.watermark.as_ref().ok_or(AppError::Changed)?;
            return watermark.read_at(ucont, offset, buf);
        }
        self.files.read_at(ucont, offset, buf)
    }
}
