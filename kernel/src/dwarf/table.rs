//! The BTF types being built: records by id, the dedup indexes over them, and their layout
//! into a `.BTF` blob through [`BtfBuilder`].
//!
//! Ids are handed out as types are met, and a record may be replaced later: a named struct
//! gets its id (as a forward declaration) before its members are converted, so that pointers
//! back to it — and declarations of it in other units — find it.

use super::DwarfError;
use crate::btf::builder::BtfBuilder;
use crate::btf::layout;
use crate::btf::TypeId;
use std::collections::HashMap;

/// A struct or union member; `bits` is nonzero for a bitfield.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Member {
    pub name: String,
    pub ty: TypeId,
    pub bit_offset: u32,
    pub bits: u32,
}

/// One BTF type record, before layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Rec {
    Int {
        name: String,
        size: u32,
        bits: u8,
        encoding: u8,
    },
    Float {
        name: String,
        size: u32,
    },
    Ptr(TypeId),
    Const(TypeId),
    Volatile(TypeId),
    Restrict(TypeId),
    Typedef {
        name: String,
        target: TypeId,
    },
    Array {
        elem: TypeId,
        nelems: u32,
    },
    Aggregate {
        union: bool,
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, u64)>,
    },
    Fwd {
        name: String,
        union: bool,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<(String, TypeId)>,
    },
}

/// The C namespace and kind of a named type, for dedup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Named {
    Struct,
    Union,
    Enum,
    Typedef,
}

/// Dedup key of a named type: kind, name, size, and for a typedef a summary of its target.
/// The line it is defined at tells apart same-named, same-sized types of different files
/// (several `struct getdents_callback` local to functions), while every unit that includes
/// a header sees its types at the same line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NamedKey {
    pub kind: Named,
    pub name: String,
    pub size: Option<u64>,
    pub line: Option<u64>,
    pub target: Option<(u16, String)>,
}

/// The records, and the indexes that find an existing record for a new DWARF type.
#[derive(Debug, Default)]
pub(crate) struct Table {
    recs: Vec<Rec>,
    /// Anonymous records by content: pointers, qualifiers, arrays, prototypes, base types,
    /// anonymous structs and enums.
    by_content: HashMap<Rec, TypeId>,
    named: HashMap<NamedKey, TypeId>,
    /// The first definition of each struct, union and enum name.
    first_definition: HashMap<(Named, String), TypeId>,
    /// Forward declarations not yet taken over by a definition.
    open_fwds: HashMap<(Named, String), TypeId>,
    /// Declarations, whether or not a definition took them over.
    fwds: HashMap<(Named, String), TypeId>,
    array_index: Option<TypeId>,
}

impl Table {
    fn push(&mut self, rec: Rec) -> Result<TypeId, DwarfError> {
        if self.recs.len() >= layout::MAX_TYPES {
            return Err(DwarfError::TooManyTypes {
                max: layout::MAX_TYPES,
            });
        }
        self.recs.push(rec);
        Ok(self.recs.len() as TypeId)
    }

    /// Replaces the record of a reserved id.
    pub fn set(&mut self, id: TypeId, rec: Rec) {
        if let Some(slot) = (id as usize)
            .checked_sub(1)
            .and_then(|i| self.recs.get_mut(i))
        {
            *slot = rec;
        }
    }

    /// The id of a record with exactly this content, adding it if new.
    pub fn intern(&mut self, rec: Rec) -> Result<TypeId, DwarfError> {
        if let Some(&id) = self.by_content.get(&rec) {
            return Ok(id);
        }
        let id = self.push(rec.clone())?;
        self.by_content.insert(rec, id);
        Ok(id)
    }

    /// The named type with this key, if one was converted or reserved.
    pub fn named(&self, key: &NamedKey) -> Option<TypeId> {
        self.named.get(key).copied()
    }

    /// Reserves an id for a named definition (taking over a forward declaration of the
    /// same name if one is open), holding `placeholder` until [`Table::set`].
    pub fn reserve_named(&mut self, key: NamedKey, placeholder: Rec) -> Result<TypeId, DwarfError> {
        let by_name = (key.kind, key.name.clone());
        let id = match self.open_fwds.remove(&by_name) {
            Some(id) => id,
            None => self.push(placeholder)?,
        };
        if key.kind != Named::Typedef {
            self.first_definition.entry(by_name).or_insert(id);
        }
        self.named.insert(key, id);
        Ok(id)
    }

