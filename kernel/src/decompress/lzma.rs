//! .lzma (`lzma -9`) and .xz (scripts/xz_wrap.sh, with a BCJ filter) payloads, by lzma-rust2.

use super::{read_bounded, DecompressError};
use lzma_rust2::{LzmaReader, XzReader};

/// The largest dictionary a kernel's xz_wrap.sh asks for (128 MiB from 6.12 on; `lzma -9`
/// takes 64 MiB).
const KERNEL_DICT: usize = 128 << 20;

/// The memory, in KiB, a decoder may take: a dictionary as large as the output may be, or as
/// the kernel's, plus room for the probability model and buffers. A header asking for more is
/// an error before anything is allocated.
fn mem_limit_kb(limit: usize) -> u32 {
    let bytes = limit.max(KERNEL_DICT) as u64 + (16 << 20);
    u32::try_from(bytes / 1024).unwrap_or(u32::MAX - 1)
}

/// The .lzma format: properties, dictionary size and decompressed size (all ones from a pipe:
/// the stream then ends with an end marker), then the LZMA stream.
pub(super) fn lzma(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let reader = LzmaReader::new_mem_limit(data, mem_limit_kb(limit), None)
        .map_err(|e| DecompressError::Decoder(e.to_string()))?;
    read_bounded(reader, limit)
}

/// One .xz stream (filters LZMA2 and BCJ, checks verified); what follows it is ignored.
pub(super) fn xz(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    read_bounded(
        XzReader::new_mem_limit(data, false, mem_limit_kb(limit)),
        limit,
    )
}
