//! Where a response body goes: [`BodySink`] receives bytes at their offset in the body.
//!
//! Bodies are never held in memory. A file gets positioned writes ([`SeekSink`], buffered, so
//! in-order deliveries cost no seeks and an HTTP range resume seeks once); stdout can only take
//! bytes in order ([`StreamSink`]); load runs without `-o` throw bodies away ([`DiscardSink`]).

use std::io::{self, Seek, SeekFrom, Write};

/// A destination for body bytes, addressed by offset in the body.
pub trait BodySink: Send {
    /// Writes `data` so that it occupies body bytes `offset .. offset + data.len()`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Flushes whatever is buffered; called once when the transfer is complete.
    fn finish(&mut self) -> io::Result<()>;
}

impl<S: BodySink + ?Sized> BodySink for Box<S> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        (**self).write_at(offset, data)
    }
    fn finish(&mut self) -> io::Result<()> {
        (**self).finish()
    }
}

/// Positioned writes into anything seekable (a file, a `Cursor`); seeks only when the offset
/// is not where the previous write ended.
pub struct SeekSink<W: Write + Seek> {
    inner: W,
    position: Option<u64>,
}

impl<W: Write + Seek> SeekSink<W> {
    /// Wraps `inner`; the body starts at its offset 0.
    pub fn new(inner: W) -> Self {
        SeekSink {
            inner,
            position: None,
        }
    }

    /// Gives back the wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write + Seek + Send> BodySink for SeekSink<W> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.position != Some(offset) {
            self.inner.seek(SeekFrom::Start(offset))?;
        }
        self.inner.write_all(data)?;
        self.position = Some(offset + data.len() as u64);
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Sequential writes (stdout, a pipe): every write must start where the previous one ended.
pub struct StreamSink<W: Write> {
    inner: W,
    position: u64,
}

impl<W: Write> StreamSink<W> {
    /// Wraps `inner`; the body starts with its first byte.
    pub fn new(inner: W) -> Self {
        StreamSink { inner, position: 0 }
    }
}

impl<W: Write + Send> BodySink for StreamSink<W> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset != self.position {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a stream output cannot go back or skip: write at {offset}, position {}",
                    self.position
                ),
            ));
        }
        self.inner.write_all(data)?;
        self.position += data.len() as u64;
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Throws the body away (load generation); the transfer is still hashed and counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardSink;

impl BodySink for DiscardSink {
    fn write_at(&mut self, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
