//! Why BTF could not be parsed, or a lookup in it failed. Parse errors name the structure and
//! the offset in the `.BTF` data; lookup errors name the type and member as the user wrote them.

use super::TypeId;

/// A BTF parse or lookup error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BtfError {
    #[error("BTF truncated: {what} at offset {offset:#x} needs {need} bytes, {have} remain")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("not BTF: magic {0:#06x} (expected 0xeb9f)")]
    BadMagic(u16),
    #[error("big-endian BTF is not supported")]
    BigEndian,
    #[error("unsupported BTF version {0}")]
    Version(u8),
    #[error("bad BTF header: {0}")]
    Header(String),
    #[error("BTF type {id} at offset {offset:#x}: unknown kind {kind}")]
    UnknownKind { id: TypeId, offset: usize, kind: u8 },
    #[error(
        "BTF type {id} at offset {offset:#x}: record of {need} bytes runs past the type section"
    )]
    RecordTruncated {
        id: TypeId,
        offset: usize,
        need: usize,
    },
    #[error(
        "BTF type {id} at offset {offset:#x}: name offset {name_off:#x} is outside the string section"
    )]
    BadNameOffset {
        id: TypeId,
        offset: usize,
        name_off: u32,
    },
    #[error("BTF string at offset {offset:#x} is not valid UTF-8")]
    BadString { offset: u32 },
    #[error("BTF has more than {max} types")]
    TooManyTypes { max: usize },
    #[error("BTF type {from} refers to type {id}, which does not exist")]
    BadTypeId { from: TypeId, id: TypeId },
    #[error("BTF type {id}: type references nest deeper than {max} (a cycle?)")]
    TooDeep { id: TypeId, max: usize },
    #[error("BTF type {id}: looking for a member visited more than {max} members (a cycle?)")]
    SearchTooLong { id: TypeId, max: usize },
    #[error("{name} has no size")]
    NoSize { name: String },
    #[error("the size of {name} overflows")]
    SizeOverflow { name: String },
    #[error("unknown type '{0}'")]
    UnknownType(String),
    #[error("cannot parse type name '{name}': {why}")]
    BadTypeName { name: String, why: String },
    #[error("{ty} has no member '{member}'")]
    NoMember { ty: String, member: String },
    #[error("{ty} is not a struct or union (looking for member '{member}')")]
    NotComposite { ty: String, member: String },
    #[error("{ty} is not an array or pointer (indexing '{member}')")]
    NotIndexable { ty: String, member: String },
    #[error("index {index} is outside of {ty} [0 .. {last}]")]
    IndexOutOfRange { ty: String, index: u64, last: u64 },
    #[error("bad member '{path}': {why}")]
    BadMemberPath { path: String, why: String },
}
