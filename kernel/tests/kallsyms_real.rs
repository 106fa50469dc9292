//! kallsyms decoded from the real Debian kernels that `scripts/guest setup` caches: the
//! tables are found, their variant is recognised, and what they say holds up against the
//! image itself (the bytes at `linux_banner`, text symbols in executable sections).
//! Missing kernels fail the test with the command that fetches them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::fixture::kernel;
use qmdb_kernel::kallsyms::{self, AddressEncoding, Table};
use qmdb_kernel::symtab::SymbolSource;
use qmdb_kernel::{KernelImage, SymbolTable};
use std::time::Instant;

/// The NUL-terminated string at link address `addr` in `.rodata` or `.data`.
fn string_at(image: &KernelImage, addr: u64) -> String {
    for name in [".rodata", ".data"] {
        let s = image.section(name).unwrap();
        if addr >= s.addr && addr < s.addr + s.data.len() as u64 {
            let bytes = &s.data[(addr - s.addr) as usize..];
            let end = bytes.iter().position(|&b| b == 0).unwrap();
            return String::from_utf8_lossy(&bytes[..end]).into_owned();
        }
    }
    panic!("{addr:#x} is in neither .rodata nor .data");
}

fn check(version: &str, min_symbols: usize, new_order: bool) -> kallsyms::Kallsyms {
    let image = kernel(version);
    let t = Instant::now();
    let k = kallsyms::decode_image(&image).unwrap_or_else(|e| panic!("{version}: {e}"));
    eprintln!(
        "{version}: {} symbols in {:.1} ms; {}; fits {}",
        k.symbols.len(),
        t.elapsed().as_secs_f64() * 1e3,
        k.layout.encoding,
        k.layout.version_hint()
    );
    let l = &k.layout;
    assert!(
        k.symbols.len() >= min_symbols,
        "{version}: {}",
        k.symbols.len()
    );
    assert_eq!(k.symbols.len(), l.num_syms as usize);
    // x86_64 SMP kernels before 6.15 keep per-CPU symbols absolute, based at _text.
    assert_eq!(
        l.encoding,
        AddressEncoding::AbsolutePercpu {
            relative_base: 0xffff_ffff_8100_0000
        },
        "{version}"
    );
    // The 6.4 reorder: offsets after the token index, or before the names.
    assert_eq!(
        l.offsets.start > l.token_index.start,
        new_order,
        "{version}"
    );
    let order: Vec<Table> = l.tables().into_iter().map(|(t, _)| t).collect();
    eprintln!("{version}: table order {order:?}");
    // Both Debian kernels carry kallsyms_seqs_of_names (6.1.y has it too).
    assert_eq!(l.seqs_of_names.as_ref().map(|s| s.1), Some(3), "{version}");

    // What the symbols say about the image.
    let find = |name: &str| {
        k.symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{version}: no {name}"))
    };
    let banner = string_at(&image, find("linux_banner").addr);
    assert!(
        banner.starts_with(&format!("Linux version {version}")),
        "{version}: {banner:?}"
    );
    assert_eq!(find("_text").addr, 0xffff_ffff_8100_0000);
    assert_eq!(find("init_task").kind, 'D');
    assert_eq!(find("schedule").kind, 'T');
    let text = image.section(".text").unwrap();
    let etext = find("_etext").addr;
    assert_eq!(
        etext,
        text.addr + text.data.len() as u64,
        "{version}: _etext"
    );
    assert!(k.symbols.windows(2).all(|w| w[0].addr <= w[1].addr));
    let percpu: Vec<_> = k.symbols.iter().filter(|s| s.kind == 'A').collect();
    assert!(percpu.iter().any(|s| s.name == "runqueues"));
    assert!(percpu.iter().all(|s| s.addr < 0x10_0000), "{version}");
    k
}

#[test]
fn kallsyms_of_debian_6_1() {
    check("6.1", 80_000, false);
}

#[test]
fn kallsyms_of_debian_6_12() {
    check("6.12", 140_000, true);
}

#[test]
fn symbol_table_of_a_real_kernel_and_its_cache() {
    let image = kernel("6.12");
    let table = SymbolTable::from_image(&image).unwrap();
    assert_eq!(table.source(), SymbolSource::Kallsyms);
    let bytes = table.to_bytes();
    let t = Instant::now();
    let back = SymbolTable::from_bytes(&bytes).unwrap();
    eprintln!(
        "6.12: {} symbols, cache {} bytes, loaded in {:.1} ms (debug build: slower)",
        back.len(),
        bytes.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(back.iter().eq(table.iter()));
    for name in [
        "init_task",
        "linux_banner",
        "schedule",
        "_text",
        "runqueues",
    ] {
        assert_eq!(back.lookup_name(name), table.lookup_name(name), "{name}");
    }
    let schedule = table.lookup_name("schedule").unwrap();
    let (s, off) = table.lookup_addr(schedule.addr + 0x10).unwrap();
    assert_eq!((s.name.as_str(), off), ("schedule", 0x10));
    // Per-CPU offsets are not addresses.
    let rq = table.lookup_name("runqueues").unwrap();
    assert!(table.lookup_addr(rq.addr).is_none());
    assert_eq!(
        table.lookup_absolute(rq.addr + 8).unwrap().0.name,
        "runqueues"
    );
    // A damaged cache is refused, not loaded.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(SymbolTable::from_bytes(&bad).is_err());
}
