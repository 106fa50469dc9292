//! Typed views of BTF type records: [`Type`] and what trails it (members, enumerators,
//! parameters...). Records were bounds-checked when the BTF was parsed; the views still read
//! through checked accessors, so a bug can cost a wrong answer but never a panic.

use super::layout::{self, kind as k};
use super::TypeId;

/// A BTF kind. [`Kind::Void`] stands for type id 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Void,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    /// The kind of a record's kind number, `None` if unknown.
    pub fn from_raw(raw: u8) -> Option<Kind> {
        Some(match raw {
            k::INT => Kind::Int,
            k::PTR => Kind::Ptr,
            k::ARRAY => Kind::Array,
            k::STRUCT => Kind::Struct,
            k::UNION => Kind::Union,
            k::ENUM => Kind::Enum,
            k::FWD => Kind::Fwd,
            k::TYPEDEF => Kind::Typedef,
            k::VOLATILE => Kind::Volatile,
            k::CONST => Kind::Const,
            k::RESTRICT => Kind::Restrict,
            k::FUNC => Kind::Func,
            k::FUNC_PROTO => Kind::FuncProto,
            k::VAR => Kind::Var,
            k::DATASEC => Kind::Datasec,
            k::FLOAT => Kind::Float,
            k::DECL_TAG => Kind::DeclTag,
            k::TYPE_TAG => Kind::TypeTag,
            k::ENUM64 => Kind::Enum64,
            _ => return None,
        })
    }

    /// The name bpftool prints (`STRUCT`, `FUNC_PROTO`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Void => "VOID",
            Kind::Int => "INT",
            Kind::Ptr => "PTR",
            Kind::Array => "ARRAY",
            Kind::Struct => "STRUCT",
            Kind::Union => "UNION",
            Kind::Enum => "ENUM",
            Kind::Fwd => "FWD",
            Kind::Typedef => "TYPEDEF",
            Kind::Volatile => "VOLATILE",
            Kind::Const => "CONST",
            Kind::Restrict => "RESTRICT",
            Kind::Func => "FUNC",
            Kind::FuncProto => "FUNC_PROTO",
            Kind::Var => "VAR",
            Kind::Datasec => "DATASEC",
            Kind::Float => "FLOAT",
            Kind::DeclTag => "DECL_TAG",
            Kind::TypeTag => "TYPE_TAG",
            Kind::Enum64 => "ENUM64",
        }
    }

    /// Whether the record's third word is a size (else it is a type id, or unused).
    pub fn has_size(self) -> bool {
        matches!(
            self,
            Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Float
                | Kind::Datasec
        )
    }

    /// Whether the record's third word is the id of another type.
    pub fn has_target(self) -> bool {
        matches!(
            self,
            Kind::Ptr
                | Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Func
                | Kind::FuncProto
                | Kind::Var
                | Kind::DeclTag
                | Kind::TypeTag
        )
    }

    /// Typedefs, qualifiers and type tags: kinds that only rename or qualify their target.
    pub fn is_alias(self) -> bool {
        matches!(
            self,
            Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
        )
    }
}

/// One type record. `Copy`, borrowed from its [`super::Btf`].
#[derive(Debug, Clone, Copy)]
pub struct Type<'a> {
    pub id: TypeId,
    pub kind: Kind,
    pub(super) name: &'a str,
    pub(super) info: u32,
    pub(super) size_or_type: u32,
    /// The bytes after the 12-byte header (exactly `layout::trailing_len`).
    pub(super) extra: &'a [u8],
}

/// An integer's encoding (`BTF_KIND_INT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntInfo {
    /// Bytes of storage.
    pub size: u32,
    /// Value bits (at most `size * 8`).
    pub bits: u8,
    /// Bit offset of the value in its storage (old-style bitfields).
    pub offset: u8,
    pub signed: bool,
    pub char: bool,
    pub bool: bool,
}

/// `BTF_KIND_ARRAY`'s element type, index type and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayInfo {
    pub elem: TypeId,
    pub index: TypeId,
    pub nelems: u32,
}

/// A struct or union member as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// Empty for an anonymous member.
    pub name: &'a str,
    pub ty: TypeId,
    /// From the start of the enclosing struct or union.
    pub bit_offset: u32,
    /// Nonzero for a bitfield encoded with the kind flag.
    pub bitfield_size: u32,
}

/// An enumerator of an `ENUM` or `ENUM64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumerator<'a> {
    pub name: &'a str,
    /// The value's bits: a signed `ENUM`'s 32-bit value is sign-extended.
    pub value: u64,
}

/// A function prototype's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Often empty.
    pub name: &'a str,
    /// 0 with an empty name for a trailing `...`.
    pub ty: TypeId,
}

/// A variable of a `DATASEC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecinfo {
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// The little-endian u32 at `at` in `bytes`, if there.
fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

