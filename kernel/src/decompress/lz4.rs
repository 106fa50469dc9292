//! LZ4's legacy frame, as the kernel's `lz4 -l` writes it.

use super::too_large;

/// The block size of the legacy frame: no block decompresses to more.
const BLOCK: usize = 8 << 20;
/// The largest compressed block (LZ4_compressBound of a full block).
const MAX_COMPRESSED: usize = BLOCK + BLOCK / 255 + 16;
/// The magic of a legacy frame; it may also start a concatenated frame.
pub(super) const MAGIC: u32 = 0x184c_2102;

/// The magic, then blocks each preceded by its compressed size (u32 LE), each decompressing to
/// at most 8 MiB. The frame has no end mark: the stream ends at the end of the data, or at a
/// size that cannot be a block: larger than a block can be compressed to, or the last 4 bytes
/// (the size `size_append` adds). A new magic starts a concatenated frame. A block cut short
/// is an error.
pub(super) fn legacy(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let err = |offset: usize, message: String| format!("at offset {offset:#x}: {message}");
    let mut out = Vec::new();
    let mut pos = 4usize;
    // Never more than the limit allows, so a small limit allocates little.
    let mut block = vec![0u8; BLOCK.min(limit.saturating_add(1))];
    while let Some(size) = data
        .get(pos..pos + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    {
        if size == MAGIC {
            pos += 4;
            continue;
        }
        let size = size as usize;
        if size == 0 || size > MAX_COMPRESSED || pos + 4 == data.len() {
            break;
        }
        let Some(input) = data.get(pos + 4..pos + 4 + size) else {
            return Err(err(
                pos,
                format!(
                    "a block of {size} bytes, only {} left: truncated",
                    data.len() - pos - 4
                ),
            ));
        };
        let n = lz4_flex::block::decompress_into(input, &mut block).map_err(|e| match e {
            // The buffer is only smaller than a block when the limit is.
            lz4_flex::block::DecompressError::OutputTooSmall { .. } if block.len() < BLOCK => {
                err(pos, too_large(limit))
            }
            e => err(pos, e.to_string()),
        })?;
        if out.len() + n > limit {
            return Err(err(pos, too_large(limit)));
        }
        out.extend_from_slice(block.get(..n).unwrap_or_default());
        pos += 4 + size;
    }
    if out.is_empty() {
        return Err(err(4, "no LZ4 block".into()));
    }
    Ok(out)
}
