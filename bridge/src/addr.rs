//! Guest virtual addresses.

use std::fmt;

/// A guest virtual address, as seen through the selected vCPU's page tables.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(pub u64);

impl VirtAddr {
    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + off`, wrapping at the top of the address space as the CPU does.
    pub const fn add(self, off: u64) -> VirtAddr {
        VirtAddr(self.0.wrapping_add(off))
    }

    /// `self + off`, or `None` if it would wrap past the top of the address space.
    pub fn checked_add(self, off: u64) -> Option<VirtAddr> {
        self.0.checked_add(off).map(VirtAddr)
    }

    /// The start of the `size`-aligned block holding `self`; `size` must be a power of two.
    pub const fn align_down(self, size: u64) -> VirtAddr {
        VirtAddr(self.0 & !(size - 1))
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtAddr({:#x})", self.0)
    }
}

/// Bare lower-case hex without `0x`, as mdb prints addresses.
impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::LowerHex for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl From<u64> for VirtAddr {
    fn from(v: u64) -> Self {
        VirtAddr(v)
    }
}
