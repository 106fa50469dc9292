//! Knowledge of the guest kernel: its image, symbols, types and layout.

pub mod btf;
pub mod decompress;
pub mod image;
pub mod symtab;

pub use btf::Btf;
pub use decompress::Compression;
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
}

/// Why a kernel image could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("not a kernel image: no bzImage header (HdrS) and no ELF magic")]
    NotKernel,
    #[error("truncated kernel image: the header field at offset {offset:#x} points past the end")]
    Truncated { offset: usize },
    #[error("unknown compression of the bzImage payload")]
    UnknownCompression,
    #[error("cannot decompress the {format:?} payload: {message}")]
    Decompress { format: Compression, message: String },
    #[error("the decompressed payload is not an ELF file")]
    NotElf,
    #[error("bad kernel ELF: {0}")]
    Elf(String),
}
