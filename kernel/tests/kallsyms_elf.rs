//! Symbols from an ELF `.symtab` (a vmlinux that has one): nm type letters, the alias order
//! scripts/kallsyms uses, per-CPU symbols of a `.data..percpu` linked at 0 typed `A`,
//! section-bounded address lookups, and the cache round trip. The ELF is built here, byte by
//! byte, so the test needs no toolchain.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_bridge::VirtAddr;
use qmdb_kernel::symbols::SymbolLookup;
use qmdb_kernel::symtab::{SlidSymbols, SymbolSource};
use qmdb_kernel::{KernelImage, SymbolTable};
use std::sync::Arc;

const TEXT: u64 = 0xffff_ffff_8100_0000;
const RODATA: u64 = 0xffff_ffff_8200_0000;
const DATA: u64 = 0xffff_ffff_8210_0000;
const BSS: u64 = 0xffff_ffff_8220_0000;

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXEC: u64 = 4;
const SHN_ABS: u16 = 0xfff1;

struct Section {
    name: &'static str,
    ty: u32,
    flags: u64,
    addr: u64,
    size: u64,
}

/// (name, bind, type, section index, value)
type Sym = (&'static str, u8, u8, u16, u64);
const LOCAL: u8 = 0;
const GLOBAL: u8 = 1;
const WEAK: u8 = 2;
const NOTYPE: u8 = 0;
const OBJECT: u8 = 1;
const FUNC: u8 = 2;
const SECTION: u8 = 3;
const FILE: u8 = 4;

fn strtab(names: &[&str]) -> (Vec<u8>, Vec<u32>) {
    let mut t = vec![0u8];
    let mut offs = Vec::new();
    for n in names {
        offs.push(t.len() as u32);
        t.extend_from_slice(n.as_bytes());
        t.push(0);
    }
    (t, offs)
}

/// A little-endian ELF64 executable with the given sections (indices from 1) and symbols.
fn elf(sections: &[Section], symbols: &[Sym]) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    let mut offsets = Vec::new();
    for s in sections {
        while !out.len().is_multiple_of(16) {
            out.push(0);
        }
        offsets.push(out.len() as u64);
        if s.ty != SHT_NOBITS {
            out.extend(std::iter::repeat_n(0xccu8, s.size as usize));
        }
    }
    let sym_names: Vec<&str> = symbols.iter().map(|s| s.0).collect();
    let (str_bytes, str_offs) = strtab(&sym_names);
    let mut symtab = vec![0u8; 24];
    let locals = 1 + symbols.iter().filter(|s| s.1 == LOCAL).count();
    let mut ordered: Vec<(usize, &Sym)> = symbols.iter().enumerate().collect();
    ordered.sort_by_key(|(_, s)| s.1 != LOCAL);
    for &(i, &(_, bind, ty, shndx, value)) in &ordered {
        symtab.extend_from_slice(&str_offs[i].to_le_bytes());
        symtab.push((bind << 4) | ty);
        symtab.push(0);
        symtab.extend_from_slice(&shndx.to_le_bytes());
        symtab.extend_from_slice(&value.to_le_bytes());
        symtab.extend_from_slice(&0u64.to_le_bytes());
    }
    let symtab_at = out.len() as u64;
    out.extend_from_slice(&symtab);
    let strtab_at = out.len() as u64;
    out.extend_from_slice(&str_bytes);
    let mut sh_names: Vec<&str> = sections.iter().map(|s| s.name).collect();
    sh_names.extend([".symtab", ".strtab", ".shstrtab"]);
    let (shstr, shstr_offs) = strtab(&sh_names);
    let shstr_at = out.len() as u64;
    out.extend_from_slice(&shstr);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    let n = sections.len();
    let header = |out: &mut Vec<u8>,
                  name: u32,
                  ty: u32,
                  flags: u64,
                  addr: u64,
                  off: u64,
                  size: u64,
                  link: u32,
                  info: u32,
                  entsize: u64| {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&link.to_le_bytes());
        out.extend_from_slice(&info.to_le_bytes());
        out.extend_from_slice(&16u64.to_le_bytes());
        out.extend_from_slice(&entsize.to_le_bytes());
    };
    out.extend_from_slice(&[0u8; 64]);
    for (i, s) in sections.iter().enumerate() {
        header(
            &mut out,
            shstr_offs[i],
            s.ty,
            s.flags,
            s.addr,
            offsets[i],
            s.size,
            0,
            0,
            0,
        );
    }
    let strtab_index = (n + 2) as u32;
    header(
        &mut out,
        shstr_offs[n],
        SHT_SYMTAB,
        0,
        0,
        symtab_at,
        symtab.len() as u64,
        strtab_index,
        locals as u32,
        24,
    );
    header(
        &mut out,
        shstr_offs[n + 1],
        SHT_STRTAB,
        0,
        0,
        strtab_at,
        str_bytes.len() as u64,
        0,
        0,
        0,
    );
    header(
        &mut out,
        shstr_offs[n + 2],
        SHT_STRTAB,
        0,
        0,
        shstr_at,
        shstr.len() as u64,
        0,
        0,
        0,
    );
    // The ELF header.
    let mut h = Vec::new();
    h.extend_from_slice(b"\x7fELF\x02\x01\x01");
    h.extend_from_slice(&[0; 9]);
    h.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&TEXT.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    h.extend_from_slice(&shoff.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&56u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&((n + 4) as u16).to_le_bytes());
    h.extend_from_slice(&((n + 3) as u16).to_le_bytes());
    out[..64].copy_from_slice(&h);
    out
}

