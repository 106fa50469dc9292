//! Knowledge of the guest kernel: its image, symbols, types and layout.

pub mod banner;
pub mod btf;
pub mod decompress;
pub mod image;
pub mod kaslr;
pub mod symtab;

pub use banner::{find_banner, Banner};
pub use btf::Btf;
pub use decompress::Compression;
pub use image::{KernelImage, Section};
pub use kaslr::{find_slide, KaslrError};
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
    Decompress {
        format: Compression,
        message: String,
    },
    #[error("the decompressed payload is not an ELF file")]
    NotElf,
    #[error("bad kernel ELF: {0}")]
    Elf(String),
}

/// Why kernel knowledge could not be set up for a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{0}: no linux_banner (\"Linux version ...\") in its .rodata")]
    NoBanner(String),
    #[error("{0}: no .text section")]
    NoText(String),
    #[error(transparent)]
    Kaslr(#[from] KaslrError),
}

/// Loads `path`, checks it against the running guest, and finds the KASLR slide.
///
/// The guest must hold the file's `linux_banner` at some 2 MiB-aligned slide, byte for byte;
/// a different kernel is refused with both banners in the error.
pub fn attach(
    target: &mut dyn qmdb_bridge::Target,
    path: &std::path::Path,
) -> Result<Kernel, KernelError> {
    let image = KernelImage::open(path)?;
    let name = path.display().to_string();
    let banner = find_banner(&image).ok_or_else(|| KernelError::NoBanner(name.clone()))?;
    let text = image
        .section(".text")
        .map(|s| s.addr..s.addr + s.data.len() as u64)
        .ok_or_else(|| KernelError::NoText(name.clone()))?;
    let rips: Vec<u64> = target
        .read_registers()
        .ok()
        .and_then(|r| r.get_u64("rip"))
        .into_iter()
        .collect();
    let slide = find_slide(target, &banner, text, &rips)?;
    Ok(Kernel {
        release: banner.release().map(str::to_string),
        banner: Some(banner.text.clone()),
        slide,
        symbols: Arc::new(SymbolTable::default()),
        types: None,
    })
}
