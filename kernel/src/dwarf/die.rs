//! A DIE reduced to the attributes type conversion needs, as plain data: reading (gimli) is
//! kept apart from converting, which can then recurse freely.

use super::sections::Slice;
use gimli::{constants as dw, DwAte, DwTag};

type Value<'a> = gimli::AttributeValue<Slice<'a>>;

/// Where a `DW_AT_type` (or similar) points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ref {
    /// No attribute: `void`.
    None,
    /// A DIE at this `.debug_info` offset.
    Die(usize),
    /// A type unit signature (`DW_FORM_ref_sig8`).
    Signature(u64),
    /// A form this converter does not follow (supplementary files...): becomes `void`.
    Unsupported,
}

/// A constant attribute as encoded: `sdata`, `udata`, or `dataN` (which DWARF leaves "signed
/// or unsigned depending on context").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Const {
    Signed(i64),
    Unsigned(u64),
    /// `DW_FORM_dataN`: the raw bits and `N` in bytes.
    Data(u64, u8),
}

impl Const {
    /// The value as a signed number; `dataN` is zero-extended, as GCC and pahole read it
    /// (compilers use `sdata` for negative values).
    pub fn as_i64(self) -> i64 {
        match self {
            Const::Signed(v) => v,
            Const::Unsigned(v) | Const::Data(v, _) => v as i64,
        }
    }

    /// The value's 64 bits.
    pub fn as_u64(self) -> u64 {
        self.as_i64() as u64
    }

    /// The value, exactly.
    pub fn as_i128(self) -> i128 {
        match self {
            Const::Signed(v) => i128::from(v),
            Const::Unsigned(v) | Const::Data(v, _) => i128::from(v),
        }
    }

    fn of(v: &Value<'_>) -> Option<Const> {
        Some(match *v {
            Value::Data1(d) => Const::Data(u64::from(d), 1),
            Value::Data2(d) => Const::Data(u64::from(d), 2),
            Value::Data4(d) => Const::Data(u64::from(d), 4),
            Value::Data8(d) => Const::Data(d, 8),
            Value::Sdata(d) => Const::Signed(d),
            Value::Udata(d) => Const::Unsigned(d),
            _ => return None,
        })
    }
}

/// `DW_AT_data_member_location`, when it is a constant offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Offset(i64),
    /// A location expression other than a constant offset (C++ virtual bases).
    Computed,
}

/// The attributes of one DIE that type conversion reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Die {
    /// `.debug_info` offset.
    pub offset: usize,
    pub tag: DwTag,
    pub name: Option<String>,
    pub ty: Ref,
    /// `DW_AT_signature`: this DIE stands for the type a type unit defines.
    pub signature: Ref,
    pub byte_size: Option<u64>,
    pub bit_size: Option<u64>,
    pub data_bit_offset: Option<u64>,
    /// The pre-DWARF-4 bit offset, counted from the storage unit's most significant bit.
    pub bit_offset: Option<i64>,
    pub location: Option<Location>,
    pub encoding: Option<DwAte>,
    pub declaration: bool,
    pub count: Option<Const>,
    pub lower_bound: Option<Const>,
    pub upper_bound: Option<Const>,
    pub const_value: Option<Const>,
    pub decl_line: Option<u64>,
    pub has_children: bool,
}

impl Die {
    /// An empty record for the DIE at `offset`.
    pub fn new(offset: usize, tag: DwTag, has_children: bool) -> Die {
        Die {
            offset,
            tag,
            name: None,
            ty: Ref::None,
            signature: Ref::None,
            byte_size: None,
            bit_size: None,
            data_bit_offset: None,
            bit_offset: None,
            location: None,
            encoding: None,
            declaration: false,
            count: None,
            lower_bound: None,
            upper_bound: None,
            const_value: None,
            decl_line: None,
            has_children,
        }
    }

    /// Records attribute `at` (with its raw, unconverted value), except names and
    /// references (`DW_AT_type`, `DW_AT_signature`), which need the unit and are read by the
    /// caller.
    pub fn set(&mut self, at: dw::DwAt, v: &Value<'_>, encoding: gimli::Encoding) {
        match at {
            dw::DW_AT_byte_size => self.byte_size = v.udata_value(),
            dw::DW_AT_bit_size => self.bit_size = v.udata_value(),
            dw::DW_AT_data_bit_offset => self.data_bit_offset = v.udata_value(),
            dw::DW_AT_bit_offset => self.bit_offset = Const::of(v).map(Const::as_i64),
            dw::DW_AT_data_member_location => self.location = location(v, encoding),
            dw::DW_AT_encoding => {
                self.encoding = match *v {
                    Value::Encoding(e) => Some(e),
                    _ => v.u8_value().map(DwAte),
                }
            }
            dw::DW_AT_declaration => self.declaration = !matches!(v, Value::Flag(false)),
            dw::DW_AT_count => self.count = Const::of(v),
            dw::DW_AT_lower_bound => self.lower_bound = Const::of(v),
            dw::DW_AT_upper_bound => self.upper_bound = Const::of(v),
            dw::DW_AT_const_value => self.const_value = Const::of(v),
            dw::DW_AT_decl_line => self.decl_line = v.udata_value(),
            _ => {}
        }
    }
}

/// A member location: a constant, or a `DW_OP_plus_uconst N` expression (DWARF 2), or a
/// `.debug_loc`-looking offset, which DWARF 2 and 3 mean as a constant for this attribute.
fn location(v: &Value<'_>, encoding: gimli::Encoding) -> Option<Location> {
    if let Some(c) = Const::of(v) {
        return Some(Location::Offset(c.as_i64()));
    }
    if let Value::SecOffset(o) = v {
        return Some(Location::Offset(*o as i64));
    }
    let expr = v.exprloc_value()?;
    let mut ops = expr.operations(encoding);
    let first = ops.next().ok().flatten();
    let rest = ops.next().ok().flatten();
    Some(match (first, rest) {
        (Some(gimli::Operation::PlusConstant { value }), None)
        | (Some(gimli::Operation::UnsignedConstant { value }), None) => {
            Location::Offset(value as i64)
        }
        _ => Location::Computed,
    })
}
