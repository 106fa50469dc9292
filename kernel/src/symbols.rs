//! The symbol hook: how expressions resolve names and how addresses print as `symbol+offset`.
//!
//! A program starts with [`NoSymbols`]; the kernel's table ([`crate::symtab::SlidSymbols`]),
//! and the modules' over it, are installed once the kernel is known.

use qmdb_bridge::VirtAddr;

/// The symbol containing an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolHit {
    /// The symbol's name.
    pub name: String,
    /// `addr - symbol's address`.
    pub offset: u64,
}

/// A symbol table, both ways.
pub trait SymbolLookup {
    /// The address of the symbol `name`.
    fn lookup_name(&self, name: &str) -> Option<VirtAddr>;
    /// The symbol `addr` falls in, if any (implementations decide how far past a symbol's
    /// start an address still belongs to it).
    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit>;
}

/// No symbols at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSymbols;

impl SymbolLookup for NoSymbols {
    fn lookup_name(&self, _name: &str) -> Option<VirtAddr> {
        None
    }
    fn lookup_addr(&self, _addr: VirtAddr) -> Option<SymbolHit> {
        None
    }
}

/// `name`, `name+0x10`, or bare hex when no symbol is known, as mdb prints addresses.
pub fn symbolize(symbols: &dyn SymbolLookup, addr: VirtAddr) -> String {
    match symbols.lookup_addr(addr) {
        Some(SymbolHit { name, offset: 0 }) => name,
        Some(SymbolHit { name, offset }) => format!("{name}+{offset:#x}"),
        None => format!("{addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One;
    impl SymbolLookup for One {
        fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
            (name == "start").then_some(VirtAddr(0x1000))
        }
        fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
            (0x1000..0x1100).contains(&addr.0).then(|| SymbolHit {
                name: "start".into(),
                offset: addr.0 - 0x1000,
            })
        }
    }

    #[test]
    fn symbolic_addresses() {
        assert_eq!(symbolize(&One, VirtAddr(0x1000)), "start");
        assert_eq!(symbolize(&One, VirtAddr(0x1010)), "start+0x10");
        assert_eq!(symbolize(&One, VirtAddr(0xffff)), "ffff");
        assert_eq!(symbolize(&NoSymbols, VirtAddr(0x1000)), "1000");
    }
}
