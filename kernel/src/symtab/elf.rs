//! Reading a [`SymbolTable`] out of a kernel image: its ELF `.symtab` when it has one,
//! otherwise its kallsyms tables in `.rodata`.

use super::{Symbol, SymbolError, SymbolSource, SymbolTable, MAX_CACHED_SYMBOLS};
use crate::kallsyms::{self, KallsymsError};
use crate::KernelImage;
use object::{
    Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, SectionFlags, SymbolKind, SymbolSection,
};
use std::ops::Range;

impl SymbolTable {
    /// Symbols from the image: its `.symtab` when it has one with symbols, otherwise its
    /// kallsyms tables.
    pub fn from_image(image: &KernelImage) -> Result<SymbolTable, SymbolError> {
        let obj = image
            .object()
            .map_err(|e| SymbolError::Elf(e.to_string()))?;
        let sections = kallsyms::sections_of(&obj);
        let regions: Vec<Range<u64>> = sections
            .iter()
            .map(|s| s.addr..s.addr.saturating_add(s.size))
            .collect();
        let elf = elf_symbols(&obj);
        if elf.len() > MAX_CACHED_SYMBOLS {
            return Err(SymbolError::Elf(format!(
                ".symtab has {} symbols, more than the {MAX_CACHED_SYMBOLS} qmdb accepts",
                elf.len()
            )));
        }
        if !elf.is_empty() {
            return Ok(SymbolTable::build(elf, regions, SymbolSource::ElfSymtab));
        }
        let rodata = obj
            .section_by_name(".rodata")
            .ok_or(KallsymsError::NoRodata)?;
        let data = rodata.data().map_err(|_| KallsymsError::NoRodata)?;
        let k = kallsyms::decode(data, rodata.address(), &sections)?;
        Ok(SymbolTable::build(
            k.symbols,
            regions,
            SymbolSource::Kallsyms,
        ))
    }
}

/// The symbols of an ELF's `.symtab`, with nm type letters, in the order scripts/kallsyms
/// would give aliases (non-weak first, then fewer leading underscores). Empty if the ELF
/// has no `.symtab`.
///
/// As scripts/kallsyms does, symbols of a `.data..percpu` section linked at 0 (6.1–6.14)
/// are typed `A`: their values are per-CPU offsets.
pub(crate) fn elf_symbols(obj: &object::File<'_>) -> Vec<Symbol> {
    let Some(table) = obj.symbol_table() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for sym in table.symbols() {
        if sym.is_undefined() || matches!(sym.kind(), SymbolKind::Section | SymbolKind::File) {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() || name.len() > usize::from(u16::MAX) {
            continue;
        }
        let letter = match sym.section() {
            SymbolSection::Absolute => 'a',
            SymbolSection::Common => 'c',
            SymbolSection::Section(idx) => {
                let Ok(section) = obj.section_by_index(idx) else {
                    continue;
                };
                let SectionFlags::Elf { sh_flags, .. } = section.flags() else {
                    continue;
                };
                let sh_flags = sh_flags.0;
                if sh_flags & 0x2 == 0 {
                    // Not allocated (debug info): kallsyms drops these too.
                    continue;
                }
                if section.name() == Ok(".data..percpu") && section.address() == 0 {
                    'A'
                } else if sh_flags & 0x4 != 0 {
                    't'
                } else if section.kind() == object::SectionKind::UninitializedData {
                    'b'
                } else if sh_flags & 0x1 != 0 {
                    'd'
                } else {
                    'r'
                }
            }
            _ => continue,
        };
        let kind = if letter == 'A' {
            'A'
        } else if sym.is_weak() {
            if sym.kind() == SymbolKind::Data {
                'V'
            } else {
                'W'
            }
        } else if sym.is_global() {
            letter.to_ascii_uppercase()
        } else {
            letter
        };
        out.push(Symbol {
            name: name.to_owned(),
            addr: sym.address(),
            kind,
        });
    }
    out.sort_by_key(|s| {
        (
            !s.is_absolute(),
            s.addr,
            matches!(s.kind, 'W' | 'w'),
            s.name.bytes().take_while(|&b| b == b'_').count(),
        )
    });
    out
}
