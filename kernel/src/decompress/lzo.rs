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

use super::DecompressError;

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
    fn truncated(&self, needed: usize, what: &'static str) -> DecompressError {
        DecompressError::Truncated {
            offset: self.pos,
            what,
            needed,
            left: self.data.len().saturating_sub(self.pos),
        }
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecompressError> {
        let b = self
            .data
            .get(self.pos..)
            .and_then(|rest| rest.get(..n))
            .ok_or_else(|| self.truncated(n, what))?;
        self.pos += n;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecompressError> {
        let (&b, _) = self
            .data
            .get(self.pos..)
            .and_then(<[u8]>::split_first_chunk::<N>)
            .ok_or_else(|| self.truncated(N, what))?;
        self.pos += N;
        Ok(b)
    }

    /// The bytes read since `start` (an earlier position).
    fn since(&self, start: usize) -> &'a [u8] {
        self.data.get(start..self.pos).unwrap_or_default()
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecompressError> {
        let [b] = self.array(what)?;
        Ok(b)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecompressError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecompressError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
}

fn adler32(data: &[u8]) -> u32 {
    adler2::adler32_slice(data)
}

fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Compares a checksum read from the file with the one computed.
fn check(
    what: &'static str,
    offset: usize,
    stored: u32,
    computed: u32,
) -> Result<(), DecompressError> {
    if stored == computed {
        Ok(())
    } else {
        Err(DecompressError::Checksum {
            what,
            offset,
            stored,
            computed,
        })
    }
}

fn corrupt(offset: usize, what: String) -> DecompressError {
    DecompressError::Corrupt { offset, what }
}

/// Decompresses an lzop file of at most `limit` bytes; what follows its end block is ignored.
pub(super) fn lzop(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut c = Cursor { data, pos: 0 };
    if c.bytes(MAGIC.len(), "the magic")? != MAGIC {
        return Err(corrupt(0, "not an lzop file (bad magic)".into()));
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
            return Err(DecompressError::Unsupported(format!(
                "block at offset {at:#x}: a split lzop file"
            )));
        }
        let dst_len = dst_len as usize;
        if dst_len > MAX_BLOCK {
            return Err(corrupt(
                at,
                format!("a block of {dst_len} bytes, more than lzop's 64 MiB blocks"),
            ));
        }
        if out.len() + dst_len > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        let src_len = c.u32("a block's compressed size")? as usize;
        if src_len == 0 || src_len > dst_len {
            return Err(corrupt(
                at,
                format!("a block of {src_len} bytes compressed, {dst_len} decompressed"),
            ));
        }
        let compressed = src_len < dst_len;
        let mut sums = [None; 4];
        for (i, (flag, sum)) in [F_ADLER32_D, F_CRC32_D, F_ADLER32_C, F_CRC32_C]
            .into_iter()
            .zip(&mut sums)
            .enumerate()
        {
            // The checksums of the compressed data are only there when it is compressed.
            if flags & flag != 0 && (i < 2 || compressed) {
                *sum = Some(c.u32("a block's checksum")?);
            }
        }
        let [adler_d, crc_d, adler_c, crc_c] = sums;
        let data_at = c.pos;
        let src = c.bytes(src_len, "a block's data")?;
        let decoded;
        let block: &[u8] = if compressed {
            if let Some(sum) = adler_c {
                check(
                    "Adler-32 of the compressed block",
                    data_at,
                    sum,
                    adler32(src),
                )?;
            }
            if let Some(sum) = crc_c {
                check("CRC-32 of the compressed block", data_at, sum, crc32(src))?;
            }
            let mut buf = vec![0u8; dst_len];
            let n = lzokay::decompress::decompress(src, &mut buf)
                .map_err(|e| corrupt(data_at, format!("LZO1X block ({src_len} bytes): {e}")))?;
            if n != dst_len {
                return Err(corrupt(
                    data_at,
                    format!("LZO1X block of {n} bytes, the header says {dst_len}"),
                ));
            }
            decoded = buf;
            &decoded
        } else {
            src
        };
        if let Some(sum) = adler_d {
            check("Adler-32 of the block", data_at, sum, adler32(block))?;
        }
        if let Some(sum) = crc_d {
            check("CRC-32 of the block", data_at, sum, crc32(block))?;
        }
        out.extend_from_slice(block);
    }
    Ok(out)
}

/// Reads (and checks) the header after the magic; gives its flags.
fn header(c: &mut Cursor) -> Result<u32, DecompressError> {
    let start = c.pos;
    let version = c.u16("the version")?;
    if version < 0x0900 {
        return Err(DecompressError::Unsupported(format!(
            "lzop format version {version:#06x} is too old"
        )));
    }
    c.u16("the library version")?;
    if version >= V0940 {
        let needed = c.u16("the version needed to extract")?;
        if needed < 0x0900 {
            return Err(DecompressError::Unsupported(format!(
                "lzop format version {needed:#06x} is not known"
            )));
        }
    }
    let method = c.u8("the method")?;
    if !(1..=3).contains(&method) {
        return Err(DecompressError::Unsupported(format!(
            "lzop method {method} is not LZO1X"
        )));
    }
    if version >= V0940 {
        c.u8("the level")?;
    }
    let flags = c.u32("the flags")?;
    if flags & F_H_FILTER != 0 {
        return Err(DecompressError::Unsupported(
            "lzop files with a filter are not supported".into(),
        ));
    }
    c.u32("the mode")?;
    c.u32("the mtime")?;
    if version >= V0940 {
        c.u32("the mtime's high half")?;
    }
    let name_len = c.u8("the name's length")?;
    c.bytes(name_len.into(), "the name")?;
    let header = c.since(start);
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
        let field = c.since(start);
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
