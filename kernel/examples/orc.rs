//! Benchmark and demo: read a kernel image's ORC tables, print the format, the parse time,
//! the entry counts by kind, the size and speed of the cache form, and the entries of a
//! few functions.
//!
//! `cargo run --release -p qmdb-kernel --example orc -- VMLINUZ [FUNCTION...]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::orc::{OrcKind, OrcTable};
use qmdb_kernel::{KernelImage, SymbolTable};
use std::collections::BTreeMap;
use std::time::Instant;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: orc VMLINUZ [FUNCTION...]")?;
    let mut functions: Vec<String> = args.collect();
    if functions.is_empty() {
        functions = ["__schedule", "entry_SYSCALL_64"]
            .map(String::from)
            .to_vec();
    }

    let t = Instant::now();
    let image = KernelImage::open(path.as_ref())?;
    println!("{path}: image loaded in {:.1} ms", ms(t));
    let t = Instant::now();
    let table = OrcTable::from_image(&image)?.ok_or("the image has no ORC sections")?;
    let parse = ms(t);
    let t = Instant::now();
    let again = OrcTable::from_image(&image)?;
    let reparse = ms(t);
    drop(again);
    println!(
        "  {} entries, format {:?}, .orc_header {}; parsed in {parse:.1} ms (again: {reparse:.1} ms)",
        table.len(),
        table.format(),
        table.header().map_or("absent".to_string(), |h| format!("{} bytes", h.len())),
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (_, e) in table.iter() {
        *kinds.entry(format!("{:?}", e.kind)).or_default() += 1;
    }
    println!("  by kind: {kinds:?}");
    let signal = table.iter().filter(|(_, e)| e.signal).count();
    println!("  with signal: {signal}");

    let t = Instant::now();
    let bytes = table.to_bytes();
    let write = ms(t);
    let t = Instant::now();
    let back = OrcTable::from_bytes(&bytes)?;
    let read = ms(t);
    println!(
        "  cache form: {} bytes, written in {write:.1} ms, read back in {read:.1} ms, equal: {}",
        bytes.len(),
        back == table
    );

    let symbols = SymbolTable::from_image(&image)?;
    for name in &functions {
        let Some(sym) = symbols.lookup_name(name) else {
            println!("  {name}: no such symbol");
            continue;
        };
        println!("  {name} ({:#x}):", sym.addr);
        let entries = table
            .iter()
            .skip_while(|&(ip, _)| ip < sym.addr)
            .take(8)
            .take_while(|&(ip, _)| ip < sym.addr + 0x1000);
        for (ip, e) in entries {
            let kind = match e.kind {
                OrcKind::Call => "call",
                OrcKind::Regs => "regs",
                OrcKind::RegsPartial => "regs-partial",
                OrcKind::EndOfStack => "end-of-stack",
                OrcKind::Undefined => "undefined",
            };
            println!(
                "    +{:#06x} {kind:<12} sp={:?}{:+} bp={:?}{:+}{}",
                ip - sym.addr,
                e.sp_reg,
                e.sp_offset,
                e.bp_reg,
                e.bp_offset,
                if e.signal { " signal" } else { "" }
            );
        }
    }
    Ok(())
}
