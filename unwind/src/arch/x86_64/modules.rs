//! ORC tables of loaded modules, at runtime addresses: the walk looks a pc inside a
//! module's text up in that module's table (as the kernel's `orc_module_find`), never in
//! the kernel's.

use qmdb_kernel::orc::{OrcEntry, OrcTable};
use std::ops::Range;

/// One module's text and ORC table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOrc {
    /// The module's name.
    pub name: String,
    /// Its text, runtime addresses, end exclusive.
    pub text: Vec<Range<u64>>,
    /// Its ORC table at runtime addresses (slide 0); `None` when it has none.
    pub table: Option<OrcTable>,
}

/// Every loaded module's [`ModuleOrc`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleOrcs {
    modules: Vec<ModuleOrc>,
}

/// What the modules know of a pc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleLookup {
    /// The pc is not in any module's text.
    NotModule,
    /// In a module's text; its table's entry, `None` when it has none for the pc.
    Module(Option<OrcEntry>),
}

impl ModuleOrcs {
    /// The tables of `modules`.
    pub fn new(modules: Vec<ModuleOrc>) -> ModuleOrcs {
        ModuleOrcs { modules }
    }

    /// The modules, in the order given.
    pub fn modules(&self) -> &[ModuleOrc] {
        &self.modules
    }

    /// The module whose text holds `pc`.
    pub fn module_at(&self, pc: u64) -> Option<&ModuleOrc> {
        self.modules
            .iter()
            .find(|m| m.text.iter().any(|r| r.contains(&pc)))
    }

    /// Whether `pc` lies in some module's text.
    pub fn is_text(&self, pc: u64) -> bool {
        self.module_at(pc).is_some()
    }

    /// The entry for `pc` (an address to look up as is: the caller has already taken 1
    /// from a return address).
    pub fn lookup(&self, pc: u64) -> ModuleLookup {
        match self.module_at(pc) {
            None => ModuleLookup::NotModule,
            Some(m) => ModuleLookup::Module(m.table.as_ref().and_then(|t| t.lookup(pc, 0))),
        }
    }
}
