//! Building `.BTF` blobs by hand, for tests: of this parser, and of code elsewhere that needs
//! kernel-like types over mock guest memory.
//!
//! ```
//! use qmdb_kernel::btf::{builder::BtfBuilder, layout::int, Btf};
//! let mut b = BtfBuilder::new();
//! let int_t = b.int("int", 4, 32, int::SIGNED);
//! let pid_t = b.typedef("pid_t", int_t);
//! let task = b.struct_("task_struct", 8, &[("pid", pid_t, 0), ("tgid", pid_t, 32)]);
//! let btf = Btf::parse(&b.build()).unwrap();
//! assert_eq!(btf.member(task, "tgid").unwrap().bit_offset, 32);
//! ```
//!
//! Ids are given out in order from 1; a type may refer to an id not yet added (for cycles).

use super::layout::{self, kind};
use super::TypeId;
use std::collections::HashMap;

/// Accumulates types and strings; [`BtfBuilder::build`] lays out header, types and strings.
#[derive(Debug, Clone)]
pub struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    offsets: HashMap<String, u32>,
    next: TypeId,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        BtfBuilder::new()
    }
}

fn info(kind: u8, kflag: bool, vlen: u16) -> u32 {
    (u32::from(kflag) << 31) | (u32::from(kind) << 24) | u32::from(vlen)
}

