//! Benchmark and demo: parse a kernel image's `.BTF`, print the parse time, the type count,
//! `::sizeof task_struct` and the offsets of a few `task_struct` members.
//!
//! `cargo run --release -p qmdb-kernel --example btf -- VMLINUZ [TYPE [MEMBER...]]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::{Btf, KernelImage};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: btf VMLINUZ [TYPE [MEMBER...]]")?;
    let ty = args.next().unwrap_or_else(|| "task_struct".to_string());
    let mut members: Vec<String> = args.collect();
    if members.is_empty() {
        members = ["pid", "comm", "tasks", "thread.sp", "stack"]
            .map(String::from)
            .to_vec();
    }

    let image = KernelImage::open(path.as_ref())?;
    let section = image
        .section(".BTF")
        .ok_or("the image has no .BTF section")?;
    let t = Instant::now();
    let btf = Btf::parse(section.data)?;
    let parse = t.elapsed();
    // Again, for a warm figure (the first parse also faults the pages in).
    let t = Instant::now();
    let again = Btf::parse(section.data)?;
    let reparse = t.elapsed();
    drop(again);
    println!(
        "{path}: .BTF {} bytes, {} types, parsed in {:.1} ms (again: {:.1} ms)",
        section.data.len(),
        btf.type_count(),
        parse.as_secs_f64() * 1e3,
        reparse.as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let ct = btf.find(&ty)?;
    let name = btf.ctype_name(&ct);
    let size = btf.size_of_ctype(&ct)?;
    println!("sizeof ({name}) = {size:#x}");
    for m in &members {
        match btf.member(ct.base, m) {
            Ok(info) => {
                let bits = if info.bit_offset % 8 != 0 || info.bitfield_size != 0 {
                    format!(".{} :{}", info.bit_offset % 8, info.bitfield_size)
                } else {
                    String::new()
                };
                println!(
                    "offsetof ({name}, {m}) = {:#x}{bits}, sizeof (...->{m}) = {:#x}  [{}]",
                    info.byte_offset(),
                    btf.size_of(info.ty).unwrap_or(0),
                    btf.type_name(info.ty)
                );
            }
            Err(e) => println!("offsetof ({name}, {m}): {e}"),
        }
    }
    println!("lookups took {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    Ok(())
}
