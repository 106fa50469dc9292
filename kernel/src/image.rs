//! A kernel image on disk: a bzImage (vmlinuz) or a vmlinux ELF, reduced to the ELF inside.
//!
//! The bzImage's setup header says where the compressed payload is; decompressed, it is the
//! kernel ELF (stripped on distribution kernels, yet still carrying `.BTF`, the ORC tables and
//! kallsyms inside `.rodata`).

use super::decompress::{decompress, Compression};
use super::ImageError;
use object::{Object, ObjectSection};
use std::path::Path;

/// Offsets in the bzImage setup header (Documentation/arch/x86/boot.rst).
const SETUP_SECTS: usize = 0x1f1;
const HDRS_MAGIC: usize = 0x202;
const PAYLOAD_OFFSET: usize = 0x248;
const PAYLOAD_LENGTH: usize = 0x24c;

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

/// The compressed payload of a bzImage.
fn bzimage_payload(data: &[u8]) -> Result<&[u8], ImageError> {
    let u32_at =
        |off: usize| crate::le::u32_at(data, off).ok_or(ImageError::Truncated { offset: off });
    if data.get(HDRS_MAGIC..HDRS_MAGIC + 4) != Some(b"HdrS") {
        return Err(ImageError::NotKernel);
    }
    let setup_sects = match data.get(SETUP_SECTS).copied() {
        Some(0) => 4,
        Some(n) => usize::from(n),
        None => {
            return Err(ImageError::Truncated {
                offset: SETUP_SECTS,
            })
        }
    };
    let pm_start = (setup_sects + 1) * 512;
    let off = u32_at(PAYLOAD_OFFSET)? as usize;
    let len = u32_at(PAYLOAD_LENGTH)? as usize;
    let start = pm_start.checked_add(off).ok_or(ImageError::Truncated {
        offset: PAYLOAD_OFFSET,
    })?;
    data.get(start..start.saturating_add(len))
        .ok_or(ImageError::Truncated { offset: start })
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

    #[test]
    fn truncated_bzimage_header() {
        let mut data = vec![0u8; 0x250];
        data[HDRS_MAGIC..HDRS_MAGIC + 4].copy_from_slice(b"HdrS");
        data[PAYLOAD_OFFSET..PAYLOAD_OFFSET + 4].copy_from_slice(&0x1000u32.to_le_bytes());
        data[PAYLOAD_LENGTH..PAYLOAD_LENGTH + 4].copy_from_slice(&0x1000u32.to_le_bytes());
        assert!(matches!(
            KernelImage::from_bytes(data),
            Err(ImageError::Truncated { .. })
        ));
    }
}
