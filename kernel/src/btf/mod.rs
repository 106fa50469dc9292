//! Kernel types from `.BTF`: a small zero-copy parser, lookups by C type name and member
//! path, and mdb's `::print` rendering of typed guest memory.
//!
//! ```no_run
//! # fn demo(bytes: &[u8]) -> Result<(), qmdb_kernel::btf::BtfError> {
//! use qmdb_kernel::Btf;
//! let btf = Btf::parse(bytes)?;                       // the raw `.BTF` section
//! let task = btf.find("task_struct")?;                // also `struct task_struct`, `pid_t`,
//! let size = btf.size_of_ctype(&task)?;               // `unsigned long`, `struct list_head *`
//! let pid = btf.member(task.base, "pid")?;            // also `thread.sp`, `a[3].b`
//! println!("{} {size:#x} pid at {:#x}", btf.ctype_name(&task), pid.bit_offset / 8);
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - [`layout`]: the format (header, kinds, record sizes), apart from the parsing;
//! - `parse`: header validation, one pass over the type section, the name index;
//! - [`types`]: typed views of records ([`Type`], [`Member`], [`Enumerator`]...);
//! - `names`: C names of types and parsing of type names the user types;
//! - `members`: member lookup by path through anonymous structs and unions;
//! - [`value`]: decoding an object's bytes into a [`value::Value`] tree (sans-IO);
//! - [`render`]: mdb's `::print` text (and JSON) from a value tree or a type's layout;
//! - [`builder`]: building BTF blobs, for tests here and elsewhere.
//!
//! Untrusted input: every read is bounds-checked, parse errors name the type id and offset,
//! reference chains and nesting are bounded by [`MAX_DEPTH`], and nothing panics.

pub mod builder;
mod error;
/// A kernel-like BTF for tests (here and, with the `fixture` feature, in other crates).
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
pub mod layout;
mod members;
mod names;
mod parse;
pub mod render;
pub mod types;
pub mod value;

#[cfg(test)]
mod tests;

pub use error::BtfError;
pub use members::MemberInfo;
pub use members::{parse_path, PathPart};
pub use names::{split_type_words, CType, Declarator};
pub use types::{ArrayInfo, Enumerator, IntInfo, Kind, Member, Param, Type, VarSecinfo};

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

/// The bound on reference chains (typedef → const → typedef...), array nesting, anonymous
/// member nesting and name construction: deeper means a cycle or a corrupt file.
pub const MAX_DEPTH: usize = 64;

/// The size of a pointer (BTF does not record it; the guest is x86_64).
pub const POINTER_SIZE: u64 = 8;

/// A name in the index: `strings[start..start+len]` names type `id`.
#[derive(Debug, Clone, Copy)]
struct NameEntry {
    start: u32,
    len: u32,
    id: TypeId,
}

/// The kernel's BTF type information, parsed once and then read lazily.
///
/// Holds a copy of the type and string sections, the offset of each type record, and an
/// index of the names of structs, unions, enums, typedefs, forward declarations and base
/// types, sorted by name.
pub struct Btf {
    types: Vec<u8>,
    strings: String,
    /// `offsets[id]` is where type `id`'s record starts in `types` (`offsets[0]`: void).
    offsets: Vec<u32>,
    index: Vec<NameEntry>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.type_count())
            .field("type_bytes", &self.types.len())
            .field("string_bytes", &self.strings.len())
            .field("names", &self.index.len())
            .finish()
    }
}

/// Which of C's namespaces a lookup searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `struct NAME` (and forward declarations of it).
    Struct,
    /// `union NAME`.
    Union,
    /// `enum NAME` (ENUM or ENUM64).
    Enum,
    /// Typedef names and base types (`pid_t`, `long unsigned int`, `_Bool`, `double`).
    Ordinary,
}

