//! LZ4's legacy frame, as the kernel's `lz4 -l` writes it.

use super::DecompressError;

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
pub(super) fn legacy(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let mut pos = 4usize;
    // Never more than the limit allows, so a small limit allocates little.
    let mut block = vec![0u8; BLOCK.min(limit.saturating_add(1))];
    while let Some((&size, rest)) = data.get(pos..).and_then(<[u8]>::split_first_chunk::<4>) {
        let size = u32::from_le_bytes(size);
        if size == MAGIC {
            pos += 4;
            continue;
        }
        let size = size as usize;
        if size == 0 || size > MAX_COMPRESSED || rest.is_empty() {
            break;
        }
        let Some(input) = rest.get(..size) else {
            return Err(DecompressError::Truncated {
                offset: pos,
                what: "an LZ4 block",
                needed: size,
                left: rest.len(),
            });
        };
        let n = lz4_flex::block::decompress_into(input, &mut block).map_err(|e| match e {
            // The buffer is only smaller than a block when the limit is.
            lz4_flex::block::DecompressError::OutputTooSmall { .. } if block.len() < BLOCK => {
                DecompressError::TooLarge { limit }
            }
            e => DecompressError::Corrupt {
                offset: pos,
                what: format!("LZ4 block: {e}"),
            },
        })?;
        if out.len() + n > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        out.extend_from_slice(block.get(..n).unwrap_or_default());
        pos += 4 + size;
    }
    if out.is_empty() {
        return Err(DecompressError::Corrupt {
            offset: 4,
            what: "no LZ4 block".into(),
        });
    }
    Ok(out)
}
