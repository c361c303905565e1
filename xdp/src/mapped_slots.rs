//! [`MappedSlots`]: an array map of `u32` (the balancer's Maglev slots, `trk_maglev`, created with
//! `BPF_F_MMAPABLE`) mapped into this process, so a table generation (65,537 slots by
//! default) is written with plain stores instead of one `bpf(BPF_MAP_UPDATE_ELEM)` per slot:
//! a publish that changes a third of the slots takes microseconds, not tens of milliseconds,
//! which is how long a dead backend keeps receiving packets after the control plane knows.
//!
//! The kernel lays array elements out [`ELEMENT_STRIDE`] bytes apart (the value size rounded up
//! to 8), so slot `i` of `u32` values is at byte `8 i` of the mapping.

use std::os::fd::{AsFd, AsRawFd};

use crate::error::XdpError;

/// Bytes between two elements of a mapped array of `u32` (`round_up(value_size, 8)`).
pub const ELEMENT_STRIDE: usize = 8;

/// The mapped array of `u32` slots (both generations).
pub struct MappedSlots {
    base: *mut u32,
    len: usize,
    bytes: usize,
}

// SAFETY: the mapping is owned by this value alone, and only written through `&mut self`.
unsafe impl Send for MappedSlots {}
// SAFETY: `&self` only reads (volatile loads of aligned `u32`s).
unsafe impl Sync for MappedSlots {}

impl std::fmt::Debug for MappedSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedSlots")
            .field("len", &self.len)
            .finish()
    }
}

impl MappedSlots {
    /// Maps the `len` `u32` slots of the array map whose descriptor is `fd`.
    pub fn map(fd: impl AsFd, len: usize) -> Result<Self, XdpError> {
        let page = 4096usize;
        let bytes = (len * ELEMENT_STRIDE).div_ceil(page) * page;
        // SAFETY: a fresh shared mapping of the map's memory; the kernel checks the size and
        // the flags against the map, and refuses (MAP_FAILED) otherwise.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_fd().as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(XdpError::Unsupported(format!(
                "cannot map trk_maglev into memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(MappedSlots {
            base: base.cast(),
            len,
            bytes,
        })
    }

    /// Writes `value` into slot `index` (ignored out of range). Each store is one aligned
    /// 32-bit write: the program reads either the old or the new value.
    pub fn set(&mut self, index: usize, value: u32) {
        if index < self.len {
            // SAFETY: in bounds of the mapping; volatile so every store reaches the shared
            // memory the program reads.
            unsafe { self.slot_ptr(index).write_volatile(value) };
        }
    }

    /// Where slot `index` (< len) lives: aligned to 8 within the page-aligned mapping.
    fn slot_ptr(&self, index: usize) -> *mut u32 {
        self.base
            .cast::<u8>()
            .wrapping_add(index * ELEMENT_STRIDE)
            .cast::<u32>()
    }

    /// The value of slot `index` (0 out of range).
    pub fn get(&self, index: usize) -> u32 {
        if index < self.len {
            // SAFETY: in bounds of the mapping.
            unsafe { self.slot_ptr(index).read_volatile() }
        } else {
            0
        }
    }
}

impl Drop for MappedSlots {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`.
        unsafe {
            libc::munmap(self.base.cast(), self.bytes);
        }
    }
}
