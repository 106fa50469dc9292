//! A sparse 64-bit address space: mapped regions, everything else is a hole.

use std::collections::BTreeMap;
use std::fmt;

/// A mapped range of guest memory: `data.len()` bytes starting at `start`.
///
/// Regions may start and end at any byte (no page alignment is implied). Adjacent regions
/// behave as one contiguous mapping.
#[derive(Clone, PartialEq, Eq)]
pub struct Region {
    /// First mapped address.
    pub start: u64,
    /// Contents; the region covers `start .. start + data.len()`.
    pub data: Vec<u8>,
}

impl Region {
    /// A region holding `data` at `start`.
    pub fn new(start: u64, data: Vec<u8>) -> Self {
        Region { start, data }
    }

    /// A region of `len` bytes at `start` whose byte at address `a` is `pattern_byte(a)`.
    pub fn with_pattern(start: u64, len: usize) -> Self {
        let data = (0..len as u64)
            .map(|i| pattern_byte(start.wrapping_add(i)))
            .collect();
        Region { start, data }
    }

    /// One past the last mapped address (as u128: a region may end at 2^64).
    pub fn end(&self) -> u128 {
        self.start as u128 + self.data.len() as u128
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({:#x}..{:#x})", self.start, self.end())
    }
}

/// The default content of pattern regions: a function of the address that differs between
/// neighbouring bytes and between pages, so misplaced data is caught by tests.
pub fn pattern_byte(addr: u64) -> u8 {
    let x = addr ^ (addr >> 8) ^ (addr >> 16) ^ (addr >> 29) ^ (addr >> 43);
    (x as u8).wrapping_mul(31).wrapping_add(7)
}

/// Why a region could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// The region runs past the end of the 64-bit address space.
    PastEndOfAddressSpace(u64),
    /// The region overlaps one that is already mapped (given by its start).
    Overlap {
        /// Start of the region being mapped.
        new: u64,
        /// Start of the region already there.
        existing: u64,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::PastEndOfAddressSpace(s) => {
                write!(f, "region at {s:#x} runs past the end of the address space")
            }
            MapError::Overlap { new, existing } => {
                write!(f, "region at {new:#x} overlaps region at {existing:#x}")
            }
        }
    }
}

impl std::error::Error for MapError {}

/// The fake's guest memory. Lookups are `O(log n + regions touched)`.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    regions: BTreeMap<u64, Vec<u8>>,
}

impl Memory {
    /// An empty address space (all holes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Map `region`. Empty regions are ignored. Overlapping an existing region is an error.
    pub fn map(&mut self, region: Region) -> Result<(), MapError> {
        if region.data.is_empty() {
            return Ok(());
        }
        if region.end() > 1u128 << 64 {
            return Err(MapError::PastEndOfAddressSpace(region.start));
        }
        if let Some((&s, d)) = self.regions.range(..=region.start).next_back() {
            if s as u128 + d.len() as u128 > region.start as u128 {
                return Err(MapError::Overlap {
                    new: region.start,
                    existing: s,
                });
            }
        }
        if let Some((&s, _)) = self.regions.range(region.start..).next() {
            if (s as u128) < region.end() {
                return Err(MapError::Overlap {
                    new: region.start,
                    existing: s,
                });
            }
        }
        self.regions.insert(region.start, region.data);
        Ok(())
    }

    /// Remove the region that starts exactly at `start`, returning it.
    pub fn unmap(&mut self, start: u64) -> Option<Region> {
        self.regions
            .remove(&start)
            .map(|data| Region { start, data })
    }

    /// The mapped regions, in address order.
    pub fn regions(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.regions.iter().map(|(&s, d)| (s, d.as_slice()))
    }

    /// Is every byte of `addr .. addr + len` mapped? (`len == 0` is always true.)
    pub fn is_mapped(&self, addr: u64, len: usize) -> bool {
        self.walk(addr, len, |_, _| {})
    }

