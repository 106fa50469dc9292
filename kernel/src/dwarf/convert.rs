//! The walk: every unit's named types, each DIE converted once per unit, and named types
//! converted once for the whole file.
//!
//! A named struct, union, enum or typedef gets its id from its dedup key alone (kind, name,
//! size, line) and is queued; its members are converted later from the queue, not recursively. So
//! recursion only follows what C nests by value (anonymous members, arrays, qualifiers,
//! pointers to anonymous types), is bounded by [`MAX_DEPTH`], and a pointer cycle
//! (`struct A { struct A *next; }`) meets an id that already exists.

use super::die::{Die, Ref};
use super::table::{Named, NamedKey, Rec, Table};
use super::units::{Dwarf, Unit, Units};
use super::DwarfError;
use crate::btf::{TypeId, MAX_DEPTH};
use gimli::constants as dw;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The converter's state; see the module documentation.
pub(crate) struct Converter<'a> {
    pub(super) units: Units<'a>,
    pub(super) table: Table,
    /// `.debug_info` offset → id, for DIEs converted since the current unit began.
    done: HashMap<usize, TypeId>,
    /// DIEs being converted (a cycle back to one is corrupt input: it becomes void).
    active: HashSet<usize>,
    /// Named types with an id whose record is still a placeholder: (DIE offset, id).
    queue: Vec<(usize, TypeId)>,
    /// Old-style bitfield offsets count from the other end on big-endian targets.
    pub(super) big_endian: bool,
}

/// Converts every unit of `dwarf` into a table of BTF types.
pub(crate) fn convert(dwarf: &Dwarf<'_>, big_endian: bool) -> Result<Table, DwarfError> {
    let mut c = Converter {
        units: Units::new(dwarf)?,
        table: Table::default(),
        done: HashMap::new(),
        active: HashSet::new(),
        queue: Vec::new(),
        big_endian,
    };
    for i in 0..c.units.count() {
        let Some(unit) = c.units.load(i)? else { break };
        c.done.clear();
        for offset in unit.types_to_convert()? {
            c.type_id(Ref::Die(offset), unit.start, 0)?;
            c.drain()?;
        }
    }
    Ok(c.table)
}

/// Where `die`'s `DW_AT_name` is missing or empty, `None`.
pub(super) fn name_of(die: &Die) -> Option<&str> {
    die.name.as_deref().filter(|n| !n.is_empty())
}

impl<'a> Converter<'a> {
    pub(super) fn dwarf(&self) -> &'a Dwarf<'a> {
        self.units.dwarf()
    }

    /// The id of the type `r` points to (0, void, for none or for what cannot be followed).
    /// `from` is the referring DIE, for errors.
    pub(super) fn type_id(
        &mut self,
        r: Ref,
        from: usize,
        depth: usize,
    ) -> Result<TypeId, DwarfError> {
        let offset = match r {
            Ref::Die(o) => o,
            Ref::Signature(s) => match self.units.signature(s) {
                Some(o) => o,
                None => return Ok(0),
            },
            Ref::None | Ref::Unsupported => return Ok(0),
        };
        if let Some(&id) = self.done.get(&offset) {
            return Ok(id);
        }
        if depth >= MAX_DEPTH || !self.active.insert(offset) {
            return Ok(0);
        }
        let result = self.convert_die(offset, from, depth);
        self.active.remove(&offset);
        let id = result?;
        self.done.insert(offset, id);
        Ok(id)
    }

    /// The DIE at `offset` (referred to from `from`) and its unit.
    pub(super) fn die(
        &mut self,
        offset: usize,
        from: usize,
    ) -> Result<(Rc<Unit<'a>>, Die), DwarfError> {
        let unit = self.units.unit_of(offset, from)?;
        let die = unit.die(self.dwarf(), offset)?;
        Ok((unit, die))
    }

