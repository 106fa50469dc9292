//! The kernel's symbol table at link-time addresses: from the ELF's `.symtab` when present,
//! otherwise decoded from the image's kallsyms tables.
//!
//! Lookups, both ways:
//! - **name → symbol** ([`SymbolTable::lookup_name`]): several symbols may share a name
//!   (`__key.0`, static functions of the same name in different files). The preferred one
//!   is a global symbol over a local one, then a text symbol (`T`, `t`, `W`, `w`) over
//!   others, then the lowest address. [`SymbolTable::lookup_name_all`] lists them all.
//! - **address → symbol + offset** ([`SymbolTable::lookup_addr`]): the symbol with the
//!   greatest start ≤ addr, but only up to its end: the next symbol's start, and no further
//!   than the end of the ELF section (region) that holds its start. A symbol whose start is
//!   in no region (`_etext`, `_end`: section ends) matches only its own address. Without
//!   region information ([`SymbolTable::new`]) a symbol reaches at most
//!   [`MAX_SPAN_WITHOUT_REGIONS`] past its start, and the last one only itself.
//!   Among symbols at one address the first in table order is shown: for kallsyms that is
//!   the kernel's own choice (scripts/kallsyms sorts aliases non-weak first, then by fewer
//!   leading underscores), and `.symtab` symbols are sorted the same way.
//! - **absolute symbols** (type `A`/`a`: on 6.1–6.14 the per-CPU variables, whose values
//!   are offsets into each CPU's area, and ELF `SHN_ABS` constants) are not addresses: they
//!   take no part in address lookups (see [`SymbolTable::lookup_absolute`]) and are not
//!   moved by the KASLR slide ([`SlidSymbols`]).
//!
//! The module is split by job: this file holds the table and its lookups; [`elf`] reads a
//! table out of an image (its `.symtab`, or its kallsyms); [`codec`] is the compact,
//! checksummed serialization ([`SymbolTable::to_bytes`]/[`SymbolTable::from_bytes`]) for a
//! cache keyed by build id.

pub mod codec;
pub mod elf;

use crate::kallsyms::{KallsymsError, MAX_SYMBOLS};
use crate::symbols::{SymbolHit, SymbolLookup};
use qmdb_bridge::VirtAddr;
use std::ops::Range;
use std::sync::Arc;

pub use crate::symbol::Symbol;

/// How far a symbol extends at most when the table has no regions.
pub const MAX_SPAN_WITHOUT_REGIONS: u64 = 1 << 20;

/// Where a table's symbols came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SymbolSource {
    /// Given to [`SymbolTable::new`] or [`SymbolTable::with_regions`].
    #[default]
    Given,
    /// The ELF's `.symtab`.
    ElfSymtab,
    /// The kallsyms tables in `.rodata`.
    Kallsyms,
}

impl SymbolSource {
    /// The byte that stands for the source in the cache form.
    fn code(self) -> u8 {
        match self {
            SymbolSource::Given => 0,
            SymbolSource::ElfSymtab => 1,
            SymbolSource::Kallsyms => 2,
        }
    }

    /// Inverse of [`SymbolSource::code`].
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => SymbolSource::Given,
            1 => SymbolSource::ElfSymtab,
            2 => SymbolSource::Kallsyms,
            _ => return None,
        })
    }
}

/// Why a symbol table could not be built or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SymbolError {
    /// The image's ELF does not parse, or its `.symtab` is unreasonable.
    #[error("bad kernel ELF: {0}")]
    Elf(String),
    /// No `.symtab`, and the kallsyms tables do not decode.
    #[error("the image has no .symtab, and its kallsyms do not decode: {0}")]
    Kallsyms(#[from] KallsymsError),
    /// The cache form ([`SymbolTable::from_bytes`]) is damaged at `offset`.
    #[error("bad symbol cache at byte {offset:#x}: {reason}")]
    Cache { offset: usize, reason: String },
}

fn cache_err(offset: usize, reason: impl Into<String>) -> SymbolError {
    SymbolError::Cache {
        offset,
        reason: reason.into(),
    }
}

/// More than any kernel's `.symtab` (kallsyms is capped lower, at `MAX_SYMBOLS`).
const MAX_CACHED_SYMBOLS: usize = 4 * MAX_SYMBOLS as usize;

/// Symbols, fast both ways.
#[derive(Debug, Default)]
pub struct SymbolTable {
    /// Absolute symbols first (by value), then the others by address; among equal
    /// addresses, the input order.
    symbols: Vec<Symbol>,
    /// How many absolute symbols lead `symbols`.
    absolute: usize,
    /// The name index: (hash of the name, symbol index), sorted. A hash table that is
    /// cheap to rebuild and to check when loading a cache: the cache stores the order.
    by_name: Vec<(u64, u32)>,
    /// Address ranges symbols may extend over (the image's allocated sections), sorted.
    regions: Vec<Range<u64>>,
    source: SymbolSource,
}

