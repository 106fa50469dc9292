//! Kernel types from DWARF, for a vmlinux built without `.BTF`: the types of `.debug_info`
//! converted into a BTF blob that [`crate::Btf::parse`] reads like a real `.BTF`
//! section (and that can be cached like one).
//!
//! ```no_run
//! # fn demo(elf: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use qmdb_kernel::{btf::Btf, dwarf::btf_from_dwarf};
//! if let Some(blob) = btf_from_dwarf(elf)? {
//!     let btf = Btf::parse(&blob)?;
//!     let task = btf.find("struct task_struct")?;
//!     println!("{}", btf.size_of_ctype(&task)?);
//! }
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - `sections`: the debug sections of the ELF, decompressed;
//! - `die`: a DIE reduced to plain data (the attributes conversion reads);
//! - `units`: unit headers, reading DIEs, names in every string form, references;
//! - `convert`: the walk over units, and deduplication of named types across them;
//! - `kinds`: base types, arrays, function prototypes, placeholders;
//! - `aggregate`: structs, unions (members, bitfields) and enums;
//! - `table`: the BTF records, their dedup indexes, and their layout through
//!   [`crate::btf::builder::BtfBuilder`].
//!
//! Deduplication: a vmlinux has thousands of units, each defining the same headers' types.
//! A named struct, union, enum or typedef is converted once, keyed by kind, name, size and
//! the line it is defined at; a declaration becomes a FWD that the first definition met,
//! in any unit, takes over. Anonymous types, pointers, qualifiers, arrays and prototypes are
//! deduplicated by content.
//!
//! What BTF cannot say (complex floats, pointers to members, variable-length arrays) becomes
//! a sized placeholder struct, a 0-length array or void; only structurally corrupt DWARF is
//! an error. Work is bounded: recursion by [`crate::btf::MAX_DEPTH`], records by
//! BTF's own limits, every loop by the input's size.

mod aggregate;
mod convert;
mod die;
mod error;
mod kinds;
mod sections;
mod table;
mod units;

#[cfg(test)]
mod tests;

pub use error::DwarfError;
pub use sections::MAX_SECTION_SIZE;

/// The types of an ELF file's DWARF as a `.BTF` blob, or `None` when the file has no (or an
/// empty) `.debug_info`. DWARF 2 to 5; compressed sections (zlib, zstd) are decompressed;
/// relocations are not applied (a linked vmlinux has none).
pub fn btf_from_dwarf(elf: &[u8]) -> Result<Option<Vec<u8>>, DwarfError> {
    let Some(sections) = sections::load(elf)? else {
        return Ok(None);
    };
    let endian = sections.endian;
    let dwarf = sections
        .dwarf
        .borrow(|s| gimli::EndianSlice::new(s.as_ref(), endian));
    let table = convert::convert(&dwarf, endian == gimli::RunTimeEndian::Big)?;
    Ok(Some(table.build()))
}
