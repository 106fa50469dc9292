//! What qmdb derives from a kernel file, kept on disk so that the next start is fast.
//!
//! Decompressing a vmlinuz and decoding its kallsyms takes a few hundred milliseconds; the
//! result is stored under `$QMDB_CACHE/images/<fingerprint>/` (default `~/.cache/qmdb`), where
//! the fingerprint is taken from the file's path, size and modification time. Entries carry a
//! format version and are validated on load; a bad entry is rebuilt, never trusted.

use super::banner::{find_banner, Banner};
use super::symtab::SymbolTable;
use super::{KernelError, KernelImage};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Bumped whenever what is cached, or how, changes.
const FORMAT: u32 = 1;

/// What the session needs from a kernel file.
#[derive(Debug)]
pub struct KernelFiles {
    pub banner: Banner,
    /// Link-time range of `.text`.
    pub text: Range<u64>,
    pub build_id: Option<Vec<u8>>,
    pub symbols: SymbolTable,
    /// The raw `.BTF` section.
    pub btf: Option<Vec<u8>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    build_id: Option<String>,
    banner_addr: u64,
    banner: String,
    text_start: u64,
    text_end: u64,
    has_btf: bool,
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
        Ok(KernelFiles {
            banner,
            text,
            build_id: image.build_id(),
            symbols,
            btf: image.section(".BTF").map(|s| s.data.to_vec()),
        })
    }

    /// Loads `path` through the cache in `cache_root` (no cache if `None`).
    pub fn load(
        path: &Path,
        cache_root: Option<&Path>,
    ) -> Result<(KernelFiles, Origin), KernelError> {
        let entry = cache_root.and_then(|root| entry_dir(root, path));
        if let Some(dir) = &entry {
            match read_entry(dir) {
                Ok(files) => return Ok((files, Origin::Cache)),
                Err(why) => tracing::debug!(dir = %dir.display(), "kernel cache miss: {why}"),
            }
        }
        let image = KernelImage::open(path)?;
        let files = KernelFiles::from_image(&image, &path.display().to_string())?;
        if let Some(dir) = &entry {
            if let Err(e) = write_entry(dir, &files) {
                tracing::warn!(dir = %dir.display(), "cannot write the kernel cache: {e}");
            }
        }
        Ok((files, Origin::Image))
    }
}

/// `$QMDB_CACHE` or `~/.cache/qmdb`.
pub fn default_cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("QMDB_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("qmdb"))
}

fn entry_dir(root: &Path, path: &Path) -> Option<PathBuf> {
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
        root.join("images")
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

fn read_entry(dir: &Path) -> Result<KernelFiles, String> {
    let meta: Meta = serde_json::from_slice(
        &std::fs::read(dir.join("meta.json")).map_err(|e| format!("meta.json: {e}"))?,
    )
    .map_err(|e| format!("meta.json: {e}"))?;
    if meta.format != FORMAT {
        return Err(format!("format {} (want {FORMAT})", meta.format));
    }
    if meta.text_start >= meta.text_end {
        return Err("bad text range".into());
    }
    let symbols = SymbolTable::from_bytes(
        &std::fs::read(dir.join("symbols.bin")).map_err(|e| format!("symbols.bin: {e}"))?,
    )
    .map_err(|e| format!("symbols.bin: {e}"))?;
    let btf = if meta.has_btf {
        Some(std::fs::read(dir.join("btf.bin")).map_err(|e| format!("btf.bin: {e}"))?)
    } else {
        None
    };
    let build_id = match meta.build_id {
        Some(hex) => Some(
            qmdb_bridge::rsp::encoding::from_hex(hex.as_bytes())
                .map_err(|e| format!("build id: {e}"))?,
        ),
        None => None,
    };
    Ok(KernelFiles {
        banner: Banner {
            addr: meta.banner_addr,
            text: meta.banner,
        },
        text: meta.text_start..meta.text_end,
        build_id,
        symbols,
        btf,
    })
}

fn write_entry(dir: &Path, files: &KernelFiles) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let meta = Meta {
        format: FORMAT,
        build_id: files
            .build_id
            .as_deref()
            .map(qmdb_bridge::rsp::encoding::to_hex),
        banner_addr: files.banner.addr,
        banner: files.banner.text.clone(),
        text_start: files.text.start,
        text_end: files.text.end,
        has_btf: files.btf.is_some(),
    };
    write_atomic(&dir.join("symbols.bin"), &files.symbols.to_bytes())?;
    if let Some(btf) = &files.btf {
        write_atomic(&dir.join("btf.bin"), btf)?;
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
