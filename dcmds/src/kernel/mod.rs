//! Knowledge of the guest kernel: its image, symbols, types and layout.

pub mod decompress;
pub mod image;

pub use decompress::Compression;
pub use image::{KernelImage, Section};

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
