//! The server application interface: the stateless replacement for sockets (the paper's
//! *minisockets*, reduced to what a response stream needs).
//!
//! A Trickles response is a byte stream of known length. On the first packet of a connection
//! (`HELLO`) the server asks the application to [`Application::open`] the client's request; the
//! application answers with the stream length and a small *user continuation* (`ucont`) that
//! identifies the content (a path, an image and its overlay text, ...). The ucont travels in every
//! continuation, under the same MAC as the transport state, so any replica can later serve any
//! byte range of the stream with [`Application::read_at`] without remembering anything.
//!
//! Implementations must be **deterministic**: every replica must return the same bytes for the
//! same `(ucont, offset)`, or a transfer that moves between replicas is corrupted.

use std::net::SocketAddr;

/// Longest user continuation an application may return, in bytes.
pub const MAX_UCONT_LEN: usize = 512;

/// What [`Application::open`] answers for an accepted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Application state carried (authenticated) in every continuation of this connection.
    pub ucont: Vec<u8>,
    /// Total length of the response stream in bytes.
    pub length: u64,
}

/// Why an application refused or failed a request. Sent to the client as a `REFUSE` packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The requested object does not exist.
    #[error("not found")]
    NotFound,
    /// The request could not be understood or is not allowed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The object changed or vanished since the ucont was issued (replicas disagree).
    #[error("content changed")]
    Changed,
    /// Anything else (I/O error, ...).
    #[error("internal error: {0}")]
    Internal(String),
    /// The answer is being prepared off the datapath (e.g. an image rendering) and is not
    /// ready yet. The server drops the datagram *without* an answer; the client's retry (a
    /// HELLO resent after its timeout, a request retransmitted) finds it ready.
    #[error("busy: retry later")]
    Busy,
}

impl AppError {
    /// Wire code of this error in a `REFUSE` packet.
    pub fn code(&self) -> u8 {
        match self {
            AppError::NotFound => 1,
            AppError::BadRequest(_) => 2,
            AppError::Changed => 3,
            AppError::Internal(_) => 4,
            AppError::Busy => 6,
        }
    }
}

/// A stateless server application.
pub trait Application: Send + Sync {
    /// Accept (or refuse) a request. `request` is the application payload of the client's
    /// `HELLO`; `client` its source address (e.g. for a per-client overlay).
    fn open(&self, request: &[u8], client: SocketAddr) -> Result<Opened, AppError>;

    /// Write the response bytes starting at `offset` into `buf`; return how many were written
    /// (`buf.len()` unless the stream ends first). Must be a pure function of `(ucont, offset)`.
    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError>;
}

/// An application serving fixed in-memory objects by name; used by tests and the simulator.
#[derive(Clone, Debug, Default)]
pub struct MemoryApplication {
    objects: std::collections::BTreeMap<Vec<u8>, std::sync::Arc<Vec<u8>>>,
}

impl MemoryApplication {
    /// An application with no objects.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve `body` for requests equal to `name`.
    pub fn insert(&mut self, name: impl Into<Vec<u8>>, body: Vec<u8>) {
        self.objects.insert(name.into(), std::sync::Arc::new(body));
    }
}

impl Application for MemoryApplication {
    fn open(&self, request: &[u8], _client: SocketAddr) -> Result<Opened, AppError> {
        let body = self.objects.get(request).ok_or(AppError::NotFound)?;
        Ok(Opened {
            ucont: request.to_vec(),
            length: body.len() as u64,
        })
    }

    fn read_at(&self, ucont: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, AppError> {
        let body = self.objects.get(ucont).ok_or(AppError::Changed)?;
        let start = usize::try_from(offset).map_err(|_| AppError::Changed)?;
        if start > body.len() {
            return Err(AppError::Changed);
        }
        let n = buf.len().min(body.len() - start);
        buf[..n].copy_from_slice(&body[start..start + n]);
        Ok(n)
    }
}
