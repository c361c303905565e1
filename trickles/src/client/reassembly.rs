//! The client's receive buffer: stream bytes arrive by offset, possibly out of order or twice,
//! and leave in order through [`Reassembly::read`].

use std::collections::{BTreeMap, VecDeque};

/// Reorders stream bytes; holds at most what the receive window allows.
#[derive(Clone, Debug, Default)]
pub struct Reassembly {
    /// Bytes below this offset are contiguous (delivered to `ready` or read).
    contiguous_end: u64,
    /// Bytes read by the application.
    read_offset: u64,
    ready: VecDeque<u8>,
    out_of_order: BTreeMap<u64, Vec<u8>>,
    out_of_order_bytes: usize,
}

impl Reassembly {
    /// A buffer whose stream starts at `offset`.
    pub fn starting_at(offset: u64) -> Self {
        Reassembly {
            contiguous_end: offset,
            read_offset: offset,
            ..Self::default()
        }
    }

    /// End of the contiguous prefix received.
    pub fn contiguous_end(&self) -> u64 {
        self.contiguous_end
    }

    /// Bytes the application has read.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Bytes held (ready plus out of order).
    pub fn buffered(&self) -> usize {
        self.ready.len() + self.out_of_order_bytes
    }

    /// Whether bytes are held beyond a hole.
    pub fn has_hole(&self) -> bool {
        !self.out_of_order.is_empty()
    }

    /// Store `data` at `offset`; returns how many bytes were new.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> usize {
        let end = offset + data.len() as u64;
        if end <= self.contiguous_end || data.is_empty() {
            return 0;
        }
        let skip = self.contiguous_end.saturating_sub(offset) as usize;
        let (offset, data) = (offset + skip as u64, &data[skip..]);
        if offset == self.contiguous_end {
            self.ready.extend(data);
            self.contiguous_end = end;
            self.drain_out_of_order();
            data.len()
        } else if self.out_of_order.contains_key(&offset) {
            0
        } else {
            self.out_of_order_bytes += data.len();
            self.out_of_order.insert(offset, data.to_vec());
            data.len()
        }
    }

    fn drain_out_of_order(&mut self) {
        while let Some(entry) = self.out_of_order.first_entry() {
            let offset = *entry.key();
            if offset > self.contiguous_end {
                break;
            }
            let chunk = entry.remove();
            self.out_of_order_bytes -= chunk.len();
            let end = offset + chunk.len() as u64;
            if end > self.contiguous_end {
                let skip = (self.contiguous_end - offset) as usize;
                self.ready.extend(&chunk[skip..]);
                self.contiguous_end = end;
            }
        }
    }

    /// Copy in-order bytes into `buf`; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.ready.len());
        let (a, b) = self.ready.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.ready.drain(..n);
        self.read_offset += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_bytes_leave_in_order() {
        let mut r = Reassembly::starting_at(0);
        assert_eq!(r.insert(4, b"efgh"), 4);
        assert!(r.has_hole());
        assert_eq!(r.insert(0, b"abcd"), 4);
        assert_eq!(r.insert(4, b"efgh"), 0);
        assert!(!r.has_hole());
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf);
        assert_eq!(&buf[..n], b"abcdefgh");
        assert_eq!(r.read_offset(), 8);
    }

    #[test]
    fn overlapping_chunks_are_trimmed() {
        let mut r = Reassembly::starting_at(10);
        assert_eq!(r.insert(8, b"xxab"), 2);
        assert_eq!(r.contiguous_end(), 12);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf), 2);
        assert_eq!(&buf[..2], b"ab");
    }
}
