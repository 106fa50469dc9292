//! The `.BTF` format's layout: header fields, kinds and record sizes, as described by the
//! kernel's `Documentation/bpf/btf.rst`. Parsing lives in `super::parse`; nothing here reads
//! bytes.

/// `btf_header.magic`, little-endian on disk for a little-endian target.
pub const MAGIC: u16 = 0xeb9f;
/// The only BTF version there is.
pub const VERSION: u8 = 1;
/// The size of the header this parser knows (`hdr_len` may be larger; the rest is skipped).
pub const HEADER_LEN: usize = 24;

/// Offsets of the header fields.
pub mod header {
    /// `magic` (u16).
    pub const MAGIC: usize = 0;
    /// `version` (u8).
    pub const VERSION: usize = 2;
    /// `hdr_len` (u32): the header's own size.
    pub const HDR_LEN: usize = 4;
    /// `type_off` (u32): the type section, after the header.
    pub const TYPE_OFF: usize = 8;
    /// `type_len` (u32).
    pub const TYPE_LEN: usize = 12;
    /// `str_off` (u32): the string section, after the header.
    pub const STR_OFF: usize = 16;
    /// `str_len` (u32).
    pub const STR_LEN: usize = 20;
}

/// Every type record starts with `{ u32 name_off; u32 info; u32 size_or_type; }`.
pub const TYPE_HEADER_LEN: usize = 12;

/// `info` bits 0-15: the number of trailing records (members, enumerators, params...).
pub fn info_vlen(info: u32) -> u16 {
    (info & 0xffff) as u16
}

/// `info` bits 24-28: the kind.
pub fn info_kind(info: u32) -> u8 {
    ((info >> 24) & 0x1f) as u8
}

/// `info` bit 31: the kind flag (bitfield encoding of members, union forward, signed enum).
pub fn info_kind_flag(info: u32) -> bool {
    info >> 31 != 0
}

/// Kind numbers (`BTF_KIND_*`).
pub mod kind {
    /// `BTF_KIND_INT`.
    pub const INT: u8 = 1;
    /// `BTF_KIND_PTR`.
    pub const PTR: u8 = 2;
    /// `BTF_KIND_ARRAY`.
    pub const ARRAY: u8 = 3;
    /// `BTF_KIND_STRUCT`.
    pub const STRUCT: u8 = 4;
    /// `BTF_KIND_UNION`.
    pub const UNION: u8 = 5;
    /// `BTF_KIND_ENUM`.
    pub const ENUM: u8 = 6;
    /// `BTF_KIND_FWD`.
    pub const FWD: u8 = 7;
    /// `BTF_KIND_TYPEDEF`.
    pub const TYPEDEF: u8 = 8;
    /// `BTF_KIND_VOLATILE`.
    pub const VOLATILE: u8 = 9;
    /// `BTF_KIND_CONST`.
    pub const CONST: u8 = 10;
    /// `BTF_KIND_RESTRICT`.
    pub const RESTRICT: u8 = 11;
    /// `BTF_KIND_FUNC`.
    pub const FUNC: u8 = 12;
    /// `BTF_KIND_FUNC_PROTO`.
    pub const FUNC_PROTO: u8 = 13;
    /// `BTF_KIND_VAR`.
    pub const VAR: u8 = 14;
    /// `BTF_KIND_DATASEC`.
    pub const DATASEC: u8 = 15;
    /// `BTF_KIND_FLOAT`.
    pub const FLOAT: u8 = 16;
    /// `BTF_KIND_DECL_TAG`.
    pub const DECL_TAG: u8 = 17;
    /// `BTF_KIND_TYPE_TAG`.
    pub const TYPE_TAG: u8 = 18;
    /// `BTF_KIND_ENUM64`.
    pub const ENUM64: u8 = 19;
}

/// `BTF_KIND_INT`'s trailing u32: bits 24-27 encoding, 16-23 offset, 0-7 bits.
pub mod int {
    /// `BTF_INT_SIGNED`.
    pub const SIGNED: u8 = 1 << 0;
    /// `BTF_INT_CHAR`.
    pub const CHAR: u8 = 1 << 1;
    /// `BTF_INT_BOOL`.
    pub const BOOL: u8 = 1 << 2;

    /// Bits 24-27: the encoding ([`SIGNED`], [`CHAR`], [`BOOL`]).
    pub fn encoding(word: u32) -> u8 {
        ((word >> 24) & 0x0f) as u8
    }
    /// Bits 16-23: the value's bit offset in the storage.
    pub fn offset(word: u32) -> u8 {
        ((word >> 16) & 0xff) as u8
    }
    /// Bits 0-7: the number of value bits.
    pub fn bits(word: u32) -> u8 {
        (word & 0xff) as u8
    }
}

/// A struct/union member's `offset` when the kind flag is set: bits 0-23 the bit offset,
/// 24-31 the bitfield size.
pub mod member {
    /// Bits 0-23: the member's offset in bits.
    pub fn bit_offset(word: u32) -> u32 {
        word & 0x00ff_ffff
    }
    /// Bits 24-31: the bitfield's width (0: not a bitfield).
    pub fn bitfield_size(word: u32) -> u32 {
        word >> 24
    }
}

/// Trailing records: `btf_array` 12 bytes, `btf_member` 12, `btf_enum` 8, `btf_param` 8,
/// `btf_var` 4, `btf_var_secinfo` 12, `btf_decl_tag` 4, `btf_enum64` 12, INT's word 4.
/// `struct btf_array`.
pub const ARRAY_LEN: usize = 12;
/// `struct btf_member`.
pub const MEMBER_LEN: usize = 12;
/// `struct btf_enum`.
pub const ENUM_LEN: usize = 8;
/// `struct btf_param`.
pub const PARAM_LEN: usize = 8;
/// `struct btf_var`.
pub const VAR_LEN: usize = 4;
/// `struct btf_var_secinfo`.
pub const VAR_SECINFO_LEN: usize = 12;
/// `struct btf_decl_tag`.
pub const DECL_TAG_LEN: usize = 4;
/// `struct btf_enum64`.
pub const ENUM64_LEN: usize = 12;
/// `BTF_KIND_INT`'s encoding word.
pub const INT_LEN: usize = 4;

/// The size of the data after a type's 12-byte header, or `None` for an unknown kind.
pub fn trailing_len(kind: u8, vlen: u16) -> Option<usize> {
    let n = usize::from(vlen);
    Some(match kind {
        kind::INT => INT_LEN,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        kind::ARRAY => ARRAY_LEN,
        kind::STRUCT | kind::UNION => n * MEMBER_LEN,
        kind::ENUM => n * ENUM_LEN,
        kind::FUNC_PROTO => n * PARAM_LEN,
        kind::VAR => VAR_LEN,
        kind::DATASEC => n * VAR_SECINFO_LEN,
        kind::DECL_TAG => DECL_TAG_LEN,
        kind::ENUM64 => n * ENUM64_LEN,
        _ => return None,
    })
}

/// The kernel's own bound on type ids (`BTF_MAX_TYPE`).
pub const MAX_TYPES: usize = 0x000f_ffff;
