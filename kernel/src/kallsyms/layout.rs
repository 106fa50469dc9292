//! The kallsyms tables: what each one holds, how their encodings changed between kernel
//! versions, and where a decoded image had them. Parsing lives in `locate.rs` and
//! `decode.rs`; this file only describes the format.
//!
//! Every table is written by `scripts/kallsyms` into `.rodata`, each behind an aligned label
//! (`.balign 8` on 64-bit kernels up to 6.19, `.balign 4` since 7.0):
//!
//! | table | contents |
//! |---|---|
//! | `kallsyms_num_syms` | u32: the number of symbols, n |
//! | `kallsyms_names` | n entries: a length, then that many token indices (u8). The length is one byte, or since 6.1 two bytes (a ULEB128: a first byte with bit 7 set holds the low 7 bits). The first character of the expanded entry is the nm type letter. |
//! | `kallsyms_markers` | u32 per 256 symbols: the offset in `kallsyms_names` of entry 256·k |
//! | `kallsyms_token_table` | 256 NUL-terminated strings; every character used in a name is its own single-character token (so "0".."9" sit at 48..57) |
//! | `kallsyms_token_index` | 256 × u16: the offset of each token in `kallsyms_token_table` |
//! | `kallsyms_offsets` | n × 32-bit values, decoded per [`AddressEncoding`] |
//! | `kallsyms_relative_base` | u64 (6.1–6.19 only), right after `kallsyms_offsets` |
//! | `kallsyms_seqs_of_names` | since 6.2: n × 3 bytes (big-endian symbol index), the symbols sorted by name |
//!
//! The order changed twice: up to 6.3 it was offsets, relative_base, num_syms, names,
//! markers, (seqs_of_names), token_table, token_index; 6.4 (commit 404bad70fcf7,
//! "scripts/kallsyms: change the output order") moved offsets, relative_base and
//! seqs_of_names after token_index; 7.0 ("kallsyms: Get rid of kallsyms relative base",
//! Ard Biesheuvel, January 2026) dropped relative_base, made the offsets place-relative
//! (`.long _text - . + off`) and aligns every label to 4 (`.balign 4`) on all
//! architectures. Debian's 7.2.13 (measured): num_syms, names, markers, token_table,
//! token_index, offsets, seqs_of_names, each starting where the previous one ends (the
//! names rounded up to 4). The locator walks outward from the token table along these
//! orders (`locate.rs`).

use std::fmt;
use std::ops::Range;

/// `KSYM_NAME_LEN`: a name and its type letter expand to at most this many characters.
pub const KSYM_NAME_LEN: usize = 512;
/// The most symbols we accept (Linux x86_64 kernels have 100k–300k).
pub const MAX_SYMBOLS: u32 = 2_000_000;
/// The number of tokens and of `kallsyms_token_index` entries.
pub const TOKENS: usize = 256;
/// Symbols per `kallsyms_markers` entry.
pub const MARKER_STRIDE: usize = 256;
/// The fewest bytes 256 names can take (a length byte and one token each).
pub const MIN_GROUP_BYTES: u32 = (MARKER_STRIDE * 2) as u32;
/// The most bytes 256 names can take (two length bytes and `KSYM_NAME_LEN` tokens each).
pub const MAX_GROUP_BYTES: u32 = (MARKER_STRIDE * (2 + KSYM_NAME_LEN)) as u32;

/// How `kallsyms_offsets` encodes addresses.
///
/// Read from `kallsyms_sym_address()` (kernel/kallsyms.c) and `write_src()`
/// (scripts/kallsyms.c) of each version:
/// - 6.1–6.14 on x86_64 SMP (`CONFIG_KALLSYMS_ABSOLUTE_PERCPU`): [`AbsolutePercpu`];
/// - 6.15–6.19 (commit 01157ddc58dc removed ABSOLUTE_PERCPU), and 6.1–6.14 without SMP:
///   [`BaseRelative`];
/// - 7.0 and later ("kallsyms: Get rid of kallsyms relative base"): [`PcRelative`].
///
/// `kallsyms_addresses` (absolute u64 addresses) cannot occur on x86_64 since 4.6: there
/// `CONFIG_KALLSYMS_BASE_RELATIVE` had no prompt and was always on, until 6.11 removed it.
///
/// [`AbsolutePercpu`]: AddressEncoding::AbsolutePercpu
/// [`BaseRelative`]: AddressEncoding::BaseRelative
/// [`PcRelative`]: AddressEncoding::PcRelative
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressEncoding {
    /// A value ≥ 0 is an absolute value (a per-CPU offset, type `A`); a negative one is
    /// `relative_base - 1 - value`.
    AbsolutePercpu { relative_base: u64 },
    /// `relative_base + (u32)value`.
    BaseRelative { relative_base: u64 },
    /// `&kallsyms_offsets[i] + (s32)value`: a place-relative reference.
    PcRelative,
}