fn vmlinux() -> Vec<u8> {
    let sections = [
        Section {
            name: ".text",
            ty: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_EXEC,
            addr: TEXT,
            size: 0x1000,
        },
        Section {
            name: ".rodata",
            ty: SHT_PROGBITS,
            flags: SHF_ALLOC,
            addr: RODATA,
            size: 0x200,
        },
        Section {
            name: ".data",
            ty: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: DATA,
            size: 0x200,
        },
        Section {
            name: ".data..percpu",
            ty: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: 0,
            size: 0x400,
        },
        Section {
            name: ".bss",
            ty: SHT_NOBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: BSS,
            size: 0x100,
        },
        Section {
            name: ".debug_info",
            ty: SHT_PROGBITS,
            flags: 0,
            addr: 0,
            size: 0x10,
        },
    ];
    let symbols: [Sym; 20] = [
        ("vmlinux.o", LOCAL, FILE, SHN_ABS, 0),
        ("", LOCAL, SECTION, 1, TEXT),
        ("_text", GLOBAL, NOTYPE, 1, TEXT),
        ("_stext", GLOBAL, NOTYPE, 1, TEXT),
        ("startup_64", GLOBAL, FUNC, 1, TEXT),
        ("arch_weak", WEAK, FUNC, 1, TEXT + 0x100),
        ("arch_strong", GLOBAL, FUNC, 1, TEXT + 0x100),
        ("helper", LOCAL, FUNC, 1, TEXT + 0x200),
        ("schedule", GLOBAL, FUNC, 1, TEXT + 0x300),
        ("_etext", GLOBAL, NOTYPE, 1, TEXT + 0x1000),
        ("linux_banner", GLOBAL, OBJECT, 2, RODATA + 0x20),
        ("__key.0", LOCAL, OBJECT, 3, DATA + 0x10),
        ("__key.0", LOCAL, OBJECT, 3, DATA + 0x20),
        ("weak_obj", WEAK, OBJECT, 3, DATA + 0x40),
        ("runqueues", GLOBAL, OBJECT, 4, 0x100),
        ("__per_cpu_start", GLOBAL, NOTYPE, 4, 0),
        ("big_buffer", GLOBAL, OBJECT, 5, BSS),
        ("__crc_schedule", GLOBAL, NOTYPE, SHN_ABS, 0x1234_5678),
        ("undefined_thing", GLOBAL, NOTYPE, 0, 0),
        ("dwarf_label", LOCAL, NOTYPE, 6, 0x8),
    ];
    elf(&sections, &symbols)
}

