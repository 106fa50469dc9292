//! lzop files (the kernel's `lzop -9`): a header, then LZO1X blocks, each with checksums.
//!
//! The format, as lzop 1.04 writes and reads it (all numbers big-endian):
//!
//! - the magic `89 4c 5a 4f 00 0d 0a 1a 0a`;
//! - the header: version (u16), library version (u16), from version 0x0940 on the version
//!   needed to extract (u16), method (u8: 1 to 3 are LZO1X), from 0x0940 on the level (u8),
//!   flags (u32), a filter (u32) if `F_H_FILTER`, mode (u32), mtime (u32, then a u32 high
//!   half from 0x0940 on), the name (u8 length, then the bytes), the checksum of the header
//!   from the version on (u32: Adler-32, or CRC-32 with `F_H_CRC32`), then an extra field
//!   (u32 length, bytes, u32 checksum) if `F_H_EXTRA_FIELD`;
//! - blocks: decompressed size (u32; 0 ends the file), compressed size (u32), the checksums
//!   of the decompressed data the flags ask for (Adler-32, then CRC-32), the checksums of the
//!   compressed data the flags ask for (only when the block is compressed), then the data:
//!   stored as is when both sizes are equal, LZO1X otherwise.
//!
//! Every checksum is verified (the kernel's own unlzo verifies none). Filters (only ever
//! written by lzop's undocumented `--filter`) are refused, as the kernel refuses them.

use super::too_large;

const MAGIC: [u8; 9] = [0x89, b'L', b'Z', b'O', 0, 0x0d, 0x0a, 0x1a, 0x0a];

const F_ADLER32_D: u32 = 0x1;
const F_ADLER32_C: u32 = 0x2;
const F_H_EXTRA_FIELD: u32 = 0x40;
const F_CRC32_D: u32 = 0x100;
const F_CRC32_C: u32 = 0x200;
const F_H_FILTER: u32 = 0x800;
const F_H_CRC32: u32 = 0x1000;

/// lzop's largest block (its `MAX_BLOCK_SIZE`); `lzop -9` writes 256 KiB blocks.
const MAX_BLOCK: usize = 64 << 20;
/// The first version of the format with the "needed to extract" version, level and mtime high.
const V0940: u16 = 0x0940;

