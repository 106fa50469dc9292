//! What qmdb derives from a kernel file, kept on disk so that the next start is fast.
//!
//! Decompressing a vmlinuz and decoding its kallsyms takes a few hundred milliseconds; the
//! result is stored under `$QMDB_CACHE` (default `~/.cache/qmdb`):
//!
//! - `images/<key>/` holds what was derived, keyed by the kernel's GNU build id (or, for an
//!   image without one, a hash of its banner and text range), so two copies of one kernel
//!   share an entry;
//! - `files/<fingerprint>` names the key of a file, the fingerprint being taken from the
//!   file's path, size and modification time: a vmlinuz's build id is inside its compressed
//!   payload, so without this a warm start would have to decompress it.
//!
//! Entries carry a format version and are validated on load (the entry's own build id must
//! match its key); a bad entry is rebuilt, never trusted.

use super::banner::{find_banner, Banner};
use super::symtab::{SymbolError, SymbolTable};
use super::{KernelError, KernelImage};
use crate::orc::{OrcError, OrcTable};
use qmdb_bridge::rsp::encoding::EncodingError;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Bumped whenever what is cached, or how, changes.
const FORMAT: u32 = 3;

/// What the session needs from a kernel file.
#[derive(Debug)]
pub struct KernelFiles {
    pub banner: Banner,
    /// Link-time range of `.text`.
    pub text: Range<u64>,
    pub build_id: Option<Vec<u8>>,
    /// Link-time address of the build id's bytes (the GNU note's descriptor in `.notes`),
    /// where a running guest is checked for this kernel without reading anything else.
    pub build_id_addr: Option<u64>,
    pub symbols: SymbolTable,
    /// The raw `.BTF` section, or BTF converted from the image's DWARF.
    pub btf: Option<Vec<u8>>,
    /// `btf` was converted from DWARF (the image has no `.BTF`).
    pub types_from_dwarf: bool,
    /// The ORC unwind table (none for a frame-pointer kernel).
    pub orc: Option<OrcTable>,
    /// Why the image's ORC sections could not be used, if they could not.
    pub orc_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    build_id: Option<String>,
    #[serde(default)]
    build_id_addr: Option<u64>,
    banner_addr: u64,
    banner: String,
    text_start: u64,
    text_end: u64,
    has_btf: bool,
    #[serde(default)]
    types_from_dwarf: bool,
    has_orc: bool,
    orc_error: Option<String>,
}

/// Where a load came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from the cache.
    Cache,
    /// Derived from the image (and stored in the cache if possible).
    Image,
}

