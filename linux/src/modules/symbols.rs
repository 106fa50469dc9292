//! Module symbols: each module's own kallsyms (`mod->kallsyms`), and [`LayeredSymbols`],
//! which puts them over the kernel's.

use super::{cstr, u32_at, u64_at, Module, ModuleLayout, ModuleList};
use crate::memory::GuestMemory;
use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::symbols::{SymbolHit, SymbolLookup};
use std::sync::Arc;

/// At most this many symbols are read from one module's kallsyms.
pub const MAX_MODULE_SYMBOLS: u64 = 200_000;
/// At most this many bytes of one module's string table are read.
pub const MAX_STRTAB: u64 = 4 << 20;
/// A symbol name longer than this is cut.
const MAX_NAME: usize = 256;
/// `sizeof(Elf64_Sym)`.
const ELF64_SYM: u64 = 24;

/// One module symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSymbol {
    /// Its runtime address.
    pub addr: u64,
    /// The bare symbol name.
    pub name: String,
    /// The module defining it.
    pub module: String,
    /// The `/proc/kallsyms` type letter (`t`, `T`, `d`...), `?` when the module has no
    /// type table.
    pub kind: char,
}

/// Every loaded module's symbols, by address, with each module's memory regions.
#[derive(Debug, Clone, Default)]
pub struct ModuleSymbols {
    /// Sorted by address.
    syms: Vec<ModuleSymbol>,
    /// `[start, end)` and the module's name; sorted.
    regions: Vec<(u64, u64, String)>,
}

impl ModuleSymbols {
    /// Builds the table from symbols and module regions in any order.
    pub fn new(mut syms: Vec<ModuleSymbol>, mut regions: Vec<(u64, u64, String)>) -> Self {
        syms.sort_by(|a, b| a.addr.cmp(&b.addr).then_with(|| a.name.cmp(&b.name)));
        regions.sort();
        ModuleSymbols { syms, regions }
    }

    /// How many symbols, over every module.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// Whether no module has a symbol.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The module whose memory holds `addr`.
    pub fn module_at(&self, addr: u64) -> Option<&str> {
        self.regions
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))
            .map(|(_, _, n)| n.as_str())
    }

    /// Every symbol, by address.
    pub fn symbols(&self) -> &[ModuleSymbol] {
        &self.syms
    }

    /// Whether these symbols were read for exactly the modules of `list` (same names and
    /// memory): when not, a module came or went and they must be read again.
    pub fn matches(&self, list: &ModuleList) -> bool {
        let mut now = region_list(list);
        now.sort();
        now == self.regions
    }

    /// The symbol holding `addr` (the nearest at or below it in the module whose memory
    /// holds `addr`) and the offset into it.
    pub fn lookup(&self, addr: u64) -> Option<(&ModuleSymbol, u64)> {
        let (start, _, module) = self
            .regions
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))?;
        let i = self.syms.partition_point(|s| s.addr <= addr);
        let s = self
            .syms
            .get(..i)?
            .iter()
            .rev()
            .find(|s| &s.module == module)?;
        (s.addr >= *start).then(|| (s, addr - s.addr))
    }
}

impl SymbolLookup for ModuleSymbols {
    /// The first module symbol called `name`.
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        self.syms
            .iter()
            .find(|s| s.name == name)
            .map(|s| VirtAddr(s.addr))
    }

    /// The nearest symbol at or below `addr` in the same module, named as mdb names
    /// module symbols: ``module`func`` (printed ``module`func+0x10``).
    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
        let (s, offset) = self.lookup(addr.0)?;
        Some(SymbolHit {
            name: format!("{}`{}", s.module, s.name),
            offset,
        })
    }
}

fn region_list(list: &ModuleList) -> Vec<(u64, u64, String)> {
    list.modules
        .iter()
        .filter(|m| !m.unformed)
        .flat_map(|m| m.regions.iter().map(|&(s, e)| (s, e, m.name.clone())))
        .collect()
}

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

/// Module symbols over the kernel's: names resolve in the kernel first, then the modules;
/// an address inside a module's memory is named from that module's symbols.
pub struct LayeredSymbols {
    /// The kernel's own symbols, asked first for names.
    pub kernel: Box<dyn SymbolLookup>,
    /// The loaded modules' symbols.
    pub modules: Arc<ModuleSymbols>,
}

impl SymbolLookup for LayeredSymbols {
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        self.kernel
            .lookup_name(name)
            .or_else(|| self.modules.lookup_name(name))
    }

    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
        if self.modules.module_at(addr.0).is_some() {
            return self.modules.lookup_addr(addr);
        }
        self.kernel.lookup_addr(addr)
    }
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
