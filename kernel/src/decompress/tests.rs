//! Payloads made by the real tools with the kernel's flags (tests/data/decompress/make.sh), and
//! corrupt, truncated and oversized ones.

use super::*;
use std::io::Write;

macro_rules! data {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/decompress/",
            $name
        ))
        .as_slice()
    };
}

/// What every payload decompresses to (tests/data/decompress/gen_input.py).
const INPUT: &[u8] = data!("input.bin");

/// Every payload, with its format: made by make.sh with the kernel's commands, each followed
/// by the decompressed size as `size_append` writes it.
const PAYLOADS: [(&str, Compression, &[u8]); 9] = [
    ("gzip -n -9", Compression::Gzip, data!("input.bin.gz")),
    ("bzip2 -9", Compression::Bzip2, data!("input.bin.bz2")),
    ("lzma -9", Compression::Lzma, data!("input.bin.lzma")),
    (
        "xz --x86 dict=32MiB",
        Compression::Xz,
        data!("input.bin.xz"),
    ),
    (
        "xz --x86 dict=128MiB",
        Compression::Xz,
        data!("input.bin.xz-128m"),
    ),
    ("lzop -9", Compression::Lzo, data!("input.bin.lzo")),
    ("lz4 -l -9", Compression::Lz4, data!("input.bin.lz4")),
    ("lz4 -l -1", Compression::Lz4, data!("input.bin.lz4-1")),
    (
        "zstd -22 --ultra",
        Compression::Zstd,
        data!("input.bin.zst"),
    ),
];

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
    for (tool, kind, payload) in PAYLOADS {
        assert_eq!(Compression::detect(payload), Some(kind), "{tool}");
    }
}

#[test]
fn the_input_is_elf_like_with_x86_calls() {
    assert_eq!(INPUT.len(), 192 << 10);
    assert_eq!(&INPUT[..4], b"\x7fELF");
    assert!(INPUT.iter().filter(|&&b| b == 0xe8).count() > 5000);
    // The size size_append wrote.
    for (tool, _, payload) in PAYLOADS {
        assert_eq!(
            payload[payload.len() - 4..],
            0x30000u32.to_le_bytes(),
            "{tool}"
        );
    }
}

#[test]
fn kernel_payloads_of_every_format() {
    for (tool, kind, payload) in PAYLOADS {
        match decompress(payload) {
            Ok((k, out)) => {
                assert_eq!(k, kind, "{tool}");
                assert!(out == INPUT, "{tool}: {} bytes, not the input", out.len());
            }
            Err(e) => panic!("{tool}: {e}"),
        }
    }
}

#[test]
fn payloads_without_the_appended_size() {
    for (tool, kind, payload) in PAYLOADS {
        let (k, out) = decompress(&payload[..payload.len() - 4]).unwrap_or_else(|e| {
            panic!("{tool}: {e}");
        });
        assert_eq!(k, kind, "{tool}");
        assert!(out == INPUT, "{tool}");
    }
}

#[test]
fn xz_payload_uses_the_x86_bcj_filter() {
    // The first block header (after the 12-byte stream header) lists its filters: x86 BCJ
    // (id 4), then LZMA2 (id 0x21). Decoding it is what lzma-rs could not do.
    let xz = data!("input.bin.xz");
    let block = &xz[12..12 + (usize::from(xz[12]) + 1) * 4];
    assert_eq!(block[1] & 3, 1, "two filters");
    assert_eq!(&block[2..4], &[0x04, 0x00], "x86 BCJ first");
    assert_eq!(block[4], 0x21, "then LZMA2");
}

#[test]
fn truncated_payloads_are_errors() {
    for (tool, _, payload) in PAYLOADS {
        let body = payload.len() - 4;
        for cut in [
            0,
            1,
            3,
            4,
            12,
            20,
            64,
            body / 3,
            body / 2,
            body - 16,
            body - 1,
        ] {
            match decompress(&payload[..cut]) {
                Err(_) => {}
                Ok((_, out)) => panic!("{tool} cut at {cut}: {} bytes, no error", out.len()),
            }
        }
    }
}

