//! Bounds-checked little-endian reads from `.rodata`.
//!
//! The `get_*` forms return `None` past the end (for scans, where a miss just rejects a
//! candidate); the others return an error naming the table and offset.

use super::layout::{KallsymsError, Table};

/// `.rodata` bytes and their link address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rodata<'a> {
    pub data: &'a [u8],
    pub addr: u64,
}

impl<'a> Rodata<'a> {
    pub fn new(data: &'a [u8], addr: u64) -> Self {
        Rodata { data, addr }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// The link address of offset `off`.
    pub fn link(&self, off: usize) -> u64 {
        self.addr.wrapping_add(off as u64)
    }

    /// Whether offset `off` is `align`-aligned as a link address (`align` a power of two).
    pub fn aligned(&self, off: usize, align: u64) -> bool {
        self.link(off) & (align - 1) == 0
    }

    /// The first offset at or after `off` whose link address is `align`-aligned.
    pub fn align_up(&self, off: usize, align: u64) -> usize {
        let mis = self.link(off) & (align - 1);
        if mis == 0 {
            off
        } else {
            off.saturating_add((align - mis) as usize)
        }
    }

    pub fn get_bytes(&self, off: usize, len: usize) -> Option<&'a [u8]> {
        self.data.get(off..off.checked_add(len)?)
    }

    pub fn get_u8(&self, off: usize) -> Option<u8> {
        self.data.get(off).copied()
    }

    pub fn get_u16(&self, off: usize) -> Option<u16> {
        crate::le::u16_at(self.data, off)
    }

    pub fn get_u32(&self, off: usize) -> Option<u32> {
        crate::le::u32_at(self.data, off)
    }

    pub fn get_u64(&self, off: usize) -> Option<u64> {
        crate::le::u64_at(self.data, off)
    }

    pub fn bytes(&self, table: Table, off: usize, len: usize) -> Result<&'a [u8], KallsymsError> {
        self.get_bytes(off, len).ok_or(KallsymsError::Truncated {
            table,
            offset: off,
            len,
        })
    }

    pub fn u8(&self, table: Table, off: usize) -> Result<u8, KallsymsError> {
        self.get_u8(off).ok_or(KallsymsError::Truncated {
            table,
            offset: off,
            len: 1,
        })
    }

    pub fn u16(&self, table: Table, off: usize) -> Result<u16, KallsymsError> {
        self.get_u16(off).ok_or(KallsymsError::Truncated {
            table,
            offset: off,
            len: 2,
        })
    }

    pub fn u32(&self, table: Table, off: usize) -> Result<u32, KallsymsError> {
        self.get_u32(off).ok_or(KallsymsError::Truncated {
            table,
            offset: off,
            len: 4,
        })
    }

    pub fn u64(&self, table: Table, off: usize) -> Result<u64, KallsymsError> {
        self.get_u64(off).ok_or(KallsymsError::Truncated {
            table,
            offset: off,
            len: 8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let ro = Rodata::new(&[1, 2, 3, 4, 5], 0x1003);
        assert_eq!(ro.get_u32(1), Some(0x0504_0302));
        assert_eq!(ro.get_u32(2), None);
        assert_eq!(ro.get_u16(usize::MAX), None);
        assert_eq!(ro.get_bytes(usize::MAX, 2), None);
        assert_eq!(
            ro.u64(Table::RelativeBase, 0),
            Err(KallsymsError::Truncated {
                table: Table::RelativeBase,
                offset: 0,
                len: 8
            })
        );
        // 0x1003 + 1 = 0x1004 is the first 4-aligned link address.
        assert_eq!(ro.align_up(0, 4), 1);
        assert!(ro.aligned(1, 4));
        assert_eq!(ro.align_up(usize::MAX, 8), usize::MAX);
    }
}
