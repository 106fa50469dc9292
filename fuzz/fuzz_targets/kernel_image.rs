//! A kernel file: bzImage header, payload decompression, the ELF inside and the banner search.
//! Any bytes must give an image or an error, never a panic or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_kernel::{find_banner, KernelImage};

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = KernelImage::from_bytes(data.to_vec()) {
        let _ = image.build_id();
        let _ = image.section(".rodata");
        let _ = find_banner(&image);
    }
});