    /// All-or-nothing read: fills `buf` from `addr` if every byte is mapped, else returns
    /// `false` and leaves `buf` unspecified.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let mut pos = 0usize;
        let len = buf.len();
        // Check first so that a failed read does not half-fill the buffer.
        if !self.is_mapped(addr, len) {
            return false;
        }
        // The pieces `walk` visits add up to exactly `len` bytes.
        self.walk(addr, len, |src, _| {
            if let Some(dst) = buf.get_mut(pos..pos + src.len()) {
                dst.copy_from_slice(src);
            }
            pos += src.len();
        })
    }

    /// All-or-nothing write: stores `data` at `addr` if every byte is mapped, else returns
    /// `false` and changes nothing.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        if !self.is_mapped(addr, data.len()) {
            return false;
        }
        let mut cur = addr as u128;
        let mut done = 0usize;
        while done < data.len() {
            // `is_mapped` above guarantees every lookup here succeeds.
            let Some((&s, d)) = self.regions.range_mut(..=cur as u64).next_back() else {
                return false;
            };
            let off = (cur - s as u128) as usize;
            let n = d.len().saturating_sub(off).min(data.len() - done);
            let (Some(dst), Some(src)) = (d.get_mut(off..off + n), data.get(done..done + n)) else {
                return false;
            };
            if n == 0 {
                return false;
            }
            dst.copy_from_slice(src);
            done += n;
            cur += n as u128;
        }
        true
    }

    /// Visit the mapped pieces of `addr .. addr + len` in order; `false` at the first hole.
    fn walk(&self, addr: u64, len: usize, mut f: impl FnMut(&[u8], u64)) -> bool {
        let end = addr as u128 + len as u128;
        if end > 1u128 << 64 {
            return false;
        }
        let mut cur = addr as u128;
        while cur < end {
            let Some((&s, d)) = self.regions.range(..=cur as u64).next_back() else {
                return false;
            };
            let rend = s as u128 + d.len() as u128;
            if rend <= cur {
                return false;
            }
            let off = (cur - s as u128) as usize;
            let n = ((rend.min(end)) - cur) as usize;
            let Some(piece) = d.get(off..off + n) else {
                return false;
            };
            f(piece, cur as u64);
            cur += n as u128;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Memory {
        let mut m = Memory::new();
        m.map(Region::new(0x1000, vec![1; 0x10])).unwrap();
        m.map(Region::new(0x1010, vec![2; 0x5])).unwrap(); // adjacent, odd end 0x1015
        m.map(Region::new(0x2000, vec![3; 0x3])).unwrap();
        m
    }

    #[test]
    fn all_or_nothing() {
        let m = mem();
        let mut b = [0u8; 0x15];
        assert!(m.read(0x1000, &mut b));
        assert_eq!(&b[..0x10], &[1; 0x10]);
        assert_eq!(&b[0x10..], &[2; 5]);
        let mut b = [0u8; 0x16];
        assert!(!m.read(0x1000, &mut b));
        assert!(!m.is_mapped(0xfff, 1));
        assert!(m.is_mapped(0x1014, 1));
        assert!(!m.is_mapped(0x1015, 1));
        assert!(m.is_mapped(0x1015, 0));
        assert!(!m.is_mapped(0x1ffe, 4));
        assert!(!m.is_mapped(u64::MAX, 2));
    }

    #[test]
    fn top_of_address_space() {
        let mut m = Memory::new();
        m.map(Region::new(u64::MAX - 3, vec![9; 4])).unwrap();
        assert!(m.is_mapped(u64::MAX, 1));
        assert!(!m.is_mapped(u64::MAX, 2));
        assert!(m.map(Region::new(u64::MAX, vec![0; 2])).is_err());
    }

    #[test]
    fn overlap_rejected_and_write() {
        let mut m = mem();
        assert!(m.map(Region::new(0x1014, vec![0; 1])).is_err());
        assert!(m.map(Region::new(0xff0, vec![0; 0x11])).is_err());
        assert!(m.map(Region::new(0xff0, vec![0; 0x10])).is_ok());
        assert!(m.write(0x100e, &[7, 7, 7, 7]));
        let mut b = [0u8; 4];
        assert!(m.read(0x100e, &mut b));
        assert_eq!(b, [7; 4]);
        assert!(!m.write(0x1014, &[0, 0]));
        assert!(m.unmap(0x2000).is_some());
        assert!(!m.is_mapped(0x2000, 1));
    }
}
