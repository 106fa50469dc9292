//! Shared by the integration tests that read the real Debian kernels.

use qmdb_kernel::cache::default_cache_root;
use qmdb_kernel::KernelImage;

/// The cached vmlinuz of `version` ("6.1" or "6.12"), or a failure saying how to get it.
#[allow(dead_code)]
pub fn kernel(version: &str) -> KernelImage {
    let path = kernel_path(version);
    KernelImage::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The path of the cached vmlinuz of `version`, or a failure saying how to get it.
#[allow(dead_code)]
pub fn kernel_path(version: &str) -> std::path::PathBuf {
    let cache = default_cache_root().expect("neither QMDB_CACHE nor HOME is set");
    let path = cache.join("kernels").join(version).join("vmlinuz");
    assert!(
        path.exists(),
        "{} is missing: set up the real guest fixture with `scripts/guest setup --kernel all`",
        path.display()
    );
    path
}