impl SymbolTable {
    /// A table of the given symbols, without region information.
    pub fn new(symbols: Vec<Symbol>) -> SymbolTable {
        SymbolTable::with_regions(symbols, Vec::new())
    }

    /// A table of the given symbols; `regions` (the image's allocated sections) bound how
    /// far a symbol extends in address lookups. Empty ranges and ranges at 0 are ignored.
    pub fn with_regions(symbols: Vec<Symbol>, regions: Vec<Range<u64>>) -> SymbolTable {
        SymbolTable::build(symbols, regions, SymbolSource::Given)
    }

    /// A table decoded from kallsyms found elsewhere than in an image file (in guest
    /// memory); `regions` as for [`SymbolTable::with_regions`].
    pub fn from_kallsyms(symbols: Vec<Symbol>, regions: Vec<Range<u64>>) -> SymbolTable {
        SymbolTable::build(symbols, regions, SymbolSource::Kallsyms)
    }

    fn build(mut symbols: Vec<Symbol>, regions: Vec<Range<u64>>, source: SymbolSource) -> Self {
        // Stable: aliases keep their input order.
        if !symbols.is_sorted_by_key(|s| (!s.is_absolute(), s.addr)) {
            symbols.sort_by_key(|s| (!s.is_absolute(), s.addr));
        }
        let absolute = symbols.partition_point(|s| s.is_absolute());
        let mut regions: Vec<Range<u64>> = regions
            .into_iter()
            .filter(|r| r.start != 0 && r.start < r.end)
            .collect();
        regions.sort_by_key(|r| (r.start, r.end));
        let mut by_name: Vec<(u64, u32)> = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (name_hash(&s.name), i as u32))
            .collect();
        by_name.sort_unstable();
        SymbolTable {
            symbols,
            absolute,
            by_name,
            regions,
            source,
        }
    }

    /// How many symbols, absolute ones included.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the table has no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Where the symbols came from.
    pub fn source(&self) -> SymbolSource {
        self.source
    }

    /// The address ranges that bound address lookups.
    pub fn regions(&self) -> &[Range<u64>] {
        &self.regions
    }

    /// Every symbol: absolute ones first, then by address.
    pub fn iter(&self) -> std::slice::Iter<'_, Symbol> {
        self.symbols.iter()
    }

    /// The absolute symbols, by value.
    pub fn absolute_symbols(&self) -> &[Symbol] {
        self.split().0
    }

    /// The symbols (not absolute) whose address is in `range`, by address.
    pub fn symbols_in(&self, range: Range<u64>) -> &[Symbol] {
        let syms = self.address_symbols();
        let lo = syms.partition_point(|s| s.addr < range.start);
        let hi = syms.partition_point(|s| s.addr < range.end).max(lo);
        // lo <= hi <= len: partition points, and hi is at least lo.
        syms.get(lo..hi).unwrap_or_default()
    }

    /// The preferred symbol named `name` (see the module documentation).
    pub fn lookup_name(&self, name: &str) -> Option<&Symbol> {
        let rank = |s: &Symbol| (!s.is_global(), !s.is_text());
        let mut best: Option<&Symbol> = None;
        for s in self.same_hash(name).filter(|s| s.name == name) {
            if best.is_none_or(|b| rank(s) < rank(b)) {
                best = Some(s);
            }
        }
        best
    }

    /// Every symbol named `name`, absolute ones first, then by address.
    pub fn lookup_name_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Symbol> + 'a {
        self.same_hash(name).filter(move |s| s.name == name)
    }

    /// The symbols whose name hashes like `name`, in table order.
    fn same_hash(&self, name: &str) -> impl Iterator<Item = &Symbol> + '_ {
        let h = name_hash(name);
        let from = self.by_name.partition_point(|&(k, _)| k < h);
        self.by_name
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(move |&&(k, _)| k == h)
            .filter_map(|&(_, i)| self.symbols.get(i as usize))
    }

    /// The symbol `addr` falls in, and the offset from its start (see the module
    /// documentation for how far a symbol extends). Absolute symbols never match.
    pub fn lookup_addr(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let syms = self.address_symbols();
        let (sym, start, next) = containing(syms, addr)?;
        if addr == start {
            return Some((sym, 0));
        }
        let end = if self.regions.is_empty() {
            match next {
                Some(n) => n.min(start.saturating_add(MAX_SPAN_WITHOUT_REGIONS)),
                None => start,
            }
        } else {
            match self.region_of(start) {
                Some(r) => next.map_or(r.end, |n| n.min(r.end)),
                None => start,
            }
        };
        (addr < end).then_some((sym, addr - start))
    }

    /// The absolute symbol whose value is the greatest ≤ `value`, up to the next one (the
    /// per-CPU variable at an offset into a CPU's area, on 6.1–6.14).
    pub fn lookup_absolute(&self, value: u64) -> Option<(&Symbol, u64)> {
        let (sym, start, next) = containing(self.absolute_symbols(), value)?;
        (value == start || next.is_some_and(|n| value < n)).then_some((sym, value - start))
    }

    fn address_symbols(&self) -> &[Symbol] {
        self.split().1
    }

    /// The absolute symbols and the others. `absolute <= len` always holds ([`Self::build`]
    /// counts them, [`SymbolTable::from_bytes`] checks the count).
    fn split(&self) -> (&[Symbol], &[Symbol]) {
        self.symbols
            .split_at_checked(self.absolute)
            .unwrap_or((&[], &self.symbols))
    }

    fn region_of(&self, addr: u64) -> Option<&Range<u64>> {
        let i = self.regions.partition_point(|r| r.start <= addr);
        // Regions may overlap; look back over those starting at or before addr.
        self.regions
            .get(..i)
            .unwrap_or_default()
            .iter()
            .rev()
            .take(8)
            .find(|r| addr < r.end)
    }
}

