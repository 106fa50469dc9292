//! Why DWARF could not be converted: the ELF or a debug section is unreadable, or the DWARF is
//! structurally corrupt. Each error names the section and offset it was found at.

/// A DWARF → BTF conversion error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DwarfError {
    #[error("not a readable ELF file: {0}")]
    Elf(String),
    #[error("cannot read section {section}: {message}")]
    Section { section: String, message: String },
    #[error("section {section} is {size} bytes uncompressed, more than the {max} accepted")]
    SectionTooLarge {
        section: String,
        size: u64,
        max: u64,
    },
    #[error("section {section} decompressed to {size} bytes, its header says {header}")]
    SizeMismatch {
        section: String,
        size: u64,
        header: u64,
    },
    #[error("bad unit header at .debug_info offset {offset:#x}: {message}")]
    UnitHeader { offset: usize, message: String },
    #[error(
        "bad abbreviations at .debug_abbrev offset {abbrev:#x} (unit at .debug_info offset {unit:#x}): {message}"
    )]
    Abbreviations {
        unit: usize,
        abbrev: usize,
        message: String,
    },
    #[error("bad DIE at .debug_info offset {offset:#x}: {message}")]
    Die { offset: usize, message: String },
    #[error(
        "DIE at .debug_info offset {offset:#x} refers to offset {target:#x}, which is in no unit"
    )]
    BadReference { offset: usize, target: usize },
    #[error("more than {max} BTF types")]
    TooManyTypes { max: usize },
}
