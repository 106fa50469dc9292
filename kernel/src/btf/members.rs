//! Members by path: `pid`, `thread.sp`, `a[3].b`, through anonymous structs and unions, with
//! bitfields in either BTF encoding. Paths follow mdb's `::print` syntax; indices use mdb's
//! default radix (hex: `a[10]` is element 16; `a[0t10]` is element 10).

use super::error::BtfError;
use super::types::Kind;
use super::{Btf, TypeId, MAX_DEPTH};
use crate::number::parse_number;

/// Where a member is, relative to the object it was looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInfo {
    /// Bits from the start of the object.
    pub bit_offset: u64,
    /// The width of a bitfield; 0 for a whole member.
    pub bitfield_size: u32,
    /// The member's type (not resolved: typedef names are kept).
    pub ty: TypeId,
}

impl MemberInfo {
    /// The byte offset, rounded down for a bitfield.
    pub fn byte_offset(&self) -> u64 {
        self.bit_offset / 8
    }
}

/// One step of a member path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// `.name`, or a leading `name`.
    Member(String),
    /// `[index]`.
    Index(u64),
    /// `->`: follow the pointer (only `::print` can, reading guest memory).
    Deref,
}

/// The bound on members visited looking for one name (anonymous members branch).
const SEARCH_BUDGET: usize = 1 << 20;

/// The longest path accepted, in parts.
const MAX_PARTS: usize = 64;

/// Parses `a.b[3]->c` into parts. A path may start with `.`, `->` or `[`.
pub fn parse_path(path: &str) -> Result<Vec<PathPart>, BtfError> {
    let bad = |why: String| BtfError::BadMemberPath {
        path: path.to_string(),
        why,
    };
    let ident_len = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut parts = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        if parts.len() >= MAX_PARTS {
            return Err(bad(format!("more than {MAX_PARTS} parts")));
        }
        let name_follows = if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            true
        } else if let Some(r) = rest.strip_prefix("->") {
            parts.push(PathPart::Deref);
            rest = r;
            true
        } else if let Some(r) = rest.strip_prefix('[') {
            let (n, r) = r
                .split_once(']')
                .ok_or_else(|| bad("no closing ']'".into()))?;
            let index = parse_number(n.trim()).map_err(|e| bad(e.to_string()))?;
            parts.push(PathPart::Index(index));
            rest = r;
            false
        } else if first {
            true
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            return Err(bad(format!("'{c}' is not a valid delimiter")));
        };
        first = false;
        if name_follows {
            let n = ident_len(rest);
            if n == 0 {
                return Err(bad("a member name is missing".into()));
            }
            let (name, r) = rest.split_at(n);
            parts.push(PathPart::Member(name.to_string()));
            rest = r;
        }
    }
    if parts.is_empty() {
        return Err(bad("empty".into()));
    }
    Ok(parts)
}

impl Btf {
    /// Finds member `path` of type `id` (a struct or union, possibly behind typedefs):
    /// `pid`, `thread.sp`, `sched_info.run_delay`, `comm[3]`. Names inside anonymous structs
    /// and unions are found as C finds them. `->` is refused: it needs guest memory.
    pub fn member(&self, id: TypeId, path: &str) -> Result<MemberInfo, BtfError> {
        let parts = parse_path(path)?;
        let mut at = MemberInfo {
            bit_offset: 0,
            bitfield_size: 0,
            ty: id,
        };
        for part in &parts {
            at = self.member_step(at, part, path)?;
        }
        Ok(at)
    }

    /// One step of a path from `at`: a member of a struct or union, or an element of an
    /// array. Dereferences are refused ([`BtfError::NotIndexable`] / [`BtfError::BadMemberPath`]);
    /// callers that can read memory handle them first.
    pub fn member_step(
        &self,
        at: MemberInfo,
        part: &PathPart,
        path: &str,
    ) -> Result<MemberInfo, BtfError> {
        match part {
            PathPart::Member(name) => {
                let t = self.resolved(at.ty)?;
                if !matches!(t.kind, Kind::Struct | Kind::Union) {
                    return Err(BtfError::NotComposite {
                        ty: self.type_name(at.ty),
                        member: name.clone(),
                    });
                }
                let mut budget = SEARCH_BUDGET;
                let m = self
                    .find_member(t.id, name, 0, &mut budget)?
                    .ok_or_else(|| BtfError::NoMember {
                        ty: self.type_name(at.ty),
                        member: name.clone(),
                    })?;
                Ok(MemberInfo {
                    bit_offset: at.bit_offset + m.bit_offset,
                    ..m
                })
            }
            PathPart::Index(index) => {
                let t = self.resolved(at.ty)?;
                let Some(a) = t.array() else {
                    return Err(BtfError::NotIndexable {
                        ty: self.type_name(at.ty),
                        member: path.to_string(),
                    });
                };
                if a.nelems > 0 && *index >= u64::from(a.nelems) {
                    return Err(BtfError::IndexOutOfRange {
                        ty: self.type_name(at.ty),
                        index: *index,
                        last: u64::from(a.nelems) - 1,
                    });
                }
                let elem = self.size_of(a.elem)?;
                let bits = index
                    .checked_mul(elem)
                    .and_then(|b| b.checked_mul(8))
                    .and_then(|b| b.checked_add(at.bit_offset))
                    .ok_or_else(|| BtfError::SizeOverflow {
                        name: self.type_name(at.ty),
                    })?;
                Ok(MemberInfo {
                    bit_offset: bits,
                    bitfield_size: 0,
                    ty: a.elem,
                })
            }
            PathPart::Deref => Err(BtfError::BadMemberPath {
                path: path.to_string(),
                why: "'->' follows a pointer, which needs guest memory".into(),
            }),
        }
    }

    /// Member `name` of struct/union `id` (resolved), searching anonymous members; its offset is
    /// relative to `id`.
    fn find_member(
        &self,
        id: TypeId,
        name: &str,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Option<MemberInfo>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep { id, max: MAX_DEPTH });
        }
        let t = self.get(id, id)?;
        for m in self.members(t) {
            *budget = budget.checked_sub(1).ok_or(BtfError::SearchTooLong {
                id,
                max: SEARCH_BUDGET,
            })?;
            if m.name == name {
                return Ok(Some(self.member_info(&m)?));
            }
            if m.name.is_empty() {
                let inner = self.resolved(m.ty)?;
                if matches!(inner.kind, Kind::Struct | Kind::Union) {
                    if let Some(found) = self.find_member(inner.id, name, depth + 1, budget)? {
                        return Ok(Some(MemberInfo {
                            bit_offset: found.bit_offset + u64::from(m.bit_offset),
                            ..found
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A member's offset and bitfield width, whichever way BTF encodes the bitfield: in the
    /// member (kind flag) or, in old BTF, in the INT type's own bits and offset.
    pub fn member_info(&self, m: &super::Member<'_>) -> Result<MemberInfo, BtfError> {
        let mut info = MemberInfo {
            bit_offset: u64::from(m.bit_offset),
            bitfield_size: m.bitfield_size,
            ty: m.ty,
        };
        if info.bitfield_size == 0 {
            if let Some(int) = self.resolved(m.ty)?.int() {
                if u32::from(int.bits) != int.size.saturating_mul(8) || int.offset != 0 {
                    info.bitfield_size = u32::from(int.bits);
                    info.bit_offset += u64::from(int.offset);
                }
            }
        }
        Ok(info)
    }
}