fn table() -> SymbolTable {
    let image = KernelImage::from_bytes(vmlinux()).expect("the test ELF parses");
    SymbolTable::from_image(&image).expect("symbols from .symtab")
}

#[test]
fn symtab_symbols_get_nm_letters() {
    let t = table();
    assert_eq!(t.source(), SymbolSource::ElfSymtab);
    let kind = |name: &str| t.lookup_name(name).map(|s| s.kind);
    assert_eq!(kind("schedule"), Some('T'));
    assert_eq!(kind("helper"), Some('t'));
    assert_eq!(kind("arch_weak"), Some('W'));
    assert_eq!(kind("weak_obj"), Some('V'));
    assert_eq!(kind("linux_banner"), Some('R'));
    assert_eq!(kind("__key.0"), Some('d'));
    assert_eq!(kind("big_buffer"), Some('B'));
    // Per-CPU variables of a .data..percpu linked at 0 are absolute, as in kallsyms.
    assert_eq!(kind("runqueues"), Some('A'));
    assert_eq!(kind("__crc_schedule"), Some('A'));
    // Undefined, file, section and non-allocated symbols are left out.
    for gone in ["undefined_thing", "vmlinux.o", "dwarf_label", ""] {
        assert_eq!(kind(gone), None, "{gone}");
    }
    assert_eq!(t.len(), 16);
    assert_eq!(t.lookup_name_all("__key.0").count(), 2);
}

#[test]
fn symtab_aliases_sort_as_kallsyms_does() {
    let t = table();
    // Fewer leading underscores first, then input order: startup_64, _text, _stext.
    let at_text: Vec<&str> = t
        .symbols_in(TEXT..TEXT + 1)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(at_text, ["startup_64", "_text", "_stext"]);
    assert_eq!(t.lookup_addr(TEXT + 0x10).unwrap().0.name, "startup_64");
    // Non-weak before weak.
    assert_eq!(t.lookup_addr(TEXT + 0x100).unwrap().0.name, "arch_strong");
    // Text ends at _etext, the end of .text.
    assert_eq!(t.lookup_addr(TEXT + 0xfff).unwrap().0.name, "schedule");
    assert_eq!(t.lookup_addr(TEXT + 0x1000).unwrap().0.name, "_etext");
    assert!(t.lookup_addr(TEXT + 0x1001).is_none());
    // .rodata ends at 0x200.
    assert_eq!(t.lookup_addr(RODATA + 0x1ff).unwrap().1, 0x1df);
    assert!(t.lookup_addr(RODATA + 0x200).is_none());
    assert_eq!(t.lookup_absolute(0x108).unwrap().0.name, "runqueues");
}

#[test]
fn symtab_tables_slide_and_cache() {
    let t = Arc::new(table());
    let slid = SlidSymbols::new(t.clone(), 0x2a00_0000);
    assert_eq!(
        slid.lookup_name("schedule"),
        Some(VirtAddr(TEXT + 0x2a00_0300))
    );
    assert_eq!(slid.lookup_name("runqueues"), Some(VirtAddr(0x100)));
    assert_eq!(
        qmdb_kernel::symbols::symbolize(&slid, VirtAddr(TEXT + 0x2a00_0304)),
        "schedule+0x4"
    );
    let back = SymbolTable::from_bytes(&t.to_bytes()).unwrap();
    assert_eq!(back.source(), SymbolSource::ElfSymtab);
    assert!(back.iter().eq(t.iter()));
    assert_eq!(back.regions(), t.regions());
}
