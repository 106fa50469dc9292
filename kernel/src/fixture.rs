//! The real Debian kernels `scripts/guest setup` caches, for tests of this crate and of the
//! crates above it (the `fixture` feature).
#![allow(clippy::expect_used, clippy::panic)]

use crate::cache::default_cache_root;
use crate::KernelImage;
use std::path::PathBuf;

/// The cached vmlinuz of `version` ("6.1", "6.12" or "newest"), or a failure saying how to
/// get it.
pub fn kernel(version: &str) -> KernelImage {
    let path = kernel_path(version);
    KernelImage::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The path of the cached vmlinuz of `version`, or a failure saying how to get it.
pub fn kernel_path(version: &str) -> PathBuf {
    let cache = default_cache_root().expect("neither QMDB_CACHE nor HOME is set");
    let path = cache.join("kernels").join(version).join("vmlinuz");
    assert!(
        path.exists(),
        "{} is missing: set up the real guest fixture with `scripts/guest setup --kernel all`",
        path.display()
    );
    path
}