impl Btf {
    /// Parses a `.BTF` section (little-endian). Checks the header, every record's bounds and
    /// kind, and every name offset; builds the name index. Type references are checked when
    /// they are followed.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        parse::parse(data)
    }

    /// The number of types, not counting void.
    pub fn type_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The string at `off` in the string section, empty if `off` is bad (offsets of every
    /// record were checked by [`Btf::parse`]).
    pub(crate) fn name_at(&self, off: u32) -> &str {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        rest.split('\0').next().unwrap_or_default()
    }

    /// Type `id`, or `None` past the last type.
    pub fn type_by_id(&self, id: TypeId) -> Option<Type<'_>> {
        if id == 0 {
            return Some(Type::void());
        }
        let off = *self.offsets.get(id as usize)? as usize;
        let rec = self.types.get(off..off + layout::TYPE_HEADER_LEN)?;
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(rec.get(at..at + 4)?.try_into().ok()?))
        };
        let name_off = word(0)?;
        let info = word(4)?;
        let size_or_type = word(8)?;
        let kind = Kind::from_raw(layout::info_kind(info))?;
        let trailing = layout::trailing_len(layout::info_kind(info), layout::info_vlen(info))?;
        let start = off + layout::TYPE_HEADER_LEN;
        let extra = self.types.get(start..start + trailing)?;
        Some(Type {
            id,
            kind,
            name: self.name_at(name_off),
            info,
            size_or_type,
            extra,
        })
    }

    /// Type `id` as referenced by type `from`: an error names both when `id` does not exist.
    pub fn get(&self, id: TypeId, from: TypeId) -> Result<Type<'_>, BtfError> {
        self.type_by_id(id).ok_or(BtfError::BadTypeId { from, id })
    }

    /// Every type, in id order (void excluded).
    pub fn types(&self) -> impl Iterator<Item = Type<'_>> + '_ {
        (1..self.offsets.len() as TypeId).filter_map(move |id| self.type_by_id(id))
    }

    /// The members of a struct or union (none for other kinds).
    pub fn members<'a>(&'a self, ty: Type<'a>) -> impl Iterator<Item = Member<'a>> + 'a {
        let n = if matches!(ty.kind, Kind::Struct | Kind::Union) {
            usize::from(ty.vlen())
        } else {
            0
        };
        (0..n).map_while(move |i| ty.member(i, self))
    }

    /// The enumerators of an enum (none for other kinds).
    pub fn enumerators<'a>(&'a self, ty: Type<'a>) -> impl Iterator<Item = Enumerator<'a>> + 'a {
        let n = if matches!(ty.kind, Kind::Enum | Kind::Enum64) {
            usize::from(ty.vlen())
        } else {
            0
        };
        (0..n).map_while(move |i| ty.enumerator(i, self))
    }

    /// The parameters of a function prototype (none for other kinds).
    pub fn params<'a>(&'a self, ty: Type<'a>) -> impl Iterator<Item = Param<'a>> + 'a {
        let n = if ty.kind == Kind::FuncProto {
            usize::from(ty.vlen())
        } else {
            0
        };
        (0..n).map_while(move |i| ty.param(i, self))
    }

    fn sort_index(&mut self) {
        let strings = &self.strings;
        let key = |e: &NameEntry| -> &str {
            let s = e.start as usize;
            strings.get(s..s + e.len as usize).unwrap_or_default()
        };
        self.index
            .sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.id.cmp(&b.id)));
    }

    /// The ids of every indexed type called `name`, in id order.
    fn ids_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = TypeId> + 'a {
        let key = |e: &NameEntry| -> &str {
            let s = e.start as usize;
            self.strings.get(s..s + e.len as usize).unwrap_or_default()
        };
        let lo = self.index.partition_point(|e| key(e) < name);
        self.index
            .get(lo..)
            .unwrap_or_default()
            .iter()
            .take_while(move |e| key(e) == name)
            .map(|e| e.id)
    }

    /// The type called `name` in namespace `ns`: the first complete definition, else the
    /// first forward declaration (for structs and unions).
    pub fn lookup(&self, ns: Namespace, name: &str) -> Option<TypeId> {
        let mut fwd = None;
        for id in self.ids_named(name) {
            let Some(t) = self.type_by_id(id) else {
                continue;
            };
            match (ns, t.kind) {
                (Namespace::Struct, Kind::Struct)
                | (Namespace::Union, Kind::Union)
                | (Namespace::Enum, Kind::Enum | Kind::Enum64)
                | (Namespace::Ordinary, Kind::Typedef | Kind::Int | Kind::Float) => {
                    return Some(id)
                }
                (Namespace::Struct, Kind::Fwd) if !t.fwd_is_union() => {
                    fwd = fwd.or(Some(id));
                }
                (Namespace::Union, Kind::Fwd) if t.fwd_is_union() => {
                    fwd = fwd.or(Some(id));
                }
                _ => {}
            }
        }
        fwd
    }

    /// Follows typedefs, qualifiers and type tags from `id` to the type they name.
    pub fn resolve(&self, id: TypeId) -> Result<TypeId, BtfError> {
        let mut cur = id;
        for _ in 0..MAX_DEPTH {
            let t = self.get(cur, id)?;
            if !t.kind.is_alias() {
                return Ok(cur);
            }
            cur = t.size_or_type;
        }
        Err(BtfError::TooDeep { id, max: MAX_DEPTH })
    }

    /// The resolved type of `id` ([`Btf::resolve`]), as a view.
    pub fn resolved(&self, id: TypeId) -> Result<Type<'_>, BtfError> {
        let r = self.resolve(id)?;
        self.get(r, id)
    }

    /// `sizeof` of type `id`, as C computes it: pointers are [`POINTER_SIZE`], arrays are
    /// their length times their element's size, typedefs and qualifiers their target's.
    pub fn size_of(&self, id: TypeId) -> Result<u64, BtfError> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: TypeId, depth: usize) -> Result<u64, BtfError> {
        if depth >= MAX_DEPTH {
            return Err(BtfError::TooDeep { id, max: MAX_DEPTH });
        }
        let t = self.resolved(id)?;
        match t.kind {
            Kind::Ptr => Ok(POINTER_SIZE),
            Kind::Array => {
                let a = t
                    .array()
                    .ok_or(BtfError::BadTypeId { from: id, id: t.id })?;
                let elem = self.size_of_depth(a.elem, depth + 1)?;
                elem.checked_mul(u64::from(a.nelems))
                    .ok_or_else(|| BtfError::SizeOverflow {
                        name: self.type_name(id),
                    })
            }
            Kind::Var => self.size_of_depth(t.size_or_type, depth + 1),
            k if k.has_size() => Ok(u64::from(t.size_or_type)),
            _ => Err(BtfError::NoSize {
                name: self.type_name(id),
            }),
        }
    }
}

impl Default for Btf {
    /// An empty BTF: no types.
    fn default() -> Btf {
        Btf {
            types: Vec::new(),
            strings: "\0".to_string(),
            offsets: vec![0],
            index: Vec::new(),
        }
    }
}