impl KernelFiles {
    /// Derives everything from the image itself.
    pub fn from_image(image: &KernelImage, name: &str) -> Result<KernelFiles, KernelError> {
        let banner = find_banner(image).ok_or_else(|| KernelError::NoBanner(name.to_string()))?;
        let text = image
            .section(".text")
            .map(|s| s.addr..s.addr + s.data.len() as u64)
            .ok_or_else(|| KernelError::NoText(name.to_string()))?;
        let symbols = SymbolTable::from_image(image)?;
        // A vmlinux without `.BTF` (a self-built kernel) may have DWARF: converted to BTF once
        // and cached as such.
        let (btf, types_from_dwarf) = match image.section(".BTF") {
            Some(s) => (Some(s.data.to_vec()), false),
            None => match super::dwarf::btf_from_dwarf(image.elf_bytes()) {
                Ok(Some(b)) => (Some(b), true),
                Ok(None) => (None, false),
                Err(e) => {
                    tracing::warn!("{name}: the DWARF types cannot be read: {e}");
                    (None, false)
                }
            },
        };
        let (orc, orc_error) = match OrcTable::from_image(image) {
            Ok(t) => (t, None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(KernelFiles {
            banner,
            text,
            build_id: image.build_id(),
            build_id_addr: image.build_id_addr(),
            symbols,
            btf,
            types_from_dwarf,
            orc,
            orc_error,
        })
    }

    /// Loads `path` through the cache in `cache_root` (no cache if `None`).
    pub fn load(
        path: &Path,
        cache_root: Option<&Path>,
    ) -> Result<(KernelFiles, Origin), KernelError> {
        let pointer = cache_root.and_then(|root| Some((root, file_pointer(root, path)?)));
        if let Some((root, ptr)) = &pointer {
            match read_pointed(root, ptr) {
                Ok(files) => return Ok((files, Origin::Cache)),
                Err(why) => tracing::debug!(file = %ptr.display(), "kernel cache miss: {why}"),
            }
        }
        let image = KernelImage::open(path)?;
        let name = path.display().to_string();
        let Some(root) = cache_root else {
            return Ok((KernelFiles::from_image(&image, &name)?, Origin::Image));
        };
        // Another file holding the same kernel may have filled the entry already.
        let key = match image.build_id() {
            Some(id) => build_id_key(&id),
            None => {
                let files = KernelFiles::from_image(&image, &name)?;
                let key = files.key();
                store(
                    root,
                    &key,
                    &files,
                    pointer.as_ref().map(|(_, p)| p.as_path()),
                );
                return Ok((files, Origin::Image));
            }
        };
        let dir = root.join("images").join(&key);
        let (files, origin) = match read_entry(&dir, &key) {
            Ok(files) => (files, Origin::Cache),
            Err(_) => (KernelFiles::from_image(&image, &name)?, Origin::Image),
        };
        let fresh = origin == Origin::Image;
        if let Some((_, ptr)) = &pointer {
            let entry = if fresh { Some(&files) } else { None };
            if let Err(e) = write_pointer(root, &key, entry, ptr) {
                tracing::warn!(root = %root.display(), "cannot write the kernel cache: {e}");
            }
        }
        Ok((files, origin))
    }

    /// The name of this kernel's cache entry: its build id in hex, or, without one, a hash
    /// of its banner and text range.
    pub fn key(&self) -> String {
        match &self.build_id {
            Some(id) => build_id_key(id),
            None => format!(
                "banner-{:016x}",
                fnv1a(
                    format!(
                        "{}\0{:x}\0{:x}",
                        self.banner.text, self.text.start, self.text.end
                    )
                    .as_bytes()
                )
            ),
        }
    }
}

fn build_id_key(id: &[u8]) -> String {
    qmdb_bridge::rsp::encoding::to_hex(id)
}

/// Writes the entry (if given) and then the file's pointer to it.
fn write_pointer(
    root: &Path,
    key: &str,
    entry: Option<&KernelFiles>,
    pointer: &Path,
) -> std::io::Result<()> {
    if let Some(files) = entry {
        write_entry(&root.join("images").join(key), files)?;
    }
    if let Some(dir) = pointer.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(pointer, key.as_bytes())
}

fn store(root: &Path, key: &str, files: &KernelFiles, pointer: Option<&Path>) {
    let result = match pointer {
        Some(p) => write_pointer(root, key, Some(files), p),
        None => write_entry(&root.join("images").join(key), files),
    };
    if let Err(e) = result {
        tracing::warn!(root = %root.display(), "cannot write the kernel cache: {e}");
    }
}

/// Why a cache entry (or a file's pointer to one) cannot be used; the caller then rebuilds
/// it from the image. Each error names the file of the entry that was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A file of the entry cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `meta.json` is not the JSON qmdb writes.
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A pointer file names no valid entry.
    #[error("{}: bad entry name {key:?}", pointer.display())]
    BadKey { pointer: PathBuf, key: String },
    /// The entry was written by another version of qmdb.
    #[error("{}: format {found} (want {want})", path.display())]
    Format {
        path: PathBuf,
        found: u32,
        want: u32,
    },
    /// `meta.json`'s text range is empty or reversed.
    #[error("{}: bad text range {start:#x}..{end:#x}", path.display())]
    TextRange { path: PathBuf, start: u64, end: u64 },
    /// `symbols.bin` is damaged.
    #[error("{}: {source}", path.display())]
    Symbols { path: PathBuf, source: SymbolError },
    /// `orc.bin` is damaged.
    #[error("{}: {source}", path.display())]
    Orc { path: PathBuf, source: OrcError },
    /// `meta.json`'s build id is not hex.
    #[error("{}: bad build id {hex:?}: {source}", path.display())]
    BuildId {
        path: PathBuf,
        hex: String,
        source: EncodingError,
    },
    /// The entry holds another kernel than its name says.
    #[error("entry {key} holds kernel {found}")]
    WrongKernel { key: String, found: String },
}

/// Reads a file of a cache entry.
fn read_file(path: PathBuf) -> Result<(Vec<u8>, PathBuf), CacheError> {
    match std::fs::read(&path) {
        Ok(data) => Ok((data, path)),
        Err(source) => Err(CacheError::Io { path, source }),
    }
}

/// The entry a file's pointer names.
fn read_pointed(root: &Path, pointer: &Path) -> Result<KernelFiles, CacheError> {
    let key = std::fs::read_to_string(pointer).map_err(|source| CacheError::Io {
        path: pointer.to_path_buf(),
        source,
    })?;
    if key.is_empty()
        || key.len() > 128
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(CacheError::BadKey {
            pointer: pointer.to_path_buf(),
            key,
        });
    }
    read_entry(&root.join("images").join(&key), &key)
}

/// How a cached kernel is recognised in a running guest without reading its image.
#[derive(Debug, Clone)]
pub struct CachedIdentity {
    /// The entry's name.
    pub key: String,
    /// Link-time start of the text (`_text`).
    pub text_start: u64,
    pub banner: Banner,
    pub build_id: Option<Vec<u8>>,
    pub build_id_addr: Option<u64>,
}

/// At most this many cache entries are considered when recognising a guest's kernel.
const MAX_IDENTITIES: usize = 64;