#[test]
fn corrupt_payloads_are_errors_or_not_the_input() {
    for (tool, kind, payload) in PAYLOADS {
        // Formats with a checksum of the data must notice; the others (lzma, lz4 legacy)
        // may give wrong bytes, but not panic.
        let checked = !matches!(kind, Compression::Lzma | Compression::Lz4);
        for at in [10, 40, 100, payload.len() / 2, payload.len() - 40] {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = payload.to_vec();
                bad[at] ^= flip;
                match decompress(&bad) {
                    Err(_) => {}
                    Ok((_, out)) => {
                        assert!(!checked, "{tool}: byte {at} ^ {flip:#x} not noticed");
                        assert!(
                            out != INPUT,
                            "{tool}: byte {at} ^ {flip:#x} changed nothing"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn output_limit_of_every_format() {
    for (tool, kind, payload) in PAYLOADS {
        let (_, out) = decompress_limited(payload, INPUT.len()).unwrap();
        assert_eq!(out.len(), INPUT.len(), "{tool}");
        match decompress_limited(payload, INPUT.len() - 1) {
            Err(ImageError::Decompress { format, message }) => {
                assert_eq!(format, kind, "{tool}");
                assert!(
                    message.to_string().contains("larger than the limit"),
                    "{tool}: {message}"
                );
            }
            other => panic!("{tool}: {other:?}"),
        }
    }
}

/// More than 1 GiB is an error, even from a few KiB of input (here a zstd frame of 8193 RLE
/// blocks of 128 KiB of zeroes): the output stops at the bound, it does not grow until memory
/// runs out.
#[test]
fn one_gib_bound() {
    const RLE_BLOCK: usize = 128 << 10;
    let frame = |blocks: usize| {
        // No content size, no checksum; a 128 KiB window (window log 17).
        let mut data = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, (17 - 10) << 3];
        for i in 0..blocks {
            let last = u32::from(i + 1 == blocks);
            let header = last | 1 << 1 | (RLE_BLOCK as u32) << 3;
            data.extend_from_slice(&header.to_le_bytes()[..3]);
            data.push(0);
        }
        data.extend_from_slice(&[0; 4]); // what size_append would add (a 4 GiB kernel)
        data
    };
    // The frame is well-formed.
    let (_, small) = decompress(&frame(2)).unwrap();
    assert_eq!(small, vec![0; 2 * RLE_BLOCK]);
    // Just past the bound.
    let data = frame(MAX_KERNEL / RLE_BLOCK + 1);
    assert!(data.len() < 40 << 10);
    match decompress(&data) {
        Err(ImageError::Decompress { format, message }) => {
            assert_eq!(format, Compression::Zstd);
            assert!(
                message.to_string().contains("larger than 1 GiB"),
                "{message}"
            )
        }
        other => panic!("{:?}", other.map(|(k, out)| (k, out.len()))),
    }
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
    let mut data = lz4::MAGIC.to_le_bytes().to_vec();
    data.extend_from_slice(&(block.len() as u32).to_le_bytes());
    data.extend_from_slice(&block);
    // A concatenated frame.
    data.extend_from_slice(&lz4::MAGIC.to_le_bytes());
    data.extend_from_slice(&(block.len() as u32).to_le_bytes());
    data.extend_from_slice(&block);
    data.extend_from_slice(&(2 * payload.len() as u32).to_le_bytes());
    assert_eq!(
        decompress(&data).unwrap(),
        (Compression::Lz4, payload.repeat(2))
    );
}

#[test]
fn lzop_blocks_stored_and_compressed() {
    // lzop stores a block it cannot compress: 256 KiB blocks, the second one incompressible.
    let lzo = data!("input.bin.lzo");
    let (_, out) = decompress(lzo).unwrap();
    assert_eq!(out, INPUT);
    // A header whose checksum does not match is refused.
    let mut bad = lzo.to_vec();
    bad[20] ^= 1; // in the mode
    let err = decompress(&bad).unwrap_err().to_string();
    assert!(err.contains("Adler-32 of the header"), "{err}");
    // A method that is not LZO1X is refused.
    let mut bad = lzo.to_vec();
    bad[15] = 0x2b;
    let err = decompress(&bad).unwrap_err().to_string();
    assert!(err.contains("not LZO1X"), "{err}");
}

#[test]
fn corrupt_payloads_are_errors() {
    let mut data = lz4::MAGIC.to_le_bytes().to_vec();
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
