//! Bounds-checked big-endian field readers shared by the packet parsers.

use super::WireError;

/// The byte at `at`.
pub fn u8_at(b: &[u8], at: usize) -> Result<u8, WireError> {
    b.get(at).copied().ok_or(WireError::Truncated)
}

/// The big-endian u16 at `at`.
pub fn u16_at(b: &[u8], at: usize) -> Result<u16, WireError> {
    let s = b.get(at..at + 2).ok_or(WireError::Truncated)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

/// The big-endian u32 at `at`.
pub fn u32_at(b: &[u8], at: usize) -> Result<u32, WireError> {
    let s = b.get(at..at + 4).ok_or(WireError::Truncated)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Ok(u32::from_be_bytes(a))
}

/// The big-endian u64 at `at`.
pub fn u64_at(b: &[u8], at: usize) -> Result<u64, WireError> {
    let s = b.get(at..at + 8).ok_or(WireError::Truncated)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_be_bytes(a))
}

/// The `len` bytes at `at`.
pub fn bytes_at(b: &[u8], at: usize, len: usize) -> Result<&[u8], WireError> {
    b.get(at..at.checked_add(len).ok_or(WireError::Truncated)?)
        .ok_or(WireError::Truncated)
}
