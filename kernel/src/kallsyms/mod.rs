//! The kernel's own symbol table, kallsyms, decoded from an image that has no symbols.
//!
//! Distribution kernels are stripped, but `.rodata` still holds the tables the kernel uses
//! for `/proc/kallsyms` and stack traces. [`decode_image`] finds them (see `locate.rs` for
//! how, without symbols: from the token table outward, in the order of each era) and
//! decodes every symbol with its
//! nm type letter and link-time address. [`layout`] describes the format and its history:
//! 6.1 (two-byte name lengths), 6.2 (`kallsyms_seqs_of_names`), 6.4 (new table order),
//! 6.15 (plain base-relative addresses), 7.0 (place-relative addresses, no base).
//!
//! All input is untrusted: reads are bounds-checked, loops capped ([`MAX_SYMBOLS`],
//! [`KSYM_NAME_LEN`]), and failures are [`KallsymsError`]s naming the table and offset.

mod decode;
pub mod layout;
mod locate;
mod reader;

#[cfg(test)]
mod synth;
#[cfg(test)]
mod tests;

pub use layout::{
    AddressEncoding, KallsymsError, Layout, SectionRange, Table, KSYM_NAME_LEN, MAX_SYMBOLS,
};

use super::symbol::Symbol;
use super::KernelImage;
use object::{Object, ObjectSection, SectionFlags};
use reader::Rodata;

/// The symbols of an image's kallsyms, in the kernel's order (by address; among symbols at
/// one address, the kernel's preferred name first), and where the tables were.
#[derive(Debug, Clone)]
pub struct Kallsyms {
    /// The decoded symbols, at link-time addresses.
    pub symbols: Vec<Symbol>,
    /// Where each table was found in `.rodata`, and its variant.
    pub layout: Layout,
}

/// `SHF_ALLOC` and `SHF_EXECINSTR`.
const SHF_ALLOC: u64 = 0x2;
const SHF_EXECINSTR: u64 = 0x4;

/// The allocated sections of an ELF, for checking decoded addresses.
pub fn sections_of(obj: &object::File<'_>) -> Vec<SectionRange> {
    obj.sections()
        .filter_map(|s| {
            let flags = match s.flags() {
                SectionFlags::Elf { sh_flags, .. } => sh_flags.0,
                _ => return None,
            };
            (flags & SHF_ALLOC != 0).then_some(SectionRange {
                addr: s.address(),
                size: s.size(),
                exec: flags & SHF_EXECINSTR != 0,
            })
        })
        .collect()
}

/// Finds and decodes the kallsyms tables in the image's `.rodata`.
pub fn decode_image(image: &KernelImage) -> Result<Kallsyms, KallsymsError> {
    let obj = image.object().map_err(|_| KallsymsError::NoRodata)?;
    let rodata = obj
        .section_by_name(".rodata")
        .ok_or(KallsymsError::NoRodata)?;
    let data = rodata.data().map_err(|_| KallsymsError::NoRodata)?;
    decode(data, rodata.address(), &sections_of(&obj))
}

/// Finds and decodes the kallsyms tables in `rodata`, linked at `rodata_addr`. `sections`
/// are the image's allocated sections; text symbols must fall in executable ones. With no
/// sections, only the tables' own consistency is checked.
pub fn decode(
    rodata: &[u8],
    rodata_addr: u64,
    sections: &[SectionRange],
) -> Result<Kallsyms, KallsymsError> {
    let ro = Rodata::new(rodata, rodata_addr);
    let mut layout = locate::locate(ro, sections)?;
    let decoded = decode::decode_layout(ro, &layout)?;
    layout.big_lengths = decoded.big_lengths;
    let names: Vec<(&str, u64)> = decoded
        .symbols
        .iter()
        .map(|s| (s.name.as_str(), s.addr))
        .collect();
    let taken: Vec<_> = layout.tables().into_iter().map(|(_, r)| r).collect();
    // It has followed kallsyms_markers (6.2-6.3), kallsyms_relative_base (6.4-6.19) and
    // kallsyms_offsets (7.0+); elsewhere it is searched for.
    let mut hints = Vec::new();
    for end in [
        Some(layout.markers.end),
        layout.relative_base_at.map(|at| at + 8),
        Some(layout.offsets.end),
    ]
    .into_iter()
    .flatten()
    {
        hints.extend([end, ro.align_up(end, 4), ro.align_up(end, 8)]);
    }
    layout.seqs_of_names = locate::find_seqs(ro, &names, &taken, &hints);
    Ok(Kallsyms {
        symbols: decoded.symbols,
        layout,
    })
}

/// Decodes tables whose positions are already known (for example from VMCOREINFO), with
/// every check of [`decode()`] except the search.
pub fn decode_with_layout(rodata: &[u8], layout: &Layout) -> Result<Vec<Symbol>, KallsymsError> {
    let ro = Rodata::new(rodata, layout.rodata_addr);
    decode::decode_layout(ro, layout).map(|d| d.symbols)
}
