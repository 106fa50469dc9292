//! Decompression of a bzImage payload, whatever the kernel was built with.
//!
//! The format is recognised by its magic bytes. Every format may be followed by trailing bytes
//! (the kernel appends the decompressed size), which are ignored.

use super::ImageError;
use std::io::Read;

/// The largest decompressed kernel accepted (a kernel is tens of MiB).
pub const MAX_KERNEL: usize = 1 << 30;

/// The block size of LZ4's legacy frame format, as the kernel's `lz4 -l` writes it.
const LZ4_LEGACY_BLOCK: usize = 8 << 20;
const LZ4_LEGACY_MAGIC: u32 = 0x184c_2102;

/// A compression format of a bzImage payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Bzip2,
    Lzma,
    Xz,
    Lzo,
    Lz4,
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

/// Decompresses a bzImage payload.
pub fn decompress(data: &[u8]) -> Result<(Compression, Vec<u8>), ImageError> {
    let kind = Compression::detect(data).ok_or(ImageError::UnknownCompression)?;
    let fail = |e: std::io::Error| ImageError::Decompress {
        format: kind,
        message: e.to_string(),
    };
    let out = match kind {
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data)).map_err(fail)?,
        Compression::Bzip2 => read_bounded(bzip2::read::BzDecoder::new(data)).map_err(fail)?,
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::new(data)
                .map_err(fail)?
                .single_frame();
            read_bounded(dec).map_err(fail)?
        }
        Compression::Xz => {
            let mut out = Vec::new();
            let mut input = std::io::BufReader::new(data);
            lzma_rs::xz_decompress(&mut input, &mut out).map_err(|e| ImageError::Decompress {
                format: kind,
                message: e.to_string(),
            })?;
            out
        }
        Compression::Lzma => {
            let mut out = Vec::new();
            let mut input = std::io::BufReader::new(data);
            let opts = lzma_rs::decompress::Options {
                unpacked_size: lzma_rs::decompress::UnpackedSize::ReadFromHeader,
                memlimit: Some(MAX_KERNEL),
                allow_incomplete: false,
            };
            lzma_rs::lzma_decompress_with_options(&mut input, &mut out, &opts).map_err(|e| {
                ImageError::Decompress {
                    format: kind,
                    message: e.to_string(),
                }
            })?;
            out
        }
        Compression::Lz4 => lz4_legacy(data)?,
        Compression::Lzo => {
            return Err(ImageError::Decompress {
                format: kind,
                message: "LZO payloads are not supported".into(),
            })
        }
    };
    Ok((kind, out))
}

fn read_bounded(r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(MAX_KERNEL as u64 + 1).read_to_end(&mut out)?;
    if out.len() > MAX_KERNEL {
        return Err(std::io::Error::other(
            "decompressed kernel larger than 1 GiB",
        ));
    }
    Ok(out)
}

/// LZ4's legacy frame: the magic, then blocks each preceded by its compressed size (u32 LE),
/// each decompressing to at most 8 MiB. The stream ends at the end of the data, at a size that
/// cannot be a block (the appended decompressed size), or at a new magic (a concatenated frame).
fn lz4_legacy(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    let err = |offset: usize, message: String| ImageError::Decompress {
        format: Compression::Lz4,
        message: format!("at offset {offset:#x}: {message}"),
    };
    let mut out = Vec::new();
    let mut pos = 4usize;
    let mut block = vec![0u8; LZ4_LEGACY_BLOCK];
    while let Some(size) = data
        .get(pos..pos + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    {
        if size == LZ4_LEGACY_MAGIC {
            pos += 4;
            continue;
        }
        let size = size as usize;
        let Some(input) = data.get(pos + 4..pos + 4 + size) else {
            break;
        };
        if size == 0 {
            break;
        }
        let n = lz4_flex::block::decompress_into(input, &mut block)
            .map_err(|e| err(pos, e.to_string()))?;
        out.extend_from_slice(block.get(..n).unwrap_or_default());
        if out.len() > MAX_KERNEL {
            return Err(err(pos, "decompressed kernel larger than 1 GiB".into()));
        }
        pos += 4 + size;
    }
    if out.is_empty() {
        return Err(err(4, "no LZ4 block".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_formats() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::detect(&[0x02, 0x21, 0x4c, 0x18]),
            Some(Compression::Lz4)
        );
        assert_eq!(Compression::detect(b"\x7fELF"), None);
    }

    #[test]
    fn gzip_and_zstd_with_trailing_size() {
        let payload = b"\x7fELF pretend kernel".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&payload).unwrap();
        let mut gz = gz.finish().unwrap();
        gz.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        assert_eq!(
            decompress(&gz).unwrap(),
            (Compression::Gzip, payload.clone())
        );

        let mut zs = zstd::encode_all(&payload[..], 3).unwrap();
        zs.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        assert_eq!(decompress(&zs).unwrap(), (Compression::Zstd, payload));
    }

    #[test]
    fn lz4_legacy_frames() {
        let payload = b"kernel text ".repeat(1000);
        let block = lz4_flex::block::compress(&payload);
        let mut data = LZ4_LEGACY_MAGIC.to_le_bytes().to_vec();
        data.extend_from_slice(&(block.len() as u32).to_le_bytes());
        data.extend_from_slice(&block);
        data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        assert_eq!(decompress(&data).unwrap(), (Compression::Lz4, payload));
    }

    #[test]
    fn corrupt_payloads_are_errors() {
        let mut data = LZ4_LEGACY_MAGIC.to_le_bytes().to_vec();
        data.extend_from_slice(&8u32.to_le_bytes());
        data.extend_from_slice(&[0xff; 8]);
        assert!(matches!(
            decompress(&data),
            Err(ImageError::Decompress { .. })
        ));
        assert!(matches!(
            decompress(b"nope"),
            Err(ImageError::UnknownCompression)
        ));
        assert!(decompress(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]).is_err());
    }
}
