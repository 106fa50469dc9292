//! Little-endian reads at an offset of untrusted bytes: `None` when the value would run past
//! the end, never a panic. Callers turn `None` into an error naming the table and offset.

/// The `N` bytes at `off`.
pub(crate) fn array_at<const N: usize>(data: &[u8], off: usize) -> Option<[u8; N]> {
    data.get(off..)?.first_chunk::<N>().copied()
}

/// The u16 at `off`.
pub(crate) fn u16_at(data: &[u8], off: usize) -> Option<u16> {
    array_at(data, off).map(u16::from_le_bytes)
}

/// The u32 at `off`.
pub(crate) fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    array_at(data, off).map(u32::from_le_bytes)
}

/// The u64 at `off`.
pub(crate) fn u64_at(data: &[u8], off: usize) -> Option<u64> {
    array_at(data, off).map(u64::from_le_bytes)
}
