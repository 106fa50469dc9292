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
//! [`SymbolTable::to_bytes`]/[`SymbolTable::from_bytes`] are a compact, checksummed
//! serialization for a cache keyed by build id.

use super::kallsyms::{self, KallsymsError, MAX_SYMBOLS};
use super::KernelImage;
use crate::symbols::{SymbolHit, SymbolLookup};
use object::{
    Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, SectionFlags, SymbolKind, SymbolSection,
};
use qmdb_bridge::VirtAddr;
use std::ops::Range;
use std::sync::Arc;

/// How far a symbol extends at most when the table has no regions.
pub const MAX_SPAN_WITHOUT_REGIONS: u64 = 1 << 20;

/// A kernel symbol at its link-time address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
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
    fn code(self) -> u8 {
        match self {
            SymbolSource::Given => 0,
            SymbolSource::ElfSymtab => 1,
            SymbolSource::Kallsyms => 2,
        }
    }

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
    #[error("bad kernel ELF: {0}")]
    Elf(String),
    #[error("the image has no .symtab, and its kallsyms do not decode: {0}")]
    Kallsyms(#[from] KallsymsError),
    #[error("bad symbol cache at byte {offset:#x}: {reason}")]
    Cache { offset: usize, reason: String },
}

fn cache_err(offset: usize, reason: impl Into<String>) -> SymbolError {
    SymbolError::Cache {
        offset,
        reason: reason.into(),
    }
}

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

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

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
        &self.symbols[..self.absolute]
    }

    /// The symbols (not absolute) whose address is in `range`, by address.
    pub fn symbols_in(&self, range: Range<u64>) -> &[Symbol] {
        let syms = self.address_symbols();
        let lo = syms.partition_point(|s| s.addr < range.start);
        let hi = syms.partition_point(|s| s.addr < range.end).max(lo);
        &syms[lo..hi]
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
        self.by_name[from..]
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
        &self.symbols[self.absolute..]
    }

    fn region_of(&self, addr: u64) -> Option<&Range<u64>> {
        let i = self.regions.partition_point(|r| r.start <= addr);
        // Regions may overlap; look back over those starting at or before addr.
        self.regions[..i]
            .iter()
            .rev()
            .take(8)
            .find(|r| addr < r.end)
    }

    /// The compact serialization, for a cache keyed by the image's build id. (Names must
    /// be shorter than 64 KiB, as all kernel names are: [`SymbolTable::from_bytes`] refuses
    /// the output otherwise.)
    ///
    /// Layout (little-endian): magic `QMDBSYMS`, u32 version, u32 symbol count, u32 count
    /// of absolute symbols, u32 region count, u32 name bytes, u8 source, 3 zero bytes; then
    /// the addresses (u64 each), the regions (two u64 each), the symbol indices in name-hash
    /// order (u32 each), the name lengths (u16 each), the type letters (u8 each), the names
    /// back to back; last a u64 checksum of everything before it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let names: usize = self.symbols.iter().map(|s| s.name.len()).sum();
        let n = self.symbols.len();
        let mut out = Vec::with_capacity(HEADER + n * 15 + self.regions.len() * 16 + names + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&CACHE_VERSION.to_le_bytes());
        for v in [n, self.absolute, self.regions.len(), names] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(&[self.source.code(), 0, 0, 0]);
        for s in &self.symbols {
            out.extend_from_slice(&s.addr.to_le_bytes());
        }
        for r in &self.regions {
            out.extend_from_slice(&r.start.to_le_bytes());
            out.extend_from_slice(&r.end.to_le_bytes());
        }
        for &(_, i) in &self.by_name {
            out.extend_from_slice(&i.to_le_bytes());
        }
        for s in &self.symbols {
            out.extend_from_slice(&(s.name.len() as u16).to_le_bytes());
        }
        for s in &self.symbols {
            out.push(s.kind as u8);
        }
        for s in &self.symbols {
            out.extend_from_slice(s.name.as_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Loads [`SymbolTable::to_bytes`] output, checking every field: sizes, checksum, type
    /// letters, UTF-8 names, symbol order, regions, and that the name order is a permutation
    /// sorted by name hash.
    pub fn from_bytes(data: &[u8]) -> Result<SymbolTable, SymbolError> {
        let u32_at = |off: usize| {
            data.get(off..off + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| cache_err(off, "truncated header"))
        };
        if data.get(..8) != Some(MAGIC.as_slice()) {
            return Err(cache_err(0, "not a qmdb symbol cache (bad magic)"));
        }
        let version = u32_at(8)?;
        if version != CACHE_VERSION {
            return Err(cache_err(
                8,
                format!("version {version}, expected {CACHE_VERSION}"),
            ));
        }
        let n = u32_at(12)? as usize;
        let absolute = u32_at(16)? as usize;
        let nregions = u32_at(20)? as usize;
        let names_len = u32_at(24)? as usize;
        let source = data
            .get(28)
            .and_then(|&c| SymbolSource::from_code(c))
            .ok_or_else(|| cache_err(28, "unknown symbol source"))?;
        if data.get(29..32) != Some(&[0, 0, 0]) {
            return Err(cache_err(29, "reserved header bytes are not zero"));
        }
        if n > MAX_CACHED_SYMBOLS {
            return Err(cache_err(
                12,
                format!("{n} symbols is more than qmdb accepts"),
            ));
        }
        if absolute > n {
            return Err(cache_err(16, "more absolute symbols than symbols"));
        }
        // n is capped, so these cannot overflow; the region count and name size can.
        let addrs_at = HEADER;
        let regions_at = addrs_at + 8 * n;
        let order_at = nregions
            .checked_mul(16)
            .and_then(|r| regions_at.checked_add(r))
            .ok_or_else(|| cache_err(20, "region count overflows"))?;
        let lens_at = order_at + 4 * n;
        let kinds_at = lens_at + 2 * n;
        let names_at = kinds_at + n;
        let sum_at = names_at
            .checked_add(names_len)
            .ok_or_else(|| cache_err(24, "name size overflows"))?;
        if data.len() != sum_at.saturating_add(8) {
            return Err(cache_err(
                data.len().min(sum_at),
                format!(
                    "size {} does not match the header ({})",
                    data.len(),
                    sum_at.saturating_add(8)
                ),
            ));
        }
        let (body, tail) = data.split_at(sum_at);
        let stored = u64::from_le_bytes(
            tail.try_into()
                .map_err(|_| cache_err(sum_at, "truncated checksum"))?,
        );
        if checksum(body) != stored {
            return Err(cache_err(sum_at, "checksum mismatch"));
        }
        let u64s = |at: usize, count: usize| {
            body[at..at + 8 * count]
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        };
        let mut regions: Vec<Range<u64>> = Vec::with_capacity(nregions);
        let mut bounds = u64s(regions_at, 2 * nregions);
        for k in 0..nregions {
            let (Some(start), Some(end)) = (bounds.next(), bounds.next()) else {
                return Err(cache_err(regions_at + 16 * k, "truncated region"));
            };
            if start == 0 || start >= end || regions.last().is_some_and(|p| p.start > start) {
                return Err(cache_err(regions_at + 16 * k, "bad region"));
            }
            regions.push(start..end);
        }
        let names = std::str::from_utf8(&body[names_at..])
            .map_err(|e| cache_err(names_at + e.valid_up_to(), "names are not UTF-8"))?;
        let lens = body[lens_at..kinds_at]
            .chunks_exact(2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
        let mut symbols: Vec<Symbol> = Vec::with_capacity(n);
        let mut name_off = 0usize;
        for (i, ((addr, len), &kind)) in u64s(addrs_at, n)
            .zip(lens)
            .zip(&body[kinds_at..names_at])
            .enumerate()
        {
            if !kind.is_ascii_alphabetic() {
                return Err(cache_err(kinds_at + i, "bad type letter"));
            }
            let name = name_off
                .checked_add(len)
                .filter(|_| len > 0)
                .and_then(|end| names.get(name_off..end))
                .ok_or_else(|| cache_err(lens_at + 2 * i, "bad name length"))?;
            let sym = Symbol {
                name: name.to_owned(),
                addr,
                kind: char::from(kind),
            };
            let order_ok = match symbols.last() {
                None => true,
                Some(p) => {
                    (p.is_absolute() && !sym.is_absolute())
                        || (p.is_absolute() == sym.is_absolute() && p.addr <= sym.addr)
                }
            };
            if sym.is_absolute() != (i < absolute) || !order_ok {
                return Err(cache_err(addrs_at + 8 * i, "symbols out of order"));
            }
            symbols.push(sym);
            name_off += len;
        }
        if name_off != names.len() {
            return Err(cache_err(names_at + name_off, "name lengths do not add up"));
        }
        // The name order must be a permutation sorted by (hash, index).
        let hashes: Vec<u64> = symbols.iter().map(|s| name_hash(&s.name)).collect();
        let mut seen = vec![false; n];
        let mut by_name: Vec<(u64, u32)> = Vec::with_capacity(n);
        for (k, b) in body[order_at..lens_at].chunks_exact(4).enumerate() {
            let i = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let entry = hashes.get(i as usize).map(|&h| (h, i));
            match (entry, seen.get_mut(i as usize)) {
                (Some(e), Some(s)) if !*s && by_name.last().is_none_or(|&p| p < e) => {
                    *s = true;
                    by_name.push(e);
                }
                _ => return Err(cache_err(order_at + 4 * k, "bad name order")),
            }
        }
        Ok(SymbolTable {
            symbols,
            absolute,
            by_name,
            regions,
            source,
        })
    }
}

const MAGIC: &[u8; 8] = b"QMDBSYMS";
const CACHE_VERSION: u32 = 1;
const HEADER: usize = 32;
/// More than any kernel's `.symtab` (kallsyms is capped lower, at `MAX_SYMBOLS`).
const MAX_CACHED_SYMBOLS: usize = 4 * MAX_SYMBOLS as usize;

/// The symbol whose start is the greatest ≤ `addr` in `syms` (sorted), preferring the
/// first of aliases; its start; and the next greater start, if any.
fn containing(syms: &[Symbol], addr: u64) -> Option<(&Symbol, u64, Option<u64>)> {
    let i = syms.partition_point(|s| s.addr <= addr);
    let start = syms.get(i.checked_sub(1)?)?.addr;
    let first = syms[..i].partition_point(|s| s.addr < start);
    Some((&syms[first], start, syms.get(i).map(|s| s.addr)))
}

/// The symbols of an ELF's `.symtab`, with nm type letters, in the order scripts/kallsyms
/// would give aliases (non-weak first, then fewer leading underscores). Empty if the ELF
/// has no `.symtab`.
///
/// As scripts/kallsyms does, symbols of a `.data..percpu` section linked at 0 (6.1–6.14)
/// are typed `A`: their values are per-CPU offsets.
fn elf_symbols(obj: &object::File<'_>) -> Vec<Symbol> {
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

/// A 64-bit hash of a name (FxHash-style word mixing with a final avalanche).
fn name_hash(name: &str) -> u64 {
    let mut h = word_hash(0x9e37_79b9_7f4a_7c15, name.as_bytes());
    h ^= name.len() as u64;
    fmix(h)
}

fn word_hash(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    h
}

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The cache checksum: not cryptographic, it catches truncation and corruption.
fn checksum(bytes: &[u8]) -> u64 {
    fmix(word_hash(0x2545_f491_4f6c_dd1d, bytes) ^ bytes.len() as u64)
}

/// A [`SymbolTable`] seen at runtime addresses: link-time address + `slide` (the KASLR
/// slide). Absolute symbols keep their values.
#[derive(Debug, Clone)]
pub struct SlidSymbols {
    pub table: Arc<SymbolTable>,
    pub slide: u64,
}

impl SlidSymbols {
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
