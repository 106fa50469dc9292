//! The table of loaded modules' symbols ([`ModuleSymbols`]) and [`LayeredSymbols`], which
//! puts them over the kernel's. Reading them from the guest is `symbols.rs`'s.

use super::ModuleList;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::symbols::{SymbolHit, SymbolLookup};
use std::sync::Arc;

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

/// Every module's regions with its name.
pub(super) fn region_list(list: &ModuleList) -> Vec<(u64, u64, String)> {
    list.modules
        .iter()
        .filter(|m| !m.unformed)
        .flat_map(|m| m.regions.iter().map(|&(s, e)| (s, e, m.name.clone())))
        .collect()
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