    fn convert_die(
        &mut self,
        offset: usize,
        from: usize,
        depth: usize,
    ) -> Result<TypeId, DwarfError> {
        let (unit, die) = self.die(offset, from)?;
        let next = depth + 1;
        let defined_elsewhere = match die.signature {
            Ref::Signature(s) => self.units.signature(s).is_some(),
            Ref::Die(_) => true,
            Ref::None | Ref::Unsupported => false,
        };
        if defined_elsewhere {
            return self.type_id(die.signature, offset, next);
        }
        match die.tag {
            dw::DW_TAG_base_type => self.base_type(&die),
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type => {
                let t = self.type_id(die.ty, offset, next)?;
                self.table.intern(Rec::Ptr(t))
            }
            dw::DW_TAG_const_type => {
                let t = self.type_id(die.ty, offset, next)?;
                self.table.intern(Rec::Const(t))
            }
            dw::DW_TAG_volatile_type => {
                let t = self.type_id(die.ty, offset, next)?;
                self.table.intern(Rec::Volatile(t))
            }
            dw::DW_TAG_restrict_type => {
                let t = self.type_id(die.ty, offset, next)?;
                self.table.intern(Rec::Restrict(t))
            }
            // Qualifiers BTF has no kind for: the type itself.
            dw::DW_TAG_atomic_type | dw::DW_TAG_immutable_type | dw::DW_TAG_shared_type => {
                self.type_id(die.ty, offset, next)
            }
            dw::DW_TAG_typedef => self.typedef(die, next),
            dw::DW_TAG_structure_type
            | dw::DW_TAG_class_type
            | dw::DW_TAG_union_type
            | dw::DW_TAG_enumeration_type => self.tagged(&unit, die, next),
            dw::DW_TAG_array_type => self.array(&unit, &die, next),
            dw::DW_TAG_subroutine_type => self.func_proto(&unit, &die, next),
            dw::DW_TAG_unspecified_type => Ok(0),
            _ => self.placeholder(&die),
        }
    }

    /// Converts the queued named types, whose members may queue more.
    fn drain(&mut self) -> Result<(), DwarfError> {
        while let Some((offset, id)) = self.queue.pop() {
            let (unit, die) = self.die(offset, offset)?;
            let rec = match die.tag {
                dw::DW_TAG_typedef => Rec::Typedef {
                    target: self.type_id(die.ty, offset, 0)?,
                    name: die.name.unwrap_or_default(),
                },
                dw::DW_TAG_enumeration_type => self.enum_rec(&unit, &die)?,
                _ => self.aggregate_rec(&unit, &die, 0)?,
            };
            self.table.set(id, rec);
        }
        Ok(())
    }

    /// A typedef: named ones are deduplicated by name and a summary of their target, so
    /// `typedef struct { ... } atomic_t;` in a thousand units is converted once.
    fn typedef(&mut self, die: Die, depth: usize) -> Result<TypeId, DwarfError> {
        let Some(name) = name_of(&die).map(str::to_string) else {
            return self.type_id(die.ty, die.offset, depth);
        };
        let (tag, target_name, size) = match die.ty {
            Ref::Die(t) => {
                let (_, target) = self.die(t, die.offset)?;
                let size = if name_of(&target).is_none() {
                    target.byte_size
                } else {
                    None
                };
                (target.tag.0, target.name.unwrap_or_default(), size)
            }
            _ => (0, String::new(), None),
        };
        let key = NamedKey {
            kind: Named::Typedef,
            name: name.clone(),
            size,
            line: die.decl_line,
            target: Some((tag, target_name)),
        };
        if let Some(id) = self.table.named(&key) {
            return Ok(id);
        }
        let placeholder = Rec::Typedef { name, target: 0 };
        let id = self.table.reserve_named(key, placeholder)?;
        self.queue.push((die.offset, id));
        Ok(id)
    }

    /// A struct, class, union or enum: a declaration, a named definition (queued), or an
    /// anonymous one (converted now, deduplicated by content).
    fn tagged(&mut self, unit: &Unit<'a>, die: Die, depth: usize) -> Result<TypeId, DwarfError> {
        let kind = match die.tag {
            dw::DW_TAG_union_type => Named::Union,
            dw::DW_TAG_enumeration_type => Named::Enum,
            _ => Named::Struct,
        };
        let Some(name) = name_of(&die).map(str::to_string) else {
            if die.declaration {
                return Ok(0);
            }
            let rec = if kind == Named::Enum {
                self.enum_rec(unit, &die)?
            } else {
                self.aggregate_rec(unit, &die, depth)?
            };
            return self.table.intern(rec);
        };
        if die.declaration {
            return self.table.declaration(kind, &name);
        }
        let key = NamedKey {
            kind,
            name: name.clone(),
            size: die.byte_size,
            line: die.decl_line,
            target: None,
        };
        if let Some(id) = self.table.named(&key) {
            return Ok(id);
        }
        let placeholder = match kind {
            Named::Enum => Rec::Enum {
                name,
                size: 4,
                signed: false,
                values: Vec::new(),
            },
            _ => Rec::Fwd {
                name,
                union: kind == Named::Union,
            },
        };
        let id = self.table.reserve_named(key, placeholder)?;
        self.queue.push((die.offset, id));
        Ok(id)
    }
}