/// Reads big-endian numbers and slices off the data, with the offset for errors.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated at offset {:#x}: {what} needs {n} bytes, {} left",
                self.pos,
                self.data.len() - self.pos
            ));
        };
        let b = &self.data[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.bytes(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn adler32(data: &[u8]) -> u32 {
    adler2::adler32_slice(data)
}

fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Compares a checksum read from the file with the one computed.
fn check(what: &str, offset: usize, stored: u32, computed: u32) -> Result<(), String> {
    if stored == computed {
        Ok(())
    } else {
        Err(format!(
            "{what} at offset {offset:#x} is {stored:#010x}, the data gives {computed:#010x}"
        ))
    }
}

/// Decompresses an lzop file of at most `limit` bytes; what follows its end block is ignored.
pub(super) fn lzop(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut c = Cursor { data, pos: 0 };
    if c.bytes(MAGIC.len(), "the magic")? != MAGIC {
        return Err("not an lzop file (bad magic)".into());
    }
    let flags = header(&mut c)?;
    let mut out = Vec::new();
    loop {
        let at = c.pos;
        let dst_len = c.u32("a block's decompressed size")?;
        if dst_len == 0 {
            break;
        }
        if dst_len == u32::MAX {
            return Err(format!("block at offset {at:#x}: a split lzop file"));
        }
        let dst_len = dst_len as usize;
        if dst_len > MAX_BLOCK {
            return Err(format!(
                "block at offset {at:#x}: {dst_len} bytes, more than lzop's 64 MiB blocks"
            ));
        }
        if out.len() + dst_len > limit {
            return Err(too_large(limit));
        }
        let src_len = c.u32("a block's compressed size")? as usize;
        if src_len == 0 || src_len > dst_len {
            return Err(format!(
                "block at offset {at:#x}: {src_len} bytes compressed, {dst_len} decompressed"
            ));
        }
        let compressed = src_len < dst_len;
        let mut sums = [None; 4];
        for (i, flag) in [F_ADLER32_D, F_CRC32_D, F_ADLER32_C, F_CRC32_C]
            .into_iter()
            .enumerate()
        {
            // The checksums of the compressed data are only there when it is compressed.
            if flags & flag != 0 && (i < 2 || compressed) {
                sums[i] = Some(c.u32("a block's checksum")?);
            }
        }
        let data_at = c.pos;
        let src = c.bytes(src_len, "a block's data")?;
        let start = out.len();
        if compressed {
            if let Some(sum) = sums[2] {
                check(
                    "Adler-32 of the compressed block",
                    data_at,
                    sum,
                    adler32(src),
                )?;
            }
            if let Some(sum) = sums[3] {
                check("CRC-32 of the compressed block", data_at, sum, crc32(src))?;
            }
            out.resize(start + dst_len, 0);
            let n = lzokay::decompress::decompress(src, &mut out[start..]).map_err(|e| {
                format!("LZO1X block at offset {data_at:#x} ({src_len} bytes): {e}")
            })?;
            if n != dst_len {
                return Err(format!(
                    "LZO1X block at offset {data_at:#x}: {n} bytes, the header says {dst_len}"
                ));
            }
        } else {
            out.extend_from_slice(src);
        }
        let block = &out[start..];
        if let Some(sum) = sums[0] {
            check("Adler-32 of the block", data_at, sum, adler32(block))?;
        }
        if let Some(sum) = sums[1] {
            check("CRC-32 of the block", data_at, sum, crc32(block))?;
        }
    }
    Ok(out)
}

/// Reads (and checks) the header after the magic; gives its flags.
fn header(c: &mut Cursor) -> Result<u32, String> {
    let start = c.pos;
    let version = c.u16("the version")?;
    if version < 0x0900 {
        return Err(format!("lzop format version {version:#06x} is too old"));
    }
    c.u16("the library version")?;
    if version >= V0940 {
        let needed = c.u16("the version needed to extract")?;
        if needed < 0x0900 {
            return Err(format!("lzop format version {needed:#06x} is not known"));
        }
    }
    let method = c.u8("the method")?;
    if !(1..=3).contains(&method) {
        return Err(format!("lzop method {method} is not LZO1X"));
    }
    if version >= V0940 {
        c.u8("the level")?;
    }
    let flags = c.u32("the flags")?;
    if flags & F_H_FILTER != 0 {
        return Err("lzop files with a filter are not supported".into());
    }
    c.u32("the mode")?;
    c.u32("the mtime")?;
    if version >= V0940 {
        c.u32("the mtime's high half")?;
    }
    let name_len = c.u8("the name's length")?;
    c.bytes(name_len.into(), "the name")?;
    let header = &c.data[start..c.pos];
    let at = c.pos;
    let sum = c.u32("the header's checksum")?;
    if flags & F_H_CRC32 != 0 {
        check("CRC-32 of the header", at, sum, crc32(header))?;
    } else {
        check("Adler-32 of the header", at, sum, adler32(header))?;
    }
    if flags & F_H_EXTRA_FIELD != 0 {
        let start = c.pos;
        let len = c.u32("the extra field's length")? as usize;
        c.bytes(len, "the extra field")?;
        let field = &c.data[start..c.pos];
        let at = c.pos;
        let sum = c.u32("the extra field's checksum")?;
        if flags & F_H_CRC32 != 0 {
            check("CRC-32 of the extra field", at, sum, crc32(field))?;
        } else {
            check("Adler-32 of the extra field", at, sum, adler32(field))?;
        }
    }
    Ok(flags)
}
