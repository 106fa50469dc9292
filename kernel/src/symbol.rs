//! One kernel symbol, as kallsyms and ELF symbol tables give it.

/// A kernel symbol at its link-time address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The symbol's name.
    pub name: String,
    /// Its link-time address (for an absolute symbol, its value).
    pub addr: u64,
    /// nm-style type letter (`T` text, `D` data, `R` rodata, `B` bss, `A` absolute, `W`
    /// weak; lower case for local).
    pub kind: char,
}

impl Symbol {
    /// An absolute value (a per-CPU offset or a constant), not an address in the image.
    pub fn is_absolute(&self) -> bool {
        matches!(self.kind, 'A' | 'a')
    }

    /// Global (upper-case type letter).
    pub fn is_global(&self) -> bool {
        self.kind.is_ascii_uppercase()
    }

    /// Text, including weak symbols (which in the kernel are functions).
    pub fn is_text(&self) -> bool {
        matches!(self.kind, 'T' | 't' | 'W' | 'w')
    }

    /// Weak (`W`, `w`, `V`, `v`).
    pub fn is_weak(&self) -> bool {
        matches!(self.kind, 'W' | 'w' | 'V' | 'v')
    }
}