/// The identities of the cached kernels, most recently written first.
pub fn cached_identities(root: &Path) -> Vec<CachedIdentity> {
    let Ok(dir) = std::fs::read_dir(root.join("images")) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, CachedIdentity)> = dir
        .filter_map(Result::ok)
        .take(4 * MAX_IDENTITIES)
        .filter_map(|e| {
            let path = e.path().join("meta.json");
            let mtime = std::fs::metadata(&path).ok()?.modified().ok()?;
            let meta: Meta = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            if meta.format != FORMAT {
                return None;
            }
            let build_id = match &meta.build_id {
                Some(hex) => Some(qmdb_bridge::rsp::encoding::from_hex(hex.as_bytes()).ok()?),
                None => None,
            };
            Some((
                mtime,
                CachedIdentity {
                    key: e.file_name().to_str()?.to_string(),
                    text_start: meta.text_start,
                    banner: Banner {
                        addr: meta.banner_addr,
                        text: meta.banner,
                    },
                    build_id,
                    build_id_addr: meta.build_id_addr,
                },
            ))
        })
        .collect();
    found.sort_by_key(|(mtime, _)| std::cmp::Reverse(*mtime));
    found
        .into_iter()
        .take(MAX_IDENTITIES)
        .map(|(_, id)| id)
        .collect()
}

/// Reads and validates the entry `key`.
pub fn load_entry(root: &Path, key: &str) -> Result<KernelFiles, CacheError> {
    read_entry(&root.join("images").join(key), key)
}

/// Stores `files` under its key (no file pointer: for a kernel read from guest memory).
pub fn store_entry(root: &Path, files: &KernelFiles) -> std::io::Result<()> {
    write_entry(&root.join("images").join(files.key()), files)
}

/// `$QMDB_CACHE` or `~/.cache/qmdb`.
pub fn default_cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("QMDB_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("qmdb"))
}

/// `files/<fingerprint>`: where the key of `path`'s entry is kept.
fn file_pointer(root: &Path, path: &Path) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    let canon = std::fs::canonicalize(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let key = format!("{}\0{}\0{}", canon.display(), meta.len(), mtime);
    Some(
        root.join("files")
            .join(format!("{:016x}", fnv1a(key.as_bytes()))),
    )
}

/// FNV-1a, 64 bits: a stable name for a cache entry (not a security boundary: entries are
/// validated when read).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Reads and validates the entry in `dir`, which must be the one named `key`.
fn read_entry(dir: &Path, key: &str) -> Result<KernelFiles, CacheError> {
    let (json, path) = read_file(dir.join("meta.json"))?;
    let meta: Meta = match serde_json::from_slice(&json) {
        Ok(meta) => meta,
        Err(source) => return Err(CacheError::Json { path, source }),
    };
    if meta.format != FORMAT {
        return Err(CacheError::Format {
            path,
            found: meta.format,
            want: FORMAT,
        });
    }
    if meta.text_start >= meta.text_end {
        return Err(CacheError::TextRange {
            path,
            start: meta.text_start,
            end: meta.text_end,
        });
    }
    let build_id = match meta.build_id {
        Some(hex) => match qmdb_bridge::rsp::encoding::from_hex(hex.as_bytes()) {
            Ok(id) => Some(id),
            Err(source) => return Err(CacheError::BuildId { path, hex, source }),
        },
        None => None,
    };
    let (bytes, path) = read_file(dir.join("symbols.bin"))?;
    let symbols =
        SymbolTable::from_bytes(&bytes).map_err(|source| CacheError::Symbols { path, source })?;
    let btf = if meta.has_btf {
        Some(read_file(dir.join("btf.bin"))?.0)
    } else {
        None
    };
    let orc = if meta.has_orc {
        let (bytes, path) = read_file(dir.join("orc.bin"))?;
        Some(OrcTable::from_bytes(&bytes).map_err(|source| CacheError::Orc { path, source })?)
    } else {
        None
    };
    let files = KernelFiles {
        banner: Banner {
            addr: meta.banner_addr,
            text: meta.banner,
        },
        text: meta.text_start..meta.text_end,
        build_id,
        build_id_addr: meta.build_id_addr,
        symbols,
        btf,
        types_from_dwarf: meta.types_from_dwarf,
        orc,
        orc_error: meta.orc_error,
    };
    if files.key() != key {
        return Err(CacheError::WrongKernel {
            key: key.to_string(),
            found: files.key(),
        });
    }
    Ok(files)
}

fn write_entry(dir: &Path, files: &KernelFiles) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let meta = Meta {
        format: FORMAT,
        build_id: files
            .build_id
            .as_deref()
            .map(qmdb_bridge::rsp::encoding::to_hex),
        build_id_addr: files.build_id_addr,
        banner_addr: files.banner.addr,
        banner: files.banner.text.clone(),
        text_start: files.text.start,
        text_end: files.text.end,
        has_btf: files.btf.is_some(),
        types_from_dwarf: files.types_from_dwarf,
        has_orc: files.orc.is_some(),
        orc_error: files.orc_error.clone(),
    };
    write_atomic(&dir.join("symbols.bin"), &files.symbols.to_bytes())?;
    if let Some(btf) = &files.btf {
        write_atomic(&dir.join("btf.bin"), btf)?;
    }
    if let Some(orc) = &files.orc {
        write_atomic(&dir.join("orc.bin"), &orc.to_bytes())?;
    }
    // Written last: an entry without it is incomplete and ignored.
    let json = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("meta.json"), &json)
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}
