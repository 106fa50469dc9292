//! The kinds converted on the spot: base types (INT with its encoding, FLOAT), arrays (one
//! BTF array per dimension), function prototypes, and sized placeholders for what BTF has no
//! kind for.

use super::convert::Converter;
use super::die::Die;
use super::table::Rec;
use super::units::Unit;
use super::DwarfError;
use crate::btf::layout::int;
use crate::btf::{TypeId, MAX_DEPTH};
use gimli::constants as dw;

impl<'a> Converter<'a> {
    /// A base type: INT (with its encoding), FLOAT, or a sized placeholder for what BTF
    /// cannot say (complex, decimal, wider than 128 bits).
    pub(super) fn base_type(&mut self, die: &Die) -> Result<TypeId, DwarfError> {
        let name = die.name.clone().unwrap_or_default();
        let size = die.byte_size.unwrap_or(0);
        let bits = die.bit_size.unwrap_or(size.saturating_mul(8));
        let encoding = match die.encoding {
            Some(dw::DW_ATE_signed) | Some(dw::DW_ATE_signed_fixed) => Some(int::SIGNED),
            Some(dw::DW_ATE_signed_char) => Some(int::SIGNED | int::CHAR),
            Some(dw::DW_ATE_unsigned_char) => Some(int::CHAR),
            Some(dw::DW_ATE_boolean) => Some(int::BOOL),
            Some(dw::DW_ATE_unsigned) | Some(dw::DW_ATE_UTF) | Some(dw::DW_ATE_unsigned_fixed) => {
                Some(0)
            }
            Some(dw::DW_ATE_float) if matches!(size, 2 | 4 | 8 | 12 | 16) => {
                return self.table.intern(Rec::Float {
                    name,
                    size: size as u32,
                });
            }
            _ => None,
        };
        match encoding {
            Some(encoding) if (1..=16).contains(&size) && bits >= 1 && bits <= size * 8 => {
                self.table.intern(Rec::Int {
                    name,
                    size: size as u32,
                    bits: bits as u8,
                    encoding,
                })
            }
            _ => self.placeholder(die),
        }
    }

    /// What BTF has no kind for: an empty struct of the same size (keeping the layout of
    /// whatever contains it), or void when the size is unknown.
    pub(super) fn placeholder(&mut self, die: &Die) -> Result<TypeId, DwarfError> {
        match die.byte_size.and_then(|s| u32::try_from(s).ok()) {
            Some(size) if size > 0 => self.table.intern(Rec::Aggregate {
                union: false,
                name: die.name.clone().unwrap_or_default(),
                size,
                members: Vec::new(),
            }),
            _ => Ok(0),
        }
    }

    /// An array: one BTF array per dimension, outermost first; a dimension without a
    /// constant length (flexible, variable) has 0 elements.
    pub(super) fn array(
        &mut self,
        unit: &Unit<'a>,
        die: &Die,
        depth: usize,
    ) -> Result<TypeId, DwarfError> {
        let mut t = self.type_id(die.ty, die.offset, depth)?;
        let mut dims: Vec<u32> = Vec::new();
        if die.has_children {
            for sub in unit.children(self.dwarf(), die.offset)? {
                if dims.len() >= MAX_DEPTH {
                    break;
                }
                match sub.tag {
                    dw::DW_TAG_subrange_type => dims.push(dimension(&sub)),
                    dw::DW_TAG_enumeration_type => dims.push(0),
                    _ => {}
                }
            }
        }
        if dims.is_empty() {
            dims.push(0);
        }
        self.table.array_index()?;
        for &nelems in dims.iter().rev() {
            t = self.table.intern(Rec::Array { elem: t, nelems })?;
        }
        Ok(t)
    }

    /// A function prototype; `...` is a last parameter `("", 0)`.
    pub(super) fn func_proto(
        &mut self,
        unit: &Unit<'a>,
        die: &Die,
        depth: usize,
    ) -> Result<TypeId, DwarfError> {
        let ret = self.type_id(die.ty, die.offset, depth)?;
        let mut params = Vec::new();
        let mut varargs = false;
        if die.has_children {
            for p in unit.children(self.dwarf(), die.offset)? {
                match p.tag {
                    dw::DW_TAG_formal_parameter if params.len() < 0xfffe => {
                        let t = self.type_id(p.ty, p.offset, depth)?;
                        params.push((p.name.unwrap_or_default(), t));
                    }
                    dw::DW_TAG_unspecified_parameters => varargs = true,
                    _ => {}
                }
            }
        }
        if varargs {
            params.push((String::new(), 0));
        }
        self.table.intern(Rec::FuncProto { ret, params })
    }
}

/// The length of one array dimension: `DW_AT_count`, or upper − lower + 1; 0 when unknown
/// or not representable.
fn dimension(sub: &Die) -> u32 {
    let n = match (sub.count, sub.upper_bound) {
        (Some(c), _) => c.as_i128(),
        (None, Some(u)) => {
            let lower = sub.lower_bound.map_or(0, |l| l.as_i128());
            u.as_i128() - lower + 1
        }
        (None, None) => 0,
    };
    u32::try_from(n).unwrap_or(0)
}
