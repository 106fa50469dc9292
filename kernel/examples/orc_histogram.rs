//! Histogram of the raw ORC entry bit fields of a kernel image (no symbols needed): for each
//! `(sp_reg, bp_reg, type, high bits)` of `.orc_unwind`, the count and the first ip and raw
//! bytes, plus the `.orc_header` bytes. Used to check which registers and types a kernel
//! emits (see kernel/src/orc/entry.rs).
//!
//! `cargo run --release -p qmdb-kernel --example orc_histogram -- VMLINUZ [--dump]`
//!
//! `--dump` also prints every entry as `ip raw-bytes` (to match against a System.map).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::orc::{OrcKind, OrcReg, OrcTable};
use qmdb_kernel::KernelImage;
use std::collections::BTreeMap;

/// `(sp_reg, bp_reg, type, bits 11..16)` of one entry.
type Key = (u16, u16, u16, u16);
/// Count, first ip, first raw bytes.
type Seen = (usize, u64, [u8; 6]);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: orc_histogram VMLINUZ [--dump]")?;
    let dump = std::env::args().nth(2).as_deref() == Some("--dump");
    let image = KernelImage::open(path.as_ref())?;
    let ip_sec = image.section(".orc_unwind_ip").ok_or("no .orc_unwind_ip")?;
    let (ip_addr, ip_data) = (ip_sec.addr, ip_sec.data);
    let unwind = image.section(".orc_unwind").ok_or("no .orc_unwind")?.data;
    match image.section(".orc_header") {
        Some(h) => println!(".orc_header: {:02x?}", h.data),
        None => println!(".orc_header: absent"),
    }
    println!("{} entries", unwind.len() / 6);
    let mut hist: BTreeMap<Key, Seen> = BTreeMap::new();
    for (i, c) in unwind.chunks_exact(6).enumerate() {
        let flags = u16::from_le_bytes([c[4], c[5]]);
        let key = (
            flags & 0xf,
            (flags >> 4) & 0xf,
            (flags >> 8) & 7,
            flags >> 11,
        );
        let r = &ip_data[4 * i..4 * i + 4];
        let rel = i32::from_le_bytes([r[0], r[1], r[2], r[3]]);
        let ip = ip_addr
            .wrapping_add(4 * i as u64)
            .wrapping_add(i64::from(rel) as u64);
        let raw = [c[0], c[1], c[2], c[3], c[4], c[5]];
        if dump {
            println!("{ip:x} {}", raw.map(|b| format!("{b:02x}")).join(""));
        }
        hist.entry(key).or_insert((0, ip, raw)).0 += 1;
    }
    println!("sp_reg bp_reg type hi  count   first-ip            raw");
    for ((sp, bp, ty, hi), (n, ip, raw)) in hist {
        println!("{sp:6} {bp:6} {ty:4} {hi:2} {n:7}   {ip:#x}  {raw:02x?}");
    }

    // The same entries as qmdb reads them: format, and each (sp_reg, bp_reg, kind, signal)
    // with whether the walk accepts it (frame.rs: CFA bases, and UNDEFINED/PREV_SP/BP).
    let table = OrcTable::from_image(&image)?.ok_or("no ORC table")?;
    println!("qmdb reads format {:?}", table.format());
    let mut decoded: BTreeMap<String, usize> = BTreeMap::new();
    for (_, e) in table.iter() {
        let base = matches!(
            e.sp_reg,
            OrcReg::Sp
                | OrcReg::Bp
                | OrcReg::SpIndirect
                | OrcReg::BpIndirect
                | OrcReg::R10
                | OrcReg::R13
                | OrcReg::Di
                | OrcReg::Dx
                | OrcReg::Ax
        );
        let bp = matches!(e.bp_reg, OrcReg::Undefined | OrcReg::PrevSp | OrcReg::Bp);
        let handled = match e.kind {
            OrcKind::Undefined | OrcKind::EndOfStack => "end",
            _ if base && bp => "walks",
            _ => "REJECTED",
        };
        let key = format!(
            "{:<9} sp={:<10?} bp={:<9?} signal={:<5} {handled}",
            format!("{:?}", e.kind),
            e.sp_reg,
            e.bp_reg,
            e.signal
        );
        *decoded.entry(key).or_default() += 1;
    }
    for (k, n) in decoded {
        println!("  {n:7}  {k}");
    }
    Ok(())
}
