//! Decompression of a bzImage payload, whatever the kernel was built with.
//!
//! Every payload arch/x86/boot/compressed/Makefile can make, with the commands of
//! scripts/Makefile.lib: gzip (`gzip -n -9`), bzip2 (`bzip2 -9`), lzma (`lzma -9`, the .lzma
//! "alone" format), xz (scripts/xz_wrap.sh: `xz --check=crc32 --x86 --lzma2=,dict=32MiB`, so
//! with the x86 BCJ filter; 128 MiB from 6.12 on), lzo (`lzop -9`, the lzop file format), lz4
//! (`lz4 -l`, the legacy frame) and zstd (`zstd -22 --ultra`).
//!
//! The format is recognised by its magic bytes. Every format may be followed by trailing bytes
//! (`size_append` adds the decompressed size as 4 bytes), which are ignored. The output is
//! bounded (1 GiB for a kernel, less where a caller asks), and so is the memory a decoder may
//! take for its dictionary.

mod lz4;
mod lzma;
mod lzo;
#[cfg(test)]
mod tests;

use super::ImageError;
use std::io::Read;

/// Why a payload does not decompress: what was wrong, and where in the compressed data when
/// the format says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The output would be larger than the limit (1 GiB for a kernel, less where asked).
    #[error("{}", too_large_message(*limit))]
    TooLarge { limit: usize },
    /// The decoder library refused the stream (its own message; it gives no offset).
    #[error("{0}")]
    Decoder(String),
    /// A field or block runs past the end of the data.
    #[error("truncated at offset {offset:#x}: {what} needs {needed} bytes, {left} left")]
    Truncated {
        offset: usize,
        what: &'static str,
        needed: usize,
        left: usize,
    },
    /// A checksum stored in the stream does not match the data it covers.
    #[error("{what} at offset {offset:#x} is {stored:#010x}, the data gives {computed:#010x}")]
    Checksum {
        what: &'static str,
        offset: usize,
        stored: u32,
        computed: u32,
    },
    /// A malformed field or block at `offset`.
    #[error("at offset {offset:#x}: {what}")]
    Corrupt { offset: usize, what: String },
    /// A well-formed stream using a feature kernels never use (and qmdb does not read).
    #[error("{0}")]
    Unsupported(String),
}

/// The largest decompressed kernel accepted (a kernel is tens of MiB).
pub const MAX_KERNEL: usize = 1 << 30;

/// A compression format of a bzImage payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `gzip -n -9`.
    Gzip,
    /// `bzip2 -9`.
    Bzip2,
    /// `lzma -9` (the .lzma "alone" format).
    Lzma,
    /// `xz` with the x86 BCJ filter.
    Xz,
    /// `lzop -9`.
    Lzo,
    /// `lz4 -l` (the legacy frame).
    Lz4,
    /// `zstd -22 --ultra`.
    Zstd,
}

impl Compression {
    /// The format of `data`, from its magic bytes.
    pub fn detect(data: &[u8]) -> Option<Compression> {
        match data {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [b'B', b'Z', b'h', ..] => Some(Compression::Bzip2),
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Some(Compression::Xz),
            [0x5d, 0, 0, ..] => Some(Compression::Lzma),
            [0x89, b'L', b'Z', b'O', ..] => Some(Compression::Lzo),
            [0x02, 0x21, 0x4c, 0x18, ..] => Some(Compression::Lz4),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Decompresses a bzImage payload, of at most [`MAX_KERNEL`] bytes.
pub fn decompress(data: &[u8]) -> Result<(Compression, Vec<u8>), ImageError> {
    decompress_limited(data, MAX_KERNEL)
}

/// Decompresses a bzImage payload of at most `limit` bytes (at most [`MAX_KERNEL`]): more is an
/// error, found before more than about `limit` bytes are allocated for the output.
pub fn decompress_limited(data: &[u8], limit: usize) -> Result<(Compression, Vec<u8>), ImageError> {
    let limit = limit.min(MAX_KERNEL);
    let kind = Compression::detect(data).ok_or(ImageError::UnknownCompression)?;
    let out = match kind {
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data), limit),
        Compression::Bzip2 => read_bounded(bzip2::read::BzDecoder::new(data), limit),
        Compression::Zstd => zstd::stream::read::Decoder::new(data)
            .map_err(|e| DecompressError::Decoder(e.to_string()))
            .and_then(|dec| read_bounded(dec.single_frame(), limit)),
        Compression::Xz => lzma::xz(data, limit),
        Compression::Lzma => lzma::lzma(data, limit),
        Compression::Lz4 => lz4::legacy(data, limit),
        Compression::Lzo => lzo::lzop(data, limit),
    }
    .map_err(|message| ImageError::Decompress {
        format: kind,
        message,
    })?;
    Ok((kind, out))
}

/// Everything `r` gives, as long as that is at most `limit` bytes.
fn read_bounded(r: impl Read, limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Decoder(e.to_string()))?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

/// The message of an output larger than `limit`.
fn too_large_message(limit: usize) -> String {
    if limit == MAX_KERNEL {
        "decompressed kernel larger than 1 GiB".into()
    } else {
        format!("decompressed data larger than the limit of {limit} bytes")
    }
}
