//! A kernel image on disk: a bzImage (vmlinuz) or a vmlinux ELF, reduced to the ELF inside.
//!
//! The bzImage's setup header ([`crate::arch::x86_64::boot`]) says where the compressed
//! payload is; decompressed, it is the kernel ELF (stripped on distribution kernels, yet
//! still carrying `.BTF`, the ORC tables and kallsyms inside `.rodata`).

use super::arch::x86_64::boot::bzimage_payload;
use super::decompress::{decompress, Compression};
use super::ImageError;
use object::{Object, ObjectSection};
use std::path::Path;

/// A loaded kernel image: the ELF bytes, and how they were obtained.
pub struct KernelImage {
    elf: Vec<u8>,
    /// The payload compression, for a bzImage.
    pub compression: Option<Compression>,
}

impl std::fmt::Debug for KernelImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelImage")
            .field("elf_len", &self.elf.len())
            .field("compression", &self.compression)
            .finish()
    }
}

/// A section of the kernel ELF, as loaded in memory.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    /// Link-time virtual address (before any KASLR slide).
    pub addr: u64,
    /// The section's bytes in the file.
    pub data: &'a [u8],
}

impl KernelImage {
    /// Reads a bzImage or ELF file.
    pub fn open(path: &Path) -> Result<KernelImage, ImageError> {
        let data = std::fs::read(path).map_err(|e| ImageError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        KernelImage::from_bytes(data)
    }

    /// Takes a bzImage or ELF in memory.
    pub fn from_bytes(data: Vec<u8>) -> Result<KernelImage, ImageError> {
        let image = if data.starts_with(b"\x7fELF") {
            KernelImage {
                elf: data,
                compression: None,
            }
        } else {
            let payload = bzimage_payload(&data)?;
            let (kind, elf) = decompress(payload)?;
            KernelImage {
                elf,
                compression: Some(kind),
            }
        };
        if !image.elf.starts_with(b"\x7fELF") {
            return Err(ImageError::NotElf);
        }
        object::File::parse(image.elf.as_slice()).map_err(|e| ImageError::Elf(e.to_string()))?;
        Ok(image)
    }

    /// The raw ELF bytes.
    pub fn elf_bytes(&self) -> &[u8] {
        &self.elf
    }

    /// The parsed ELF. Parsing a header is cheap; callers keep what they need.
    pub fn object(&self) -> Result<object::File<'_>, ImageError> {
        object::File::parse(self.elf.as_slice()).map_err(|e| ImageError::Elf(e.to_string()))
    }

    /// A section by name, with its link-time address; `None` if absent or without data.
    pub fn section(&self, name: &str) -> Option<Section<'_>> {
        let obj = self.object().ok()?;
        let s = obj.section_by_name(name)?;
        let data = s.data().ok()?;
        Some(Section {
            addr: s.address(),
            data,
        })
    }

    /// The GNU build id, if the image has one.
    pub fn build_id(&self) -> Option<Vec<u8>> {
        self.object().ok()?.build_id().ok()?.map(<[u8]>::to_vec)
    }

    /// The link-time address of the build id's bytes in `.notes`.
    pub fn build_id_addr(&self) -> Option<u64> {
        let id = self.build_id()?;
        let notes = self.section(".notes")?;
        let pos = notes
            .data
            .windows(id.len().max(1))
            .position(|w| w == id.as_slice())?;
        Some(notes.addr + pos as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_kernel() {
        assert!(matches!(
            KernelImage::from_bytes(vec![0; 4096]),
            Err(ImageError::NotKernel)
        ));
        assert!(matches!(
            KernelImage::from_bytes(b"\x7fELF junk".to_vec()),
            Err(ImageError::Elf(_))
        ));
    }
}