    /// A declaration of `kind name`: the first definition if there is one, else a forward
    /// declaration that the first definition met later will take over.
    pub fn declaration(&mut self, kind: Named, name: &str) -> Result<TypeId, DwarfError> {
        let key = (kind, name.to_string());
        if let Some(&id) = self.first_definition.get(&key) {
            return Ok(id);
        }
        if let Some(&id) = self.fwds.get(&key) {
            return Ok(id);
        }
        let rec = match kind {
            Named::Enum => Rec::Enum {
                name: name.to_string(),
                size: 4,
                signed: false,
                values: Vec::new(),
            },
            _ => Rec::Fwd {
                name: name.to_string(),
                union: kind == Named::Union,
            },
        };
        let id = self.push(rec)?;
        self.fwds.insert(key.clone(), id);
        self.open_fwds.insert(key, id);
        Ok(id)
    }

    /// The index type of arrays (pahole's `__ARRAY_SIZE_TYPE__`).
    pub fn array_index(&mut self) -> Result<TypeId, DwarfError> {
        if let Some(id) = self.array_index {
            return Ok(id);
        }
        let id = self.intern(Rec::Int {
            name: "__ARRAY_SIZE_TYPE__".to_string(),
            size: 4,
            bits: 32,
            encoding: 0,
        })?;
        self.array_index = Some(id);
        Ok(id)
    }

    /// The `.BTF` blob.
    pub fn build(&self) -> Vec<u8> {
        let mut b = BtfBuilder::new();
        let index = self.array_index.unwrap_or(0);
        for rec in &self.recs {
            emit(&mut b, rec, index);
        }
        b.build()
    }
}

fn emit(b: &mut BtfBuilder, rec: &Rec, index: TypeId) -> TypeId {
    match rec {
        Rec::Int {
            name,
            size,
            bits,
            encoding,
        } => b.int(name, *size, *bits, *encoding),
        Rec::Float { name, size } => b.float(name, *size),
        Rec::Ptr(t) => b.ptr(*t),
        Rec::Const(t) => b.const_(*t),
        Rec::Volatile(t) => b.volatile(*t),
        Rec::Restrict(t) => b.restrict(*t),
        Rec::Typedef { name, target } => b.typedef(name, *target),
        Rec::Array { elem, nelems } => b.array(*elem, index, *nelems),
        Rec::Aggregate {
            union,
            name,
            size,
            members,
        } => {
            let bitfields = members.iter().any(|m| m.bits != 0)
                && members.iter().all(|m| m.bit_offset <= 0x00ff_ffff);
            let m: Vec<(&str, TypeId, u32, u32)> = members
                .iter()
                .map(|m| (m.name.as_str(), m.ty, m.bit_offset, m.bits))
                .collect();
            match (union, bitfields) {
                (false, true) => b.struct_bitfields(name, *size, &m),
                (true, true) => b.union_bitfields(name, *size, &m),
                (false, false) => {
                    let m: Vec<_> = m.iter().map(|&(n, t, o, _)| (n, t, o)).collect();
                    b.struct_(name, *size, &m)
                }
                (true, false) => {
                    let m: Vec<_> = m.iter().map(|&(n, t, o, _)| (n, t, o)).collect();
                    b.union_(name, *size, &m)
                }
            }
        }
        Rec::Enum {
            name,
            size,
            signed,
            values,
        } => {
            let fits32 = values.iter().all(|&(_, v)| {
                if *signed {
                    i32::try_from(v as i64).is_ok()
                } else {
                    u32::try_from(v).is_ok()
                }
            });
            if *size <= 4 && fits32 {
                let v: Vec<(&str, i32)> = values
                    .iter()
                    .map(|(n, v)| (n.as_str(), *v as i32))
                    .collect();
                b.enum_(name, *size, *signed, &v)
            } else {
                let v: Vec<(&str, u64)> = values.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                b.enum64(name, *size, *signed, &v)
            }
        }
        Rec::Fwd { name, union } => b.fwd(name, *union),
        Rec::FuncProto { ret, params } => {
            let p: Vec<(&str, TypeId)> = params.iter().map(|(n, t)| (n.as_str(), *t)).collect();
            b.func_proto(*ret, &p)
        }
    }
}
