//! Module symbols: each module's own kallsyms (`mod->kallsyms`), and [`LayeredSymbols`],
//! which puts them over the kernel's.

use super::table::region_list;
pub use super::table::{LayeredSymbols, ModuleSymbol, ModuleSymbols};
use super::{cstr, u32_at, u64_at, Module, ModuleLayout, ModuleList};
use crate::memory::GuestMemory;
use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;
use std::sync::Arc;

/// At most this many symbols are read from one module's kallsyms.
pub const MAX_MODULE_SYMBOLS: u64 = 200_000;
/// At most this many bytes of one module's string table are read.
pub const MAX_STRTAB: u64 = 4 << 20;
/// A symbol name longer than this is cut.
const MAX_NAME: usize = 256;
/// `sizeof(Elf64_Sym)`.
const ELF64_SYM: u64 = 24;

/// Reads `m`'s own kallsyms: `mod->kallsyms->{symtab, num_symtab, strtab, typetab}`.
pub fn read_module_symbols(
    mem: &mut dyn GuestMemory,
    l: &ModuleLayout,
    m: &Module,
) -> Result<Vec<ModuleSymbol>, Error> {
    if m.kallsyms == 0 {
        return Ok(Vec::new());
    }
    let end = l
        .ks_strtab
        .max(l.ks_num)
        .max(l.ks_symtab)
        .max(l.ks_typetab.unwrap_or(0));
    let ks = mem.read_bytes(
        VirtAddr(m.kallsyms),
        (end + 8) as usize,
        Some("struct mod_kallsyms"),
    )?;
    let symtab = u64_at(&ks, l.ks_symtab);
    let num = u32_at(&ks, l.ks_num).min(MAX_MODULE_SYMBOLS);
    let strtab = u64_at(&ks, l.ks_strtab);
    let typetab = l.ks_typetab.map_or(0, |t| u64_at(&ks, t));
    if num == 0 || symtab == 0 || strtab == 0 {
        return Ok(Vec::new());
    }
    let raw = mem.read_bytes(
        VirtAddr(symtab),
        (num * ELF64_SYM) as usize,
        Some("module symtab"),
    )?;
    let entries: Vec<(u64, u64, u64)> = raw
        .chunks_exact(ELF64_SYM as usize)
        .map(|e| (u32_at(e, 0), u64_at(e, 8), u32_at(e, 4) >> 16))
        .collect();
    let types = if typetab == 0 {
        Vec::new()
    } else {
        mem.read_some(VirtAddr(typetab), num as usize)?
    };
    let max_name = entries.iter().map(|e| e.0).max().unwrap_or(0);
    let want = (max_name + MAX_NAME as u64).min(MAX_STRTAB);
    let strings = mem.read_some(VirtAddr(strtab), want as usize)?;
    let mut out = Vec::new();
    for (i, (name_off, value, shndx)) in entries.into_iter().enumerate() {
        if value == 0 || shndx == 0 {
            continue;
        }
        let Some(b) = strings.get(name_off as usize..) else {
            continue;
        };
        let name = cstr(b.get(..b.len().min(MAX_NAME)).unwrap_or(&[]));
        if name.is_empty() {
            continue;
        }
        let kind = types
            .get(i)
            .map(|&c| c as char)
            .filter(char::is_ascii_alphabetic)
            .unwrap_or('?');
        out.push(ModuleSymbol {
            addr: value,
            name,
            module: m.name.clone(),
            kind,
        });
    }
    Ok(out)
}

/// Every module's symbols; a module whose kallsyms cannot be read is reported and skipped.
pub fn load_symbols(
    mem: &mut dyn GuestMemory,
    l: &ModuleLayout,
    list: &ModuleList,
) -> Result<(ModuleSymbols, Vec<String>), Error> {
    let mut syms = Vec::new();
    let mut problems = Vec::new();
    for m in list.modules.iter().filter(|m| !m.unformed) {
        match read_module_symbols(mem, l, m) {
            Ok(s) => syms.extend(s),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => problems.push(format!("module {}: symbols: {e}", m.name)),
        }
    }
    Ok((ModuleSymbols::new(syms, region_list(list)), problems))
}

/// The program's module symbols if they were read for exactly the modules of `list`,
/// else `list`'s symbols, read now and installed; with the problems of the reading.
pub fn fresh_symbols(
    program: &mut Program,
    layout: &ModuleLayout,
    list: &ModuleList,
) -> Result<(Arc<ModuleSymbols>, Vec<String>), Error> {
    if let Some(s) = program.module_symbols().filter(|s| s.matches(list)) {
        return Ok((s, Vec::new()));
    }
    let (syms, problems) = load_symbols(program, layout, list)?;
    let syms = Arc::new(syms);
    program.set_module_symbols(Some(Arc::clone(&syms)));
    Ok((syms, problems))
}

/// Reads every module's symbols and installs them over the kernel's; returns the problems.
pub fn refresh_symbols(program: &mut Program, cmd: &str) -> Result<Vec<String>, Error> {
    let (layout, list) = super::session_modules(program, cmd)?;
    let (syms, mut problems) = load_symbols(program, &layout, &list)?;
    problems.extend(list.problems);
    program.set_module_symbols(Some(Arc::new(syms)));
    Ok(problems)
}

/// The symbol of a stack frame's pc: the bare function name, its offset, and the module
/// it is in (`None` for the kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSymbol {
    /// The function's name, without the module.
    pub name: String,
    /// `pc`'s offset into it.
    pub offset: u64,
    /// The module holding it; `None` for the kernel.
    pub module: Option<String>,
}

/// Names `pc` for a stack frame: from the installed module symbols when it lies in a
/// module's memory, else from the kernel's symbols.
pub fn frame_symbol(program: &Program, pc: u64) -> Option<FrameSymbol> {
    if let Some(mods) = program.module_symbols() {
        if let Some(module) = mods.module_at(pc) {
            let (s, offset) = mods.lookup(pc)?;
            return Some(FrameSymbol {
                name: s.name.clone(),
                offset,
                module: Some(module.to_string()),
            });
        }
    }
    let hit = program.symbols().lookup_addr(VirtAddr(pc))?;
    Some(FrameSymbol {
        name: hit.name,
        offset: hit.offset,
        module: None,
    })
}
