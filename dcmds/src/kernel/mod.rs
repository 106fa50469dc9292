//! Knowledge of the guest kernel: its image, symbols, types and layout.

pub mod banner;
pub mod btf;
pub mod cache;
pub mod decompress;
pub mod dwarf;
pub mod guest;
pub mod image;
pub mod kallsyms;
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
    /// The ORC unwind table, at link-time addresses.
    pub orc: Option<Arc<crate::unwind::OrcTable>>,
    /// What could not be loaded, for `::status`.
    pub notes: Vec<String>,
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
    Symbols(#[from] symtab::SymbolError),
    #[error(transparent)]
    Kaslr(#[from] KaslrError),
}

/// Loads `path` (through the cache under `cache_root`), checks it against the running guest,
/// and finds the KASLR slide.
///
/// The guest must hold the file's `linux_banner` at some 2 MiB-aligned slide, byte for byte;
/// a different kernel is refused with both banners in the error.
pub fn attach(
    target: &mut dyn qmdb_bridge::Target,
    path: &std::path::Path,
    cache_root: Option<&std::path::Path>,
) -> Result<(Kernel, cache::Origin), KernelError> {
    let (files, origin) = cache::KernelFiles::load(path, cache_root)?;
    let rips: Vec<u64> = target
        .read_registers()
        .ok()
        .and_then(|r| r.get_u64("rip"))
        .into_iter()
        .collect();
    let slide = find_slide(target, &files.banner, files.text.clone(), &rips)?;
    Ok((Kernel::from_files(files, slide), origin))
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
