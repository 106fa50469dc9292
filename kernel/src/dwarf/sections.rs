//! The DWARF sections of an ELF file, decompressed when they are `SHF_COMPRESSED` (zlib or
//! zstd) or GNU `.zdebug_*` sections. Relocations are not applied: a linked vmlinux has none
//! left in its debug sections.

use super::DwarfError;
use gimli::{DwarfSections, RunTimeEndian, SectionId};
use object::{CompressionFormat, Object, ObjectSection};
use std::borrow::Cow;
use std::io::Read;

/// A DWARF section's bytes as gimli reads them.
pub(crate) type Slice<'a> = gimli::EndianSlice<'a, RunTimeEndian>;

/// The largest debug section accepted once decompressed (a vmlinux's `.debug_info` is a few
/// hundred MiB).
pub const MAX_SECTION_SIZE: u64 = 4 << 30;

/// The most a compressed section may expand, per compressed byte (deflate cannot exceed
/// ~1032; debug sections compress 3-10×), so that a small file cannot claim gigabytes.
const MAX_RATIO: u64 = 1024;

/// The debug sections of one ELF file, and its byte order.
pub(crate) struct Sections<'a> {
    pub dwarf: DwarfSections<Cow<'a, [u8]>>,
    pub endian: RunTimeEndian,
}

/// The sections, or `None` when the file has no (or an empty) `.debug_info`.
pub(crate) fn load(elf: &[u8]) -> Result<Option<Sections<'_>>, DwarfError> {
    let obj = object::File::parse(elf).map_err(|e| DwarfError::Elf(e.to_string()))?;
    let endian = if obj.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let info = section(&obj, SectionId::DebugInfo.name())?;
    if info.is_empty() {
        return Ok(None);
    }
    let mut info = Some(info);
    let dwarf = DwarfSections::load(|id: SectionId| match id {
        SectionId::DebugInfo => Ok(info.take().unwrap_or_default()),
        _ => section(&obj, id.name()),
    })?;
    Ok(Some(Sections { dwarf, endian }))
}

/// A section's data, decompressed; empty when the file has no such section.
fn section<'a>(obj: &object::File<'a>, name: &str) -> Result<Cow<'a, [u8]>, DwarfError> {
    let gnu = name.strip_prefix(".debug_").map(|n| format!(".zdebug_{n}"));
    let found = obj
        .section_by_name(name)
        .or_else(|| gnu.and_then(|g| obj.section_by_name(&g)));
    let Some(s) = found else {
        return Ok(Cow::Borrowed(&[]));
    };
    let fail = |message: String| DwarfError::Section {
        section: name.to_string(),
        message,
    };
    let c = s.compressed_data().map_err(|e| fail(e.to_string()))?;
    if c.format == CompressionFormat::None {
        return Ok(Cow::Borrowed(c.data));
    }
    let max = (c.data.len() as u64)
        .saturating_mul(MAX_RATIO)
        .saturating_add(1 << 20)
        .min(MAX_SECTION_SIZE);
    if c.uncompressed_size > max {
        return Err(DwarfError::SectionTooLarge {
            section: name.to_string(),
            size: c.uncompressed_size,
            max,
        });
    }
    let out = match c.format {
        CompressionFormat::Zlib => read_exact_size(
            name,
            flate2::read::ZlibDecoder::new(c.data),
            c.uncompressed_size,
        ),
        CompressionFormat::Zstandard => {
            let dec = zstd::stream::read::Decoder::new(c.data).map_err(|e| fail(e.to_string()))?;
            read_exact_size(name, dec, c.uncompressed_size)
        }
        other => return Err(fail(format!("unsupported compression {other:?}"))),
    };
    out.map(Cow::Owned)
}

/// Everything `r` (the decompressor of section `name`) yields, which must be exactly `size`
/// bytes.
fn read_exact_size(name: &str, r: impl Read, size: u64) -> Result<Vec<u8>, DwarfError> {
    let mut out = Vec::with_capacity(usize::try_from(size.min(64 << 20)).unwrap_or(0));
    r.take(size.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DwarfError::Section {
            section: name.to_string(),
            message: e.to_string(),
        })?;
    if out.len() as u64 != size {
        return Err(DwarfError::SizeMismatch {
            section: name.to_string(),
            size: out.len() as u64,
            header: size,
        });
    }
    Ok(out)
}