/// The symbol whose start is the greatest ≤ `addr` in `syms` (sorted), preferring the
/// first of aliases; its start; and the next greater start, if any.
fn containing(syms: &[Symbol], addr: u64) -> Option<(&Symbol, u64, Option<u64>)> {
    let (upto, after) = syms.split_at_checked(syms.partition_point(|s| s.addr <= addr))?;
    let start = upto.last()?.addr;
    let first = upto.partition_point(|s| s.addr < start);
    Some((upto.get(first)?, start, after.first().map(|s| s.addr)))
}

/// A 64-bit hash of a name (FxHash-style word mixing with a final avalanche).
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut h = word_hash(0x9e37_79b9_7f4a_7c15, name.as_bytes());
    h ^= name.len() as u64;
    fmix(h)
}

pub(crate) fn word_hash(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let (words, rest) = bytes.as_chunks::<8>();
    for &w in words {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        for (d, &s) in b.iter_mut().zip(rest) {
            *d = s;
        }
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    h
}

pub(crate) fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A [`SymbolTable`] seen at runtime addresses: link-time address + `slide` (the KASLR
/// slide). Absolute symbols keep their values.
#[derive(Debug, Clone)]
pub struct SlidSymbols {
    /// The table, at link-time addresses.
    pub table: Arc<SymbolTable>,
    /// Runtime address minus link-time address.
    pub slide: u64,
}

impl SlidSymbols {
    /// `table` seen at runtime addresses under KASLR `slide`.
    pub fn new(table: Arc<SymbolTable>, slide: u64) -> Self {
        SlidSymbols { table, slide }
    }

    /// The runtime value of a symbol.
    pub fn runtime(&self, sym: &Symbol) -> u64 {
        if sym.is_absolute() {
            sym.addr
        } else {
            sym.addr.wrapping_add(self.slide)
        }
    }
}

impl SymbolLookup for SlidSymbols {
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        self.table
            .lookup_name(name)
            .map(|s| VirtAddr(self.runtime(s)))
    }

    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
        self.table
            .lookup_addr(addr.0.wrapping_sub(self.slide))
            .map(|(s, offset)| SymbolHit {
                name: s.name.clone(),
                offset,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, addr: u64, kind: char) -> Symbol {
        Symbol {
            name: name.into(),
            addr,
            kind,
        }
    }

    fn sample() -> SymbolTable {
        SymbolTable::with_regions(
            vec![
                sym("runqueues", 0x31980, 'A'),
                sym("__per_cpu_start", 0, 'A'),
                sym("__per_cpu_end", 0x34000, 'A'),
                sym("startup_64", 0xffff_ffff_8100_0000, 'T'),
                sym("_stext", 0xffff_ffff_8100_0000, 'T'),
                sym("dup", 0xffff_ffff_8100_0100, 't'),
                sym("schedule", 0xffff_ffff_8100_0200, 'T'),
                sym("_etext", 0xffff_ffff_8100_1000, 'T'),
                sym("dup", 0xffff_ffff_8200_0000, 'd'),
                sym("dup", 0xffff_ffff_8200_0040, 'D'),
                sym("linux_banner", 0xffff_ffff_8200_0100, 'R'),
            ],
            vec![
                0xffff_ffff_8100_0000..0xffff_ffff_8100_1000,
                0xffff_ffff_8200_0000..0xffff_ffff_8200_0200,
                0..0x34000,
            ],
        )
    }

    #[test]
    fn names_prefer_global_then_text() {
        let t = sample();
        // Global data beats local text, which beats local data.
        assert_eq!(t.lookup_name("dup").unwrap().addr, 0xffff_ffff_8200_0040);
        let all: Vec<u64> = t.lookup_name_all("dup").map(|s| s.addr).collect();
        assert_eq!(
            all,
            [
                0xffff_ffff_8100_0100,
                0xffff_ffff_8200_0000,
                0xffff_ffff_8200_0040
            ]
        );
        assert_eq!(t.lookup_name("runqueues").unwrap().addr, 0x31980);
        assert!(t.lookup_name("nope").is_none());
        assert_eq!(t.lookup_name_all("nope").count(), 0);
    }

    #[test]
    fn addresses_stop_at_the_next_symbol_and_the_region_end() {
        let t = sample();
        let hit = |a: u64| t.lookup_addr(a).map(|(s, o)| (s.name.as_str(), o));
        // The first alias in table order wins.
        assert_eq!(hit(0xffff_ffff_8100_0000), Some(("startup_64", 0)));
        assert_eq!(hit(0xffff_ffff_8100_00ff), Some(("startup_64", 0xff)));
        assert_eq!(hit(0xffff_ffff_8100_0fff), Some(("schedule", 0xdff)));
        // _etext sits at the end of its region: only its own address.
        assert_eq!(hit(0xffff_ffff_8100_1000), Some(("_etext", 0)));
        assert_eq!(hit(0xffff_ffff_8100_1001), None);
        assert_eq!(hit(0xffff_ffff_8200_01ff), Some(("linux_banner", 0xff)));
        assert_eq!(hit(0xffff_ffff_8200_0200), None);
        // Absolute symbols are not addresses.
        assert_eq!(hit(0x31990), None);
        assert_eq!(hit(0x10), None);
        let abs = t.lookup_absolute(0x31990).unwrap();
        assert_eq!((abs.0.name.as_str(), abs.1), ("runqueues", 0x10));
        assert_eq!(
            t.symbols_in(0xffff_ffff_8100_0000..0xffff_ffff_8100_0200)
                .len(),
            3
        );
        assert_eq!(t.absolute_symbols().len(), 3);
        assert!(t.lookup_absolute(0x34001).is_none());
        assert_eq!(t.iter().next().unwrap().name, "__per_cpu_start");
    }

    #[test]
    fn without_regions_spans_are_capped() {
        let t = SymbolTable::new(vec![
            sym("a", 0x1000, 'T'),
            sym("b", 0x1000 + (4 << 20), 'T'),
        ]);
        assert_eq!(t.lookup_addr(0x1000 + 0x10).unwrap().1, 0x10);
        assert!(t.lookup_addr(0x1000 + MAX_SPAN_WITHOUT_REGIONS).is_none());
        assert!(t.lookup_addr(0x1000 + (4 << 20) + 1).is_none());
        assert_eq!(t.lookup_addr(0x1000 + (4 << 20)).unwrap().0.name, "b");
        assert!(t.lookup_addr(0xfff).is_none());
        assert!(SymbolTable::default().lookup_addr(0).is_none());
    }

    #[test]
    fn slide_moves_addresses_not_absolute_values() {
        let s = SlidSymbols::new(Arc::new(sample()), 0x1e00_0000);
        assert_eq!(
            s.lookup_name("schedule"),
            Some(VirtAddr(0xffff_ffff_9f00_0200))
        );
        assert_eq!(s.lookup_name("runqueues"), Some(VirtAddr(0x31980)));
        assert_eq!(
            s.lookup_addr(VirtAddr(0xffff_ffff_9f00_0204)),
            Some(SymbolHit {
                name: "schedule".into(),
                offset: 4
            })
        );
        assert_eq!(s.lookup_addr(VirtAddr(0xffff_ffff_8100_0204)), None);
    }

    #[test]
    fn cache_round_trip_and_rejects_damage() {
        let t = sample();
        let bytes = t.to_bytes();
        let u = SymbolTable::from_bytes(&bytes).unwrap();
        assert_eq!(u.iter().collect::<Vec<_>>(), t.iter().collect::<Vec<_>>());
        assert_eq!(u.regions(), t.regions());
        assert_eq!(u.lookup_name("dup").unwrap().addr, 0xffff_ffff_8200_0040);
        assert_eq!(u.source(), SymbolSource::Given);
        // Every truncation and every single-byte change is refused.
        for cut in 0..bytes.len() {
            assert!(SymbolTable::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            assert!(SymbolTable::from_bytes(&b).is_err(), "flip {i}");
        }
        assert!(matches!(
            SymbolTable::from_bytes(b"QMDBSYMS\x02\0\0\0"),
            Err(SymbolError::Cache { offset: 8, .. })
        ));
    }
}
