//! Structs, unions and enums: members with their bit offsets (DWARF 4+'s
//! `DW_AT_data_bit_offset`, and the older `DW_AT_bit_offset` counted from the storage
//! unit's most significant bit), bitfield widths, and enumerators with their signedness.

use super::convert::{name_of, Converter};
use super::die::{Die, Location, Ref};
use super::table::{Member, Rec};
use super::units::Unit;
use super::DwarfError;
use crate::btf::MAX_DEPTH;
use gimli::constants as dw;

/// The most members or enumerators one BTF record holds (`vlen` is 16 bits).
const MAX_VLEN: usize = 0xffff;

/// The widest bitfield the kind flag encoding holds.
const MAX_BITFIELD: u64 = 0xff;

impl<'a> Converter<'a> {
    /// A struct or union record, with its members converted.
    pub(super) fn aggregate_rec(
        &mut self,
        unit: &Unit<'a>,
        die: &Die,
        depth: usize,
    ) -> Result<Rec, DwarfError> {
        let mut members = Vec::new();
        let children = if die.has_children {
            unit.children(self.dwarf(), die.offset)?
        } else {
            Vec::new()
        };
        for m in children {
            if members.len() >= MAX_VLEN {
                break;
            }
            let is_member = match m.tag {
                dw::DW_TAG_member => !m.declaration,
                dw::DW_TAG_inheritance => true,
                _ => false,
            };
            if !is_member {
                continue;
            }
            let ty = self.type_id(m.ty, m.offset, depth + 1)?;
            let Some((bit_offset, bits)) = self.member_position(&m)? else {
                continue;
            };
            members.push(Member {
                name: name_of(&m).unwrap_or_default().to_string(),
                ty,
                bit_offset,
                bits,
            });
        }
        Ok(Rec::Aggregate {
            union: die.tag == dw::DW_TAG_union_type,
            name: name_of(die).unwrap_or_default().to_string(),
            size: die
                .byte_size
                .map_or(0, |s| u32::try_from(s).unwrap_or(u32::MAX)),
            members,
        })
    }

    /// A member's bit offset from the start of its struct and its bitfield width (0 for a
    /// whole member); `None` when the offset does not fit BTF's 32 bits.
    fn member_position(&mut self, m: &Die) -> Result<Option<(u32, u32)>, DwarfError> {
        let byte_bits = match m.location {
            Some(Location::Offset(o)) => i128::from(o) * 8,
            Some(Location::Computed) | None => 0,
        };
        let bits = m.bit_size.filter(|&b| b > 0 && b <= MAX_BITFIELD);
        let offset = match (m.data_bit_offset, m.bit_offset, bits) {
            (Some(o), _, _) => i128::from(o),
            (None, Some(msb), Some(width)) => {
                let storage = match m.byte_size {
                    Some(s) => Some(s),
                    None => self.storage_size(m.ty, m.offset)?,
                };
                match storage {
                    Some(s) if !self.big_endian => {
                        byte_bits + i128::from(s) * 8 - i128::from(msb) - i128::from(width)
                    }
                    _ => byte_bits + i128::from(msb),
                }
            }
            _ => byte_bits,
        };
        let Ok(offset) = u32::try_from(offset) else {
            return Ok(None);
        };
        Ok(Some((offset, bits.map_or(0, |b| b as u32))))
    }

    /// The byte size of a bitfield's declared type, read from DWARF through typedefs and
    /// qualifiers (the BTF record may still be a placeholder).
    fn storage_size(&mut self, mut r: Ref, from: usize) -> Result<Option<u64>, DwarfError> {
        for _ in 0..MAX_DEPTH {
            let Ref::Die(offset) = r else {
                return Ok(None);
            };
            let (_, die) = self.die(offset, from)?;
            if die.byte_size.is_some() {
                return Ok(die.byte_size);
            }
            r = die.ty;
        }
        Ok(None)
    }

    /// An enum record: signed when its encoding, its underlying type or a negative value
    /// says so; values as 64 bits (ENUM or ENUM64 is chosen when laid out).
    pub(super) fn enum_rec(&mut self, unit: &Unit<'a>, die: &Die) -> Result<Rec, DwarfError> {
        let mut signed = match die.encoding {
            Some(e) => Some(e == dw::DW_ATE_signed || e == dw::DW_ATE_signed_char),
            None => self.underlying_signed(die.ty, die.offset)?,
        };
        let mut values = Vec::new();
        let mut negative = false;
        if die.has_children {
            for e in unit.children(self.dwarf(), die.offset)? {
                if values.len() >= MAX_VLEN {
                    break;
                }
                if e.tag != dw::DW_TAG_enumerator {
                    continue;
                }
                let Some(v) = e.const_value else { continue };
                negative |= v.as_i128() < 0;
                values.push((e.name.unwrap_or_default(), v.as_u64()));
            }
        }
        if signed.is_none() {
            signed = Some(negative);
        }
        Ok(Rec::Enum {
            name: name_of(die).unwrap_or_default().to_string(),
            size: die
                .byte_size
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(4),
            signed: signed.unwrap_or(false),
            values,
        })
    }

    /// Whether an enum's `DW_AT_type` is a signed integer; `None` when it has none.
    fn underlying_signed(&mut self, mut r: Ref, from: usize) -> Result<Option<bool>, DwarfError> {
        for _ in 0..MAX_DEPTH {
            let Ref::Die(offset) = r else {
                return Ok(None);
            };
            let (_, die) = self.die(offset, from)?;
            if let Some(e) = die.encoding {
                return Ok(Some(e == dw::DW_ATE_signed || e == dw::DW_ATE_signed_char));
            }
            r = die.ty;
        }
        Ok(None)
    }
}
