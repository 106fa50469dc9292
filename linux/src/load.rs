//! The kernel from a file (`--kernel`): loaded through the cache, checked against the running
//! guest, and slid.

use crate::kaslr::{find_slide, KaslrError};
use crate::Program;
use qmdb_kernel::cache::{KernelFiles, Origin};
use qmdb_kernel::{Kernel, KernelError};
use std::path::Path;

/// Why a kernel file could not be attached to the guest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The kernel file (or its cache entry) could not be loaded.
    #[error(transparent)]
    Files(#[from] KernelError),
    /// The file does not match the guest, or no slide was found.
    #[error(transparent)]
    Kaslr(#[from] KaslrError),
}

/// Loads `path` (through the cache under `cache_root`), checks it against the running guest,
/// and finds the KASLR slide.
///
/// The guest must hold the file's `linux_banner` at some 2 MiB-aligned slide, byte for byte;
/// a different kernel is refused with both banners in the error.
pub fn load_kernel(
    target: &mut dyn qmdb_bridge::Target,
    path: &Path,
    cache_root: Option<&Path>,
) -> Result<(Kernel, Origin), LoadError> {
    let (files, origin) = KernelFiles::load(path, cache_root)?;
    let rips: Vec<u64> = target
        .read_registers()
        .ok()
        .and_then(|r| crate::arch::pc(&r))
        .into_iter()
        .collect();
    let slide = find_slide(target, &files.banner, files.text.clone(), &rips)?;
    Ok((Kernel::from_files(files, slide), origin))
}

/// Installs `kernel` in `program` and reads the loaded modules' symbols over its own, as an
/// attach does: a few KB per module, read once here because the symbol hook cannot read the
/// guest (`::lsmod` reads them again). A kernel without modules, BTF or a `modules` symbol
/// simply has none.
pub fn install(program: &mut Program, kernel: Kernel) {
    program.set_kernel(kernel);
    if program.symbols().lookup_name("modules").is_some() {
        let _ = crate::modules::refresh_symbols(program, "attach");
    }
}
