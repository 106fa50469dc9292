//! A bzImage payload of any format (gzip, bzip2, lzma, xz with BCJ, lzop, LZ4 legacy, zstd):
//! any bytes must give the decompressed data or an error, never a panic, a hang or a runaway
//! allocation. The output is bounded at 64 KiB here (the kernel's bound is 1 GiB; the seeds give
//! 512 bytes), so every execution is fast (a bzip2 run-length bomb costs ~1 ms per MiB with
//! coverage instrumentation) and a decompression bomb is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_kernel::decompress::decompress_limited;

const LIMIT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, out)) = decompress_limited(data, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
});
