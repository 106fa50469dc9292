//! ORC tables of the real Debian kernels that `scripts/guest setup` caches (6.1 and 6.12):
//! format detection, counts, order, and entries at known functions. A missing kernel fails
//! the test with the command that provides it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::fixture::kernel;
use qmdb_kernel::orc::{OrcEntry, OrcFormat, OrcKind, OrcReg, OrcTable};
use qmdb_kernel::{KernelImage, SymbolTable};
use std::time::Instant;

struct Loaded {
    image: KernelImage,
    table: OrcTable,
    symbols: SymbolTable,
}

fn load(version: &str) -> Loaded {
    let image = kernel(version);
    let t = Instant::now();
    let table = OrcTable::from_image(&image)
        .unwrap_or_else(|e| panic!("{version}: {e}"))
        .unwrap_or_else(|| panic!("{version}: no ORC sections"));
    eprintln!(
        "{version}: {} ORC entries ({:?}) parsed in {:.1} ms",
        table.len(),
        table.format(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let symbols = SymbolTable::from_image(&image).unwrap_or_else(|e| panic!("{version}: {e}"));
    Loaded {
        image,
        table,
        symbols,
    }
}

fn addr(l: &Loaded, name: &str) -> u64 {
    l.symbols
        .lookup_name(name)
        .unwrap_or_else(|| panic!("no symbol {name}"))
        .addr
}

/// The entries whose ip lies in function `name` (up to the next symbol).
fn entries_in(l: &Loaded, name: &str) -> Vec<(u64, OrcEntry)> {
    let start = addr(l, name);
    l.table
        .iter()
        .skip_while(|&(ip, _)| ip < start)
        .take_while(|&(ip, _)| {
            l.symbols
                .lookup_addr(ip)
                .is_some_and(|(s, _)| s.addr == start)
        })
        .collect()
}

fn check_common(l: &Loaded, version: &str) {
    let t = &l.table;
    assert!(
        (200_000..2_000_000).contains(&t.len()),
        "{version}: {} entries",
        t.len()
    );
    let ips: Vec<u64> = t.iter().map(|(ip, _)| ip).collect();
    assert!(
        ips.windows(2).all(|w| w[0] <= w[1]),
        "{version}: ips not sorted"
    );
    let text = l.image.section(".text").expect(".text");
    let coverage = t.coverage().expect("non-empty");
    assert_eq!(
        *coverage.start(),
        text.addr,
        "{version}: first ip is _stext"
    );
    assert!(
        *coverage.end() > addr(l, "_einittext"),
        "{version}: covers .init.text"
    );

    // Most entries are CALL frames based on SP, at function entry CFA = sp + 8.
    let calls = t.iter().filter(|(_, e)| e.kind == OrcKind::Call).count();
    assert!(
        calls * 10 > t.len() * 8,
        "{version}: {calls} CALL entries of {}",
        t.len()
    );

    for name in [
        "schedule",
        "__schedule",
        "do_nanosleep",
        "vfs_read",
        "do_sys_poll",
    ] {
        let a = addr(l, name);
        let first = t
            .lookup(a, 0)
            .unwrap_or_else(|| panic!("{version}: no entry for {name}"));
        assert_eq!(
            (first.kind, first.sp_reg, first.sp_offset),
            (OrcKind::Call, OrcReg::Sp, 8),
            "{version}: {name} at its first byte: {first:?}"
        );
        // A slide moves the lookup with the text.
        assert_eq!(t.lookup(a + 0x1e0_0000, 0x1e0_0000), Some(first));
        let body = entries_in(l, name);
        assert!(
            body.len() >= 2,
            "{version}: {name} has {} entries",
            body.len()
        );
        for (ip, e) in body {
            assert!(
                matches!(e.kind, OrcKind::Call | OrcKind::Undefined),
                "{version}: {name}+{:#x}: {e:?}",
                ip - a
            );
            if e.kind == OrcKind::Call {
                assert!(
                    matches!(e.sp_reg, OrcReg::Sp | OrcReg::Bp)
                        && (8..=1024).contains(&e.sp_offset)
                        && e.sp_offset % 8 == 0,
                    "{version}: {name}+{:#x}: {e:?}",
                    ip - a
                );
            }
        }
    }

    // The syscall entry starts at the bottom of the stack, then describes the pt_regs
    // it builds: REGS entries based on SP, exact ips (signal).
    let entry = addr(l, "entry_SYSCALL_64");
    let first = t.lookup(entry, 0).expect("entry_SYSCALL_64");
    assert_eq!(first.kind, OrcKind::EndOfStack, "{version}: {first:?}");
    // (Its labels, like entry_SYSCALL_64_after_hwframe, are symbols: take a fixed span.)
    let body: Vec<(u64, OrcEntry)> = t
        .iter()
        .filter(|&(ip, _)| (entry..entry + 0x200).contains(&ip))
        .collect();
    assert!(
        body.iter()
            .any(|(_, e)| e.kind == OrcKind::Regs && e.sp_reg == OrcReg::Sp && e.signal),
        "{version}: entry_SYSCALL_64: {body:?}"
    );

    // An interrupt entry: the CPU pushed only the iret frame (and an error code slot).
    let irq = addr(l, "asm_sysvec_apic_timer_interrupt");
    let first = t.lookup(irq, 0).expect("asm_sysvec_apic_timer_interrupt");
    assert_eq!(
        (first.kind, first.sp_reg, first.sp_offset, first.signal),
        (OrcKind::RegsPartial, OrcReg::Sp, 0, true),
        "{version}: {first:?}"
    );

    // Outside the table.
    assert_eq!(t.lookup(*coverage.start() - 1, 0), None);
    assert_eq!(t.lookup(*coverage.end() + 1, 0), None);

    // The cache form round-trips.
    let t0 = Instant::now();
    let bytes = t.to_bytes();
    let back = OrcTable::from_bytes(&bytes).expect("from_bytes");
    eprintln!(
        "{version}: cache form {} bytes ({:.1} per entry), written and read back in {:.1} ms",
        bytes.len(),
        bytes.len() as f64 / t.len() as f64,
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(&back, t);
}

#[test]
fn orc_6_1() {
    let l = load("6.1");
    assert_eq!(l.table.format(), OrcFormat::Legacy);
    assert_eq!(l.table.header(), None);
    let raw = l.image.section(".orc_unwind").expect(".orc_unwind");
    assert_eq!(OrcTable::guess_format(raw.data), Some(OrcFormat::Legacy));
    check_common(&l, "6.1");
    // 6.1's ret_from_fork is the assembly one: end of stack at its first byte.
    let first = l
        .table
        .lookup(addr(&l, "ret_from_fork"), 0)
        .expect("ret_from_fork");
    assert_eq!(first.kind, OrcKind::EndOfStack, "{first:?}");
}

#[test]
fn orc_6_12() {
    let l = load("6.12");
    assert_eq!(l.table.format(), OrcFormat::Current);
    assert_eq!(l.table.header().map(<[u8]>::len), Some(20));
    let raw = l.image.section(".orc_unwind").expect(".orc_unwind");
    assert_eq!(OrcTable::guess_format(raw.data), Some(OrcFormat::Current));
    check_common(&l, "6.12");
    // 6.12 split it: ret_from_fork_asm is the bottom, ret_from_fork a C function.
    let asm = l
        .table
        .lookup(addr(&l, "ret_from_fork_asm"), 0)
        .expect("ret_from_fork_asm");
    assert_eq!(asm.kind, OrcKind::EndOfStack, "{asm:?}");
    let c = l
        .table
        .lookup(addr(&l, "ret_from_fork"), 0)
        .expect("ret_from_fork");
    assert_eq!((c.kind, c.sp_offset), (OrcKind::Call, 8), "{c:?}");
    // UNDEFINED entries exist (entry code, terminators) and are kept as such.
    assert!(l.table.iter().any(|(_, e)| e.kind == OrcKind::Undefined));
}