impl<'a> Type<'a> {
    /// The void type (id 0).
    pub(super) fn void() -> Type<'static> {
        Type {
            id: 0,
            kind: Kind::Void,
            name: "",
            info: 0,
            size_or_type: 0,
            extra: &[],
        }
    }

    /// The name; empty for anonymous types.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The number of trailing records (members, enumerators, params); a FUNC's linkage.
    pub fn vlen(&self) -> u16 {
        layout::info_vlen(self.info)
    }

    /// The kind flag (bitfield member offsets, a union forward, a signed enum).
    pub fn kind_flag(&self) -> bool {
        layout::info_kind_flag(self.info)
    }

    /// The size field, for kinds that have one ([`Kind::has_size`]).
    pub fn size(&self) -> Option<u32> {
        self.kind.has_size().then_some(self.size_or_type)
    }

    /// The referenced type, for kinds that have one ([`Kind::has_target`]): a pointer's
    /// pointee, a typedef's or qualifier's base, a FUNC's prototype, a FUNC_PROTO's return type,
    /// a VAR's type, a DECL_TAG's tagged type.
    pub fn target(&self) -> Option<TypeId> {
        self.kind.has_target().then_some(self.size_or_type)
    }

    /// An INT's encoding.
    pub fn int(&self) -> Option<IntInfo> {
        if self.kind != Kind::Int {
            return None;
        }
        let w = le32(self.extra, 0)?;
        let enc = layout::int::encoding(w);
        Some(IntInfo {
            size: self.size_or_type,
            bits: layout::int::bits(w),
            offset: layout::int::offset(w),
            signed: enc & layout::int::SIGNED != 0,
            char: enc & layout::int::CHAR != 0,
            bool: enc & layout::int::BOOL != 0,
        })
    }

    /// An ARRAY's element type and length.
    pub fn array(&self) -> Option<ArrayInfo> {
        if self.kind != Kind::Array {
            return None;
        }
        Some(ArrayInfo {
            elem: le32(self.extra, 0)?,
            index: le32(self.extra, 4)?,
            nelems: le32(self.extra, 8)?,
        })
    }

    fn record(&self, i: usize, len: usize) -> Option<&'a [u8]> {
        let start = i.checked_mul(len)?;
        self.extra.get(start..start.checked_add(len)?)
    }

    /// The `i`th member of a STRUCT or UNION.
    pub fn member(&self, i: usize, names: &'a super::Btf) -> Option<Member<'a>> {
        if !matches!(self.kind, Kind::Struct | Kind::Union) {
            return None;
        }
        let r = self.record(i, layout::MEMBER_LEN)?;
        let off = le32(r, 8)?;
        let (bit_offset, bitfield_size) = if self.kind_flag() {
            (
                layout::member::bit_offset(off),
                layout::member::bitfield_size(off),
            )
        } else {
            (off, 0)
        };
        Some(Member {
            name: names.name_at(le32(r, 0)?),
            ty: le32(r, 4)?,
            bit_offset,
            bitfield_size,
        })
    }

    /// The `i`th enumerator of an ENUM or ENUM64.
    pub fn enumerator(&self, i: usize, names: &'a super::Btf) -> Option<Enumerator<'a>> {
        match self.kind {
            Kind::Enum => {
                let r = self.record(i, layout::ENUM_LEN)?;
                let raw = le32(r, 4)?;
                let value = if self.kind_flag() {
                    raw as i32 as i64 as u64
                } else {
                    u64::from(raw)
                };
                Some(Enumerator {
                    name: names.name_at(le32(r, 0)?),
                    value,
                })
            }
            Kind::Enum64 => {
                let r = self.record(i, layout::ENUM64_LEN)?;
                let lo = u64::from(le32(r, 4)?);
                let hi = u64::from(le32(r, 8)?);
                Some(Enumerator {
                    name: names.name_at(le32(r, 0)?),
                    value: hi << 32 | lo,
                })
            }
            _ => None,
        }
    }

    /// Whether an ENUM or ENUM64's values are signed (the kind flag).
    pub fn enum_signed(&self) -> bool {
        matches!(self.kind, Kind::Enum | Kind::Enum64) && self.kind_flag()
    }

    /// The `i`th parameter of a FUNC_PROTO.
    pub fn param(&self, i: usize, names: &'a super::Btf) -> Option<Param<'a>> {
        if self.kind != Kind::FuncProto {
            return None;
        }
        let r = self.record(i, layout::PARAM_LEN)?;
        Some(Param {
            name: names.name_at(le32(r, 0)?),
            ty: le32(r, 4)?,
        })
    }

    /// The `i`th variable of a DATASEC.
    pub fn secinfo(&self, i: usize) -> Option<VarSecinfo> {
        if self.kind != Kind::Datasec {
            return None;
        }
        let r = self.record(i, layout::VAR_SECINFO_LEN)?;
        Some(VarSecinfo {
            ty: le32(r, 0)?,
            offset: le32(r, 4)?,
            size: le32(r, 8)?,
        })
    }

    /// A VAR's linkage (0 static, 1 global, 2 extern).
    pub fn var_linkage(&self) -> Option<u32> {
        (self.kind == Kind::Var)
            .then(|| le32(self.extra, 0))
            .flatten()
    }

    /// A FUNC's linkage (0 static, 1 global, 2 extern), kept in vlen.
    pub fn func_linkage(&self) -> Option<u16> {
        (self.kind == Kind::Func).then(|| self.vlen())
    }

    /// A DECL_TAG's component: -1 for the whole declaration, else a member or parameter index.
    pub fn decl_tag_component(&self) -> Option<i32> {
        (self.kind == Kind::DeclTag)
            .then(|| le32(self.extra, 0).map(|v| v as i32))
            .flatten()
    }

    /// A FWD's kind flag: a forward-declared union (else struct).
    pub fn fwd_is_union(&self) -> bool {
        self.kind == Kind::Fwd && self.kind_flag()
    }
}
