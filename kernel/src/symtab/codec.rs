//! The compact, checksummed binary form of a [`SymbolTable`], for an on-disk cache keyed by
//! the image's build id. Everything read back is checked: the cache file is untrusted input.

use super::{
    cache_err, fmix, name_hash, word_hash, Symbol, SymbolError, SymbolSource, SymbolTable,
    MAX_CACHED_SYMBOLS,
};
use std::ops::Range;

const MAGIC: &[u8; 8] = b"QMDBSYMS";
const CACHE_VERSION: u32 = 1;
const HEADER: usize = 32;

/// The cache checksum: not cryptographic, it catches truncation and corruption.
fn checksum(bytes: &[u8]) -> u64 {
    fmix(word_hash(0x2545_f491_4f6c_dd1d, bytes) ^ bytes.len() as u64)
}

impl SymbolTable {
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
            crate::le::u32_at(data, off).ok_or_else(|| cache_err(off, "truncated header"))
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
        let (body, stored) = data
            .split_last_chunk::<8>()
            .ok_or_else(|| cache_err(sum_at, "truncated checksum"))?;
        if checksum(body) != u64::from_le_bytes(*stored) {
            return Err(cache_err(sum_at, "checksum mismatch"));
        }
        // The size check above makes every part fit; a part that does not is an error all
        // the same, never a panic.
        let part = |from: usize, to: usize, what: &str| {
            body.get(from..to)
                .ok_or_else(|| cache_err(from, format!("the {what} run past the end")))
        };
        let addrs = part(addrs_at, regions_at, "addresses")?.as_chunks::<8>().0;
        let bounds = part(regions_at, order_at, "regions")?.as_chunks::<8>().0;
        let order = part(order_at, lens_at, "name order")?.as_chunks::<4>().0;
        let lens = part(lens_at, kinds_at, "name lengths")?.as_chunks::<2>().0;
        let kinds = part(kinds_at, names_at, "type letters")?;
        let names = part(names_at, body.len(), "names")?;
        let mut regions: Vec<Range<u64>> = Vec::with_capacity(nregions);
        for (k, &[start, end]) in bounds.as_chunks::<2>().0.iter().enumerate() {
            let (start, end) = (u64::from_le_bytes(start), u64::from_le_bytes(end));
            if start == 0 || start >= end || regions.last().is_some_and(|p| p.start > start) {
                return Err(cache_err(regions_at + 16 * k, "bad region"));
            }
            regions.push(start..end);
        }
        let names = std::str::from_utf8(names)
            .map_err(|e| cache_err(names_at + e.valid_up_to(), "names are not UTF-8"))?;
        let mut symbols: Vec<Symbol> = Vec::with_capacity(n);
        let mut name_off = 0usize;
        for (i, ((&addr, &len), &kind)) in addrs.iter().zip(lens).zip(kinds).enumerate() {
            let (addr, len) = (
                u64::from_le_bytes(addr),
                usize::from(u16::from_le_bytes(len)),
            );
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
        for (k, &b) in order.iter().enumerate() {
            let i = u32::from_le_bytes(b);
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
