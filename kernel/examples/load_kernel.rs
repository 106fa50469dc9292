//! Benchmark: load a kernel image and print what was found and how long it took.
//!
//! `cargo run --release -p qmdb-kernel --example load_kernel -- VMLINUZ`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::KernelImage;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: load_kernel VMLINUZ")?;
    let t = Instant::now();
    let image = KernelImage::open(path.as_ref())?;
    let load = t.elapsed();
    println!(
        "{path}: {:?}, ELF {} bytes, decompressed in {:.3} s",
        image.compression,
        image.elf_bytes().len(),
        load.as_secs_f64()
    );
    for name in [
        ".text",
        ".rodata",
        ".BTF",
        ".orc_unwind_ip",
        ".orc_unwind",
        ".data",
        ".notes",
    ] {
        match image.section(name) {
            Some(s) => println!("  {name:<16} {:#x} {:#x} bytes", s.addr, s.data.len()),
            None => println!("  {name:<16} absent"),
        }
    }
    if let Some(id) = image.build_id() {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        println!("  build id {hex}");
    }
    Ok(())
}
