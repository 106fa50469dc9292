//! Knowledge of a Linux kernel image, sans-IO: the bzImage and its payload, kallsyms,
//! BTF (or DWARF turned into BTF), ORC tables, the symbol table, and the on-disk cache.
//!
//! Nothing here reads a guest: every parser takes bytes (a file, or pages a caller read) and
//! returns typed data or an error naming the table and offset that were wrong. The guest side
//! (finding the image in memory, the KASLR slide) is `qmdb-linux`'s.

pub mod arch;
pub mod banner;
pub mod btf;
pub mod cache;
pub mod decompress;
pub mod dwarf;
/// Real kernels for tests (`fixture` feature).
#[cfg(feature = "fixture")]
pub mod fixture;
pub mod image;
pub mod kallsyms;
mod le;
pub mod number;
pub mod symbol;
pub mod symbols;
pub mod symtab;

/// The ORC unwind tables (x86_64 only), at their historical path.
pub use arch::x86_64::orc;
pub use banner::{find_banner, Banner};
pub use btf::Btf;
pub use decompress::{Compression, DecompressError};
pub use image::{KernelImage, Section};
pub use symtab::{Symbol, SymbolTable};

use std::sync::Arc;

/// What the session knows about the running kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// `uname -r`, from the banner.
    pub release: Option<String>,
    /// `linux_banner`, as in the image and in the guest.
    pub banner: Option<String>,
    /// The KASLR slide: a symbol's runtime address is its link-time address plus this.
    pub slide: u64,
    /// Symbols at link-time addresses.
    pub symbols: Arc<SymbolTable>,
    /// Types, when the image has BTF.
    pub types: Option<Arc<Btf>>,
    /// The ORC unwind table, at link-time addresses.
    pub orc: Option<Arc<orc::OrcTable>>,
    /// What could not be loaded, for `::status`.
    pub notes: Vec<String>,
}

/// Why a kernel image could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file cannot be read.
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    /// Neither a bzImage nor an ELF file.
    #[error("not a kernel image: no bzImage header (HdrS) and no ELF magic")]
    NotKernel,
    /// A bzImage header field at `offset` points past the end of the file.
    #[error("truncated kernel image: the header field at offset {offset:#x} points past the end")]
    Truncated { offset: usize },
    /// The payload's magic is no format the kernel builds with.
    #[error("unknown compression of the bzImage payload")]
    UnknownCompression,
    /// The payload does not decompress.
    #[error("cannot decompress the {format:?} payload: {message}")]
    Decompress {
        format: Compression,
        message: decompress::DecompressError,
    },
    /// The decompressed payload is not an ELF file.
    #[error("the decompressed payload is not an ELF file")]
    NotElf,
    /// The ELF does not parse.
    #[error("bad kernel ELF: {0}")]
    Elf(String),
}

/// Why kernel knowledge could not be set up for a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The image does not load.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The image (named) has no banner to recognise the running kernel by.
    #[error("{0}: no linux_banner (\"Linux version ...\") in its .rodata")]
    NoBanner(String),
    /// The image (named) has no `.text`.
    #[error("{0}: no .text section")]
    NoText(String),
    /// Neither `.symtab` nor kallsyms give symbols.
    #[error(transparent)]
    Symbols(#[from] symtab::SymbolError),
}

impl Kernel {
    /// The session's view of a kernel whose files are `files`, running at `slide`.
    pub fn from_files(files: cache::KernelFiles, slide: u64) -> Kernel {
        let mut notes = Vec::new();
        let types = match files.btf.as_deref().map(Btf::parse) {
            Some(Ok(btf)) => {
                if files.types_from_dwarf {
                    notes.push("types from the image's DWARF (it has no .BTF)".to_string());
                }
                Some(Arc::new(btf))
            }
            Some(Err(e)) => {
                notes.push(format!("the .BTF section does not parse: {e}"));
                None
            }
            None => {
                notes
                    .push("the kernel has neither .BTF nor DWARF: no type information".to_string());
                None
            }
        };
        match (&files.orc, &files.orc_error) {
            (None, Some(e)) => notes.push(format!("no ORC unwind data: {e}")),
            (None, None) => notes.push(
                "the kernel has no ORC unwind data: stacks are walked by frame pointers"
                    .to_string(),
            ),
            _ => {}
        }
        Kernel {
            release: files.banner.release().map(str::to_string),
            banner: Some(files.banner.text.clone()),
            slide,
            symbols: Arc::new(files.symbols),
            types,
            orc: files.orc.map(Arc::new),
            notes,
        }
    }
}
