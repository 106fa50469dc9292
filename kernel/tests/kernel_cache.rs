//! The on-disk cache of what is derived from a kernel file: keyed by build id, shared by
//! copies of one kernel, and rebuilt when damaged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::cache::{KernelFiles, Origin};

#[test]
fn entries_are_keyed_by_build_id_and_validated() {
    let path = qmdb_kernel::fixture::kernel_path("6.1");
    let root = tempfile::tempdir().unwrap();
    let (cold, origin) = KernelFiles::load(&path, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Image);
    let key = cold.key();
    let id = cold
        .build_id
        .clone()
        .expect("Debian kernels have a build id");
    assert_eq!(
        key,
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    assert!(root
        .path()
        .join("images")
        .join(&key)
        .join("meta.json")
        .exists());

    let (warm, origin) = KernelFiles::load(&path, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Cache);
    assert_eq!(warm.banner.text, cold.banner.text);
    assert_eq!(warm.symbols.len(), cold.symbols.len());
    assert_eq!(warm.btf, cold.btf);

    // A copy of the same kernel elsewhere is a new file but the same kernel: its data comes
    // from the entry (only the build id is read from the image).
    let copy = root.path().join("copy-of-vmlinuz");
    std::fs::copy(&path, &copy).unwrap();
    let (_, origin) = KernelFiles::load(&copy, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Cache);
    let (_, origin) = KernelFiles::load(&copy, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Cache);

    // A damaged entry is rebuilt, not trusted.
    let meta = root.path().join("images").join(&key).join("meta.json");
    std::fs::write(&meta, b"{not json").unwrap();
    let (rebuilt, origin) = KernelFiles::load(&path, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Image);
    assert_eq!(rebuilt.symbols.len(), cold.symbols.len());
    let (_, origin) = KernelFiles::load(&path, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Cache);

    // An entry holding another kernel under this kernel's name is refused.
    let other = qmdb_kernel::fixture::kernel_path("6.12");
    let (other_files, _) = KernelFiles::load(&other, Some(root.path())).unwrap();
    let other_dir = root.path().join("images").join(other_files.key());
    let this_dir = root.path().join("images").join(&key);
    std::fs::remove_dir_all(&this_dir).unwrap();
    std::fs::create_dir_all(&this_dir).unwrap();
    for f in std::fs::read_dir(&other_dir).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), this_dir.join(f.file_name())).unwrap();
    }
    let (files, origin) = KernelFiles::load(&path, Some(root.path())).unwrap();
    assert_eq!(origin, Origin::Image);
    assert_eq!(files.banner.text, cold.banner.text);
}
