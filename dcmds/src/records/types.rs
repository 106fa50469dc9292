//! Typed guest data and type layouts from the kernel's BTF (`::print`, `::sizeof`,
//! `::offsetof`).
//!
//! `::print`'s records keep the decoded [`Field`] tree: its text is mdb's (the BTF
//! renderer's), its JSON the renderer's JSON form of the same tree.

use crate::record::{hex, Record};
use qmdb_kernel::btf::render::{self, Style};
use qmdb_kernel::btf::value::Field;
use serde::{Serialize, Serializer};

/// `0` or `0x2a`, as mdb's `%#lr`.
pub fn mdb_hex(v: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// A field's value as the renderer's JSON tree.
fn value_json<S: Serializer>(f: &Field, s: S) -> Result<S::Ok, S::Error> {
    render::json(&f.value).serialize(s)
}

/// A layout's members as the renderer's flat list.
fn layout_json<S: Serializer>(f: &Field, s: S) -> Result<S::Ok, S::Error> {
    render::layout_json(f).serialize(s)
}

/// An object or one of its members, with its values (`addr::print TYPE [member]`).
/// JSON: `{"addr", "type", "value"}`, plus `"member"` when a member was asked for.
#[derive(Debug, Clone, Serialize)]
pub struct PrintedValue {
    /// The object's (or member's) address.
    #[serde(with = "hex")]
    pub addr: u64,
    /// The member path asked for; absent when the whole object was printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The C type of what was printed.
    #[serde(rename = "type")]
    pub ty: String,
    /// The decoded tree (pointer symbols already resolved).
    #[serde(rename = "value", serialize_with = "value_json")]
    pub tree: Field,
    /// How the text shows it (`-a`, `-t`, `-d`, `-x`).
    #[serde(skip)]
    pub style: Style,
}

impl Record for PrintedValue {
    fn render(&self, lines: &mut Vec<String>) {
        lines.extend(render::lines(
            &self.tree,
            self.addr,
            self.member.as_deref(),
            &self.style,
        ));
    }
}

/// A type's layout (`::print TYPE` without an address).
/// JSON: `{"type", "size", "members": [{"member", "type", "offset", "size"}…]}`.
#[derive(Debug, Clone, Serialize)]
pub struct TypeLayout {
    #[serde(rename = "type")]
    pub ty: String,
    /// Null when BTF cannot size the type.
    pub size: Option<u64>,
    /// The type decoded without values; in JSON, its members flattened to dotted paths.
    #[serde(rename = "members", serialize_with = "layout_json")]
    pub tree: Field,
    #[serde(skip)]
    pub style: Style,
}

impl Record for TypeLayout {
    fn render(&self, lines: &mut Vec<String>) {
        lines.extend(render::lines(&self.tree, 0, None, &self.style));
    }
}

/// One member's layout (`::print TYPE member` without an address).
#[derive(Debug, Clone, Serialize)]
pub struct MemberLayout {
    /// The struct or union's C name.
    #[serde(rename = "type")]
    pub ty: String,
    /// The member path asked for.
    pub member: String,
    pub member_type: String,
    /// Bytes into the type.
    pub offset: u64,
    pub size: u64,
    /// Bits into the type, for a bitfield.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_offset: Option<u64>,
    /// A bitfield's width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    /// The member decoded without values.
    #[serde(skip)]
    pub tree: Field,
    #[serde(skip)]
    pub style: Style,
}

impl Record for MemberLayout {
    fn render(&self, lines: &mut Vec<String>) {
        lines.extend(render::lines(
            &self.tree,
            0,
            Some(&self.member),
            &self.style,
        ));
    }
}

/// The size of a type (`::sizeof`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeSize {
    #[serde(rename = "type")]
    pub ty: String,
    pub size: u64,
}

impl Record for TypeSize {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("sizeof ({}) = {}", self.ty, mdb_hex(self.size)));
    }
}

/// Where a member lies in a struct or union (`::offsetof`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberOffset {
    /// The struct or union's C name.
    #[serde(rename = "type")]
    pub ty: String,
    /// The member path asked for.
    pub member: String,
    /// Bytes into the type.
    pub offset: u64,
    /// Bits into the type.
    pub bit_offset: u64,
    /// The size of the member's type (0 when unknown).
    pub size: u64,
    pub member_type: String,
    /// A bitfield's width; absent for other members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
}

impl Record for MemberOffset {
    fn render(&self, lines: &mut Vec<String>) {
        let bit = self.bit_offset % 8;
        let mut line = format!(
            "offsetof ({}, {}) = {}",
            self.ty,
            self.member,
            mdb_hex(self.offset)
        );
        if bit != 0 || self.bits.is_some() {
            line.push_str(&format!(".{bit:x}"));
        }
        if self.size > 0 {
            line.push_str(&format!(
                ", sizeof (...->{}) = {}",
                self.member,
                mdb_hex(self.size)
            ));
        }
        if let Some(b) = self.bits {
            line.push_str(&format!(" (bitfield :{b})"));
        }
        lines.push(line);
    }
}
