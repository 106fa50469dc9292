//! The kallsyms locator and decoder on arbitrary `.rodata` bytes: it must end with symbols
//! or an error naming a table, and never panic. Even-length inputs are checked against
//! sections shaped like the synthetic images' (fuzz/seeds/kallsyms: one image of each
//! layout era, written by `write_fuzz_seeds` in kernel/src/kallsyms/tests.rs),
//! odd-length ones without sections.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_kernel::kallsyms::{decode, SectionRange};

/// Where the synthetic images link `.rodata`.
const RODATA: u64 = 0xffff_ffff_8200_0000;
/// Larger inputs add nothing the locator does not already do on smaller ones.
const MAX_INPUT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let s = |addr, size, exec| SectionRange { addr, size, exec };
    let sections = [
        // .text and .init.text.
        s(0xffff_ffff_8100_0000, 0x00e0_1ef2, true),
        s(0xffff_ffff_8304_e000, 0x0006_3850, true),
        // The rest of the image, up to the end of .bss.
        s(0xffff_ffff_8100_0000, 0x0280_0000, false),
    ];
    let sections: &[SectionRange] = if data.len() % 2 == 0 { &sections } else { &[] };
    if let Ok(k) = decode(data, RODATA, sections) {
        assert_eq!(k.symbols.len(), k.layout.num_syms as usize);
        assert!(k.symbols.windows(2).all(|w| w[0].addr <= w[1].addr));
    }
});
