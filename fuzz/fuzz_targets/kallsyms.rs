//! The kallsyms locator and decoder on arbitrary `.rodata` bytes: it must end (its work is
//! capped) with symbols or an error naming a table, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_dcmds::kernel::kallsyms::{decode, SectionRange};

fuzz_target!(|data: &[u8]| {
    let base = 0xffff_ffff_8200_0000u64;
    let text = SectionRange {
        addr: 0xffff_ffff_8100_0000,
        size: 0x100_0000,
        exec: true,
    };
    let rodata = SectionRange {
        addr: base,
        size: data.len() as u64,
        exec: false,
    };
    if let Ok(k) = decode(data, base, &[text, rodata]) {
        assert!(k.symbols.len() <= 2_000_000);
    }
});
