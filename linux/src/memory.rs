//! Guest memory as every walker reads it: one trait, [`GuestMemory`], with the crate's one
//! [`Error`]. [`crate::Program`] implements it (through the target, stopping at an interrupt);
//! tests implement it with in-memory maps (`mock::SparseMemory`), so a walker written
//! against the trait is tested without a target. The unwinder's `qmdb_unwind::StackMemory`
//! (that crate is sans-IO and defines its own) is adapted to it in [`crate::backtrace`].
//!
//! Everything read is untrusted guest data: the decoding helpers here read a value at an
//! offset of a buffer as zero when the buffer is too short, never panic.

use crate::error::{bytes_word, Error, ReadCause};
use qmdb_bridge::VirtAddr;

/// Reads guest memory. An error is [`Error::Read`] naming what was read and where, or an
/// error that ends the command ([`Error::ends_command`]: connection lost, interrupted).
pub trait GuestMemory {
    /// Exactly `len` bytes at `addr`; an error names `what` was read (e.g. `next pointer`;
    /// `None` says `N bytes`).
    fn read_bytes(
        &mut self,
        addr: VirtAddr,
        len: usize,
        what: Option<&str>,
    ) -> Result<Vec<u8>, Error>;

    /// The readable bytes from `addr`, at most `len`: fewer when an unreadable byte comes
    /// first. Only an error that ends the command is an `Err`.
    fn read_some(&mut self, addr: VirtAddr, len: usize) -> Result<Vec<u8>, Error>;

    /// The 8-byte little-endian value at `addr`.
    fn read_u64(&mut self, addr: VirtAddr, what: Option<&str>) -> Result<u64, Error> {
        let b = self.read_bytes(addr, 8, what)?;
        le_u64(&b).ok_or_else(|| {
            let what = what.map_or_else(|| bytes_word(8), str::to_string);
            Error::read(what, addr, ReadCause::Wrap)
        })
    }

    /// The 4-byte little-endian value at `addr`.
    fn read_u32(&mut self, addr: VirtAddr, what: Option<&str>) -> Result<u32, Error> {
        let b = self.read_bytes(addr, 4, what)?;
        le_u32(&b).ok_or_else(|| {
            let what = what.map_or_else(|| bytes_word(4), str::to_string);
            Error::read(what, addr, ReadCause::Wrap)
        })
    }
}

/// `Ok(Some(v))` for a value read, `Ok(None)` for a read that failed without ending the
/// command (the caller reports or skips it), `Err` for one that ends it.
pub(crate) fn recoverable<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.ends_command() => Err(e),
        Err(_) => Ok(None),
    }
}

/// The little-endian `u64` at the start of `b`, `None` when it is shorter.
pub(crate) fn le_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

/// The little-endian `u32` at the start of `b`, `None` when it is shorter.
pub(crate) fn le_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

/// The little-endian `u64` at offset `off` of `b`; 0 past the end (a short read of guest
/// data decodes as zeros, never a panic).
pub(crate) fn u64_at(b: &[u8], off: u64) -> u64 {
    usize::try_from(off)
        .ok()
        .and_then(|o| b.get(o..))
        .and_then(le_u64)
        .unwrap_or(0)
}

/// The little-endian `u32` at offset `off` of `b`; 0 past the end.
pub(crate) fn u32_at(b: &[u8], off: u64) -> u32 {
    usize::try_from(off)
        .ok()
        .and_then(|o| b.get(o..))
        .and_then(le_u32)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;

    #[test]
    fn short_buffers_read_as_zero() {
        let b = 0x1122_3344_5566_7788u64.to_le_bytes();
        assert_eq!(u64_at(&b, 0), 0x1122_3344_5566_7788);
        assert_eq!(u32_at(&b, 4), 0x1122_3344);
        assert_eq!(u64_at(&b, 1), 0);
        assert_eq!(u32_at(&b, 5), 0);
        assert_eq!(u64_at(&b, u64::MAX), 0);
    }

    #[test]
    fn sparse_memory_reads_and_fails_by_name() {
        let mut m = SparseMemory::default();
        m.put(0x1000, &7u64.to_le_bytes());
        assert_eq!(m.read_u64(VirtAddr(0x1000), None).unwrap(), 7);
        assert_eq!(m.read_u32(VirtAddr(0x1000), None).unwrap(), 7);
        assert_eq!(m.read_some(VirtAddr(0x1004), 8).unwrap().len(), 4);
        let e = m.read_u64(VirtAddr(0x1004), Some("next")).unwrap_err();
        assert_eq!(e.to_string(), "failed to read next at 1004: no mapping");
        assert!(!e.ends_command());
    }
}