impl BtfBuilder {
    /// An empty builder: no types, the empty string at offset 0.
    pub fn new() -> BtfBuilder {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            offsets: HashMap::new(),
            next: 1,
        }
    }

    /// The id the next type will get.
    pub fn next_id(&self) -> TypeId {
        self.next
    }

    /// The offset of `s` in the string section (added once; `""` is 0).
    pub fn string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&o) = self.offsets.get(s) {
            return o;
        }
        let o = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.offsets.insert(s.to_string(), o);
        o
    }

    fn word(&mut self, w: u32) {
        self.types.extend_from_slice(&w.to_le_bytes());
    }

    /// Appends a record header; returns its id.
    fn header(
        &mut self,
        name: &str,
        kind: u8,
        kflag: bool,
        vlen: u16,
        size_or_type: u32,
    ) -> TypeId {
        let n = self.string(name);
        self.word(n);
        self.word(info(kind, kflag, vlen));
        self.word(size_or_type);
        let id = self.next;
        self.next += 1;
        id
    }

    /// Raw bytes appended to the type section (for corrupt-input tests); counts as no type.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.types.extend_from_slice(bytes);
    }

    /// A record with a raw `name_off` (bad offsets, for tests).
    pub fn raw_record(&mut self, name_off: u32, kind: u8, vlen: u16, size_or_type: u32) -> TypeId {
        self.word(name_off);
        self.word(info(kind, false, vlen));
        self.word(size_or_type);
        let id = self.next;
        self.next += 1;
        id
    }

    /// `encoding`: [`layout::int`]`::SIGNED | CHAR | BOOL`.
    pub fn int(&mut self, name: &str, size: u32, bits: u8, encoding: u8) -> TypeId {
        self.int_at(name, size, bits, 0, encoding)
    }

    /// An INT whose value sits `offset` bits into its storage (old-style bitfields).
    pub fn int_at(&mut self, name: &str, size: u32, bits: u8, offset: u8, encoding: u8) -> TypeId {
        let id = self.header(name, kind::INT, false, 0, size);
        self.word((u32::from(encoding) << 24) | (u32::from(offset) << 16) | u32::from(bits));
        id
    }

    /// A pointer to `target`.
    pub fn ptr(&mut self, target: TypeId) -> TypeId {
        self.header("", kind::PTR, false, 0, target)
    }

    /// An array of `nelems` `elem`s, indexed by `index`.
    pub fn array(&mut self, elem: TypeId, index: TypeId, nelems: u32) -> TypeId {
        let id = self.header("", kind::ARRAY, false, 0, 0);
        self.word(elem);
        self.word(index);
        self.word(nelems);
        id
    }

    fn members(
        &mut self,
        k: u8,
        name: &str,
        size: u32,
        kflag: bool,
        m: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        let id = self.header(name, k, kflag, m.len() as u16, size);
        for (n, ty, off, bits) in m {
            let n = self.string(n);
            self.word(n);
            self.word(*ty);
            self.word(if kflag {
                (bits << 24) | (off & 0x00ff_ffff)
            } else {
                *off
            });
        }
        id
    }

    /// A struct; members are `(name, type, bit offset)`; an empty name is anonymous.
    pub fn struct_(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        let m: Vec<_> = members.iter().map(|(n, t, o)| (*n, *t, *o, 0)).collect();
        self.members(kind::STRUCT, name, size, false, &m)
    }

    /// A struct with the kind flag set: members are `(name, type, bit offset, bitfield size)`.
    pub fn struct_bitfields(
        &mut self,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        self.members(kind::STRUCT, name, size, true, members)
    }

    /// A union of `(name, type, byte offset)` members.
    pub fn union_(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        let m: Vec<_> = members.iter().map(|(n, t, o)| (*n, *t, *o, 0)).collect();
        self.members(kind::UNION, name, size, false, &m)
    }

    /// A union with the kind flag set: members are `(name, type, bit offset, bitfield size)`.
    pub fn union_bitfields(
        &mut self,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        self.members(kind::UNION, name, size, true, members)
    }

    /// An ENUM of `size` bytes; `signed` sets the kind flag.
    pub fn enum_(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, i32)]) -> TypeId {
        let id = self.header(name, kind::ENUM, signed, values.len() as u16, size);
        for (n, v) in values {
            let n = self.string(n);
            self.word(n);
            self.word(*v as u32);
        }
        id
    }

    /// A 64-bit enum.
    pub fn enum64(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, u64)],
    ) -> TypeId {
        let id = self.header(name, kind::ENUM64, signed, values.len() as u16, size);
        for (n, v) in values {
            let n = self.string(n);
            self.word(n);
            self.word(*v as u32);
            self.word((*v >> 32) as u32);
        }
        id
    }

    /// A forward declaration of a struct (or, with `union`, a union).
    pub fn fwd(&mut self, name: &str, union: bool) -> TypeId {
        self.header(name, kind::FWD, union, 0, 0)
    }

    /// A typedef `name` of `target`.
    pub fn typedef(&mut self, name: &str, target: TypeId) -> TypeId {
        self.header(name, kind::TYPEDEF, false, 0, target)
    }

    /// `volatile target`.
    pub fn volatile(&mut self, target: TypeId) -> TypeId {
        self.header("", kind::VOLATILE, false, 0, target)
    }

    /// `const target`.
    pub fn const_(&mut self, target: TypeId) -> TypeId {
        self.header("", kind::CONST, false, 0, target)
    }

    /// `restrict target`.
    pub fn restrict(&mut self, target: TypeId) -> TypeId {
        self.header("", kind::RESTRICT, false, 0, target)
    }

    /// A type tag (`__attribute__((btf_type_tag(tag)))`) on `target`.
    pub fn type_tag(&mut self, tag: &str, target: TypeId) -> TypeId {
        self.header(tag, kind::TYPE_TAG, false, 0, target)
    }

    /// `linkage`: 0 static, 1 global, 2 extern.
    pub fn func(&mut self, name: &str, proto: TypeId, linkage: u16) -> TypeId {
        self.header(name, kind::FUNC, false, linkage, proto)
    }

    /// Parameters `(name, type)`; `("", 0)` last for `...`.
    pub fn func_proto(&mut self, ret: TypeId, params: &[(&str, TypeId)]) -> TypeId {
        let id = self.header("", kind::FUNC_PROTO, false, params.len() as u16, ret);
        for (n, t) in params {
            let n = self.string(n);
            self.word(n);
            self.word(*t);
        }
        id
    }

    /// A variable `name` of type `ty`, with BTF linkage `linkage`.
    pub fn var(&mut self, name: &str, ty: TypeId, linkage: u32) -> TypeId {
        let id = self.header(name, kind::VAR, false, 0, ty);
        self.word(linkage);
        id
    }

    /// Variables `(var type id, offset, size)`.
    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(TypeId, u32, u32)]) -> TypeId {
        let id = self.header(name, kind::DATASEC, false, vars.len() as u16, size);
        for (t, o, s) in vars {
            self.word(*t);
            self.word(*o);
            self.word(*s);
        }
        id
    }

    /// A floating-point type of `size` bytes.
    pub fn float(&mut self, name: &str, size: u32) -> TypeId {
        self.header(name, kind::FLOAT, false, 0, size)
    }

    /// `component`: -1 for the declaration itself, else a member or parameter index.
    pub fn decl_tag(&mut self, tag: &str, target: TypeId, component: i32) -> TypeId {
        let id = self.header(tag, kind::DECL_TAG, false, 0, target);
        self.word(component as u32);
        id
    }

    /// The `.BTF` bytes: header, type section, string section.
    pub fn build(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(layout::HEADER_LEN + self.types.len() + self.strings.len());
        out.extend_from_slice(&layout::MAGIC.to_le_bytes());
        out.push(layout::VERSION);
        out.push(0); // flags
        out.extend_from_slice(&(layout::HEADER_LEN as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // type_off
        out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.types.len() as u32).to_le_bytes()); // str_off
        out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