impl AddressEncoding {
    /// The address of entry `index`, whose 32-bit value is `value`, in a table at link
    /// address `table_addr`.
    pub fn address(self, table_addr: u64, index: usize, value: u32) -> u64 {
        let signed = i64::from(value as i32);
        match self {
            AddressEncoding::AbsolutePercpu { relative_base } => {
                if signed >= 0 {
                    signed as u64
                } else {
                    // relative_base - 1 - value, with value < 0.
                    relative_base.wrapping_sub(1).wrapping_sub(signed as u64)
                }
            }
            AddressEncoding::BaseRelative { relative_base } => {
                relative_base.wrapping_add(u64::from(value))
            }
            AddressEncoding::PcRelative => table_addr
                .wrapping_add((index as u64).wrapping_mul(4))
                .wrapping_add(signed as u64),
        }
    }

    /// Whether entry `value` is an absolute value rather than an address in the image.
    pub fn is_absolute(self, value: u32) -> bool {
        matches!(self, AddressEncoding::AbsolutePercpu { .. }) && (value as i32) >= 0
    }

    /// `kallsyms_relative_base`, when the encoding has one.
    pub fn relative_base(self) -> Option<u64> {
        match self {
            AddressEncoding::AbsolutePercpu { relative_base }
            | AddressEncoding::BaseRelative { relative_base } => Some(relative_base),
            AddressEncoding::PcRelative => None,
        }
    }
}

impl fmt::Display for AddressEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressEncoding::AbsolutePercpu { relative_base } => write!(
                f,
                "base-relative with absolute per-CPU symbols (base {relative_base:#x})"
            ),
            AddressEncoding::BaseRelative { relative_base } => {
                write!(f, "base-relative (base {relative_base:#x})")
            }
            AddressEncoding::PcRelative => f.write_str("place-relative"),
        }
    }
}

/// One of the kallsyms tables, for error messages and layout listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    NumSyms,
    Names,
    Markers,
    TokenTable,
    TokenIndex,
    Offsets,
    RelativeBase,
    SeqsOfNames,
}

impl Table {
    /// The kernel's symbol name for the table.
    pub fn symbol(self) -> &'static str {
        match self {
            Table::NumSyms => "kallsyms_num_syms",
            Table::Names => "kallsyms_names",
            Table::Markers => "kallsyms_markers",
            Table::TokenTable => "kallsyms_token_table",
            Table::TokenIndex => "kallsyms_token_index",
            Table::Offsets => "kallsyms_offsets",
            Table::RelativeBase => "kallsyms_relative_base",
            Table::SeqsOfNames => "kallsyms_seqs_of_names",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Where the tables were found: byte offsets into `.rodata`, whose link address is
/// `rodata_addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub rodata_addr: u64,
    /// The number of symbols, and where `kallsyms_num_syms` holds it.
    pub num_syms: u32,
    pub num_syms_at: usize,
    pub names: Range<usize>,
    pub markers: Range<usize>,
    pub token_table: Range<usize>,
    pub token_index: Range<usize>,
    pub offsets: Range<usize>,
    pub encoding: AddressEncoding,
    /// Where `kallsyms_relative_base` is, for the encodings that have one.
    pub relative_base_at: Option<usize>,
    /// `kallsyms_seqs_of_names` (6.2+), and its entry width (3 bytes; 4 in 6.2-rc kernels).
    pub seqs_of_names: Option<(Range<usize>, usize)>,
    /// Whether some name uses the two-byte length form (6.1+).
    pub big_lengths: bool,
}

impl Layout {
    /// The tables in the order they appear in `.rodata`, with their ranges.
    pub fn tables(&self) -> Vec<(Table, Range<usize>)> {
        let mut v = vec![
            (Table::NumSyms, self.num_syms_at..self.num_syms_at + 4),
            (Table::Names, self.names.clone()),
            (Table::Markers, self.markers.clone()),
            (Table::TokenTable, self.token_table.clone()),
            (Table::TokenIndex, self.token_index.clone()),
            (Table::Offsets, self.offsets.clone()),
        ];
        if let Some(at) = self.relative_base_at {
            v.push((Table::RelativeBase, at..at + 8));
        }
        if let Some((r, _)) = &self.seqs_of_names {
            v.push((Table::SeqsOfNames, r.clone()));
        }
        v.sort_by_key(|(_, r)| r.start);
        v
    }

