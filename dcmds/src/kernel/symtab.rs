//! The kernel's symbol table at link-time addresses: from the ELF's `.symtab` when present,
//! otherwise decoded from the image's kallsyms tables.

/// A kernel symbol at its link-time address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub addr: u64,
    /// nm-style type letter (`T` text, `D` data, `R` rodata, `B` bss, lower case for local).
    pub kind: char,
}

/// Symbols, fast both ways.
#[derive(Debug, Default)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// A table of the given symbols.
    pub fn new(symbols: Vec<Symbol>) -> SymbolTable {
        SymbolTable { symbols }
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}