    /// The link address of a `.rodata` offset.
    pub fn addr_of(&self, offset: usize) -> u64 {
        self.rodata_addr.wrapping_add(offset as u64)
    }

    /// The kernel versions this layout fits, from the table order and encodings.
    pub fn version_hint(&self) -> &'static str {
        let new_order = self.offsets.start > self.token_index.start;
        match (self.encoding, new_order, self.seqs_of_names.is_some()) {
            (AddressEncoding::PcRelative, _, _) => "7.0 or later",
            (AddressEncoding::BaseRelative { .. }, true, _) => {
                "6.15-6.19 (or 6.4-6.14 without ABSOLUTE_PERCPU)"
            }
            (AddressEncoding::BaseRelative { .. }, false, true) => {
                "6.2-6.3 (or 6.1.y stable) without ABSOLUTE_PERCPU"
            }
            (AddressEncoding::BaseRelative { .. }, false, false) => "6.1 without ABSOLUTE_PERCPU",
            (AddressEncoding::AbsolutePercpu { .. }, true, _) => "6.4-6.14",
            (AddressEncoding::AbsolutePercpu { .. }, false, true) => "6.2-6.3 (or 6.1.y stable)",
            (AddressEncoding::AbsolutePercpu { .. }, false, false) => "6.1 (or older)",
        }
    }
}

/// Why the kallsyms tables could not be found or decoded. Offsets are into `.rodata`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KallsymsError {
    #[error("the image has no .rodata section")]
    NoRodata,
    #[error("{table} not found in .rodata: {why}")]
    NotFound { table: Table, why: &'static str },
    #[error("{table} truncated: {len} bytes at .rodata+{offset:#x} run past the end of .rodata")]
    Truncated {
        table: Table,
        offset: usize,
        len: usize,
    },
    #[error("{table} at .rodata+{offset:#x}: {reason}")]
    Corrupt {
        table: Table,
        offset: usize,
        reason: String,
    },
    #[error(
        "kallsyms_num_syms at .rodata+{offset:#x} is {count}, more than the {max} qmdb accepts"
    )]
    TooManySymbols { offset: usize, count: u32, max: u32 },
    #[error("{table} not found where the layout puts it, near .rodata+{offset:#x}: {why}")]
    NotFoundNear {
        table: Table,
        offset: usize,
        why: String,
    },
}

impl KallsymsError {
    pub(crate) fn corrupt(table: Table, offset: usize, reason: impl Into<String>) -> Self {
        KallsymsError::Corrupt {
            table,
            offset,
            reason: reason.into(),
        }
    }
}

/// An allocated section of the kernel ELF, used to check decoded addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionRange {
    pub addr: u64,
    pub size: u64,
    /// `SHF_EXECINSTR`: text symbols must lie in such sections.
    pub exec: bool,
}

impl SectionRange {
    /// `addr <= a <= end`: a symbol may sit at a section's end (`_etext`).
    pub fn holds_inclusive(&self, a: u64) -> bool {
        a >= self.addr && a - self.addr <= self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_decode_as_the_kernel_does() {
        let abs = AddressEncoding::AbsolutePercpu {
            relative_base: 0xffff_ffff_8100_0000,
        };
        // A per-CPU offset is kept as is.
        assert_eq!(abs.address(0, 0, 0x1fb80), 0x1fb80);
        assert!(abs.is_absolute(0x1fb80));
        // -1 is the base itself, -0x11 is base + 0x10.
        assert_eq!(abs.address(0, 0, u32::MAX), 0xffff_ffff_8100_0000);
        assert_eq!(abs.address(0, 0, (-0x11i32) as u32), 0xffff_ffff_8100_0010);
        assert!(!abs.is_absolute(u32::MAX));

        let rel = AddressEncoding::BaseRelative {
            relative_base: 0xffff_ffff_0000_0000,
        };
        // Unsigned: even 0xffff_fff0 is an offset forward.
        assert_eq!(rel.address(0, 0, 0xffff_fff0), 0xffff_ffff_ffff_fff0);
        assert_eq!(rel.address(0, 0, 0x10), 0xffff_ffff_0000_0010);
        assert!(!rel.is_absolute(0));

        let pc = AddressEncoding::PcRelative;
        let table = 0xffff_ffff_8230_0000u64;
        assert_eq!(pc.address(table, 2, 0x10), table + 8 + 0x10);
        assert_eq!(
            pc.address(table, 1, (-0x0130_0004i32) as u32),
            0xffff_ffff_8100_0000
        );
    }
}
