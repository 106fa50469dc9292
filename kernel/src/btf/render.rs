//! mdb's `::print` output from a [`Field`] tree, and its JSON form.
//!
//! The text follows illumos mdb: four spaces a level; `name = value`; structs and unions as
//! `{` ... `}`; integers in hex (`0` for zero, `0x2a` otherwise), or decimal with `-d`;
//! bitfields of signed types in decimal; characters as `'c'`; character arrays as
//! `[ "swapper/0" ]`; other arrays as `[ 0x1, 0x2, ... ]` or, for arrays of structs, one
//! element a block; pointers as hex or `symbol+0x10`, a `char *` followed by its string;
//! enums as `2 (NAME)` (flags in hex: `0x5 (A|C)`). `-t` puts the C type before each name
//! (`pid_t pid = 0`, `struct list_head *next = 0`), `-a` the address (and `.bit` for a
//! bitfield) before everything. The members of a member printed by name are prefixed by it
//! (`thread.sp = ...`), as mdb does. Without values (`::print -at TYPE`), the layout:
//! offsets, types and names.

use super::value::{Field, Value};
use serde_json::{json, Map, Value as Json};

/// How to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// `-t`: each member's C type.
    pub types: bool,
    /// `-a`: each member's address (offset, in a layout).
    pub addrs: bool,
    /// `-d`: integers in decimal.
    pub decimal: bool,
    /// `-x`: integers in hex, signed bitfields too.
    pub hex: bool,
    /// Values were decoded (false for a layout).
    pub values: bool,
}

/// The lines `::print` shows for `root`, an object at `base` (its fields' bit offsets are
/// relative to it). `prefix` is the member path the user asked for, if any.
pub fn lines(root: &Field, base: u64, prefix: Option<&str>, style: &Style) -> Vec<String> {
    let mut r = Renderer {
        style,
        base,
        prefix,
        out: Vec::new(),
    };
    r.field(root, 0, 0, false);
    r.out
}

struct Renderer<'s> {
    style: &'s Style,
    base: u64,
    prefix: Option<&'s str>,
    out: Vec<String>,
}

/// `0` or `0x2a`, as mdb's `%#x`.
fn hex(v: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

fn mask(v: u64, width: u32) -> u64 {
    if width >= 64 {
        v
    } else {
        v & ((1u64 << width) - 1)
    }
}

/// A C character constant for byte `b`.
fn char_literal(b: u8) -> String {
    match b {
        0 => "'\\0'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\t' => "'\\t'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\\' => "'\\\\'".to_string(),
        b'\'' => "'\\''".to_string(),
        0x20..=0x7e => format!("'{}'", b as char),
        _ => format!("'\\x{b:02x}'"),
    }
}

/// `s` in double quotes with C escapes.
fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

impl Renderer<'_> {
    fn push(&mut self, line: String) {
        self.out.push(line.trim_end().to_string());
    }

    fn field(&mut self, f: &Field, depth: usize, nest: usize, element: bool) {
        let indent = " ".repeat((depth + nest) * 4);
        let anonymous = f.name.is_empty() && depth > 0 && !element;
        let prefix = if nest == 0 { self.prefix } else { None };
        let name = match (prefix, depth) {
            (Some(p), 0) => p.to_string(),
            (Some(p), 1) if !f.name.is_empty() => format!("{p}.{}", f.name),
            _ => f.name.clone(),
        };
        let mut head = indent.clone();
        if self.style.addrs {
            let addr = self.base.wrapping_add(f.bit_offset / 8);
            head.push_str(&format!("{addr:x}"));
            if !f.bit_offset.is_multiple_of(8) {
                head.push_str(&format!(".{:x}", f.bit_offset % 8));
            }
            head.push(' ');
        }
        if self.style.types {
            let ty = if anonymous {
                f.type_name.trim_end_matches(" {...}")
            } else {
                f.type_name.as_str()
            };
            head.push_str(ty);
            if !ty.ends_with('*') || name.is_empty() {
                head.push(' ');
            }
        }
        head.push_str(&name);
        if self.style.types && f.bitfield > 0 {
            head.push_str(&format!(" :{}", f.bitfield));
        }
        if (depth != 0 || prefix.is_some()) && !anonymous {
            head.push_str(if self.style.values { " = " } else { " " });
        }
        let comma = if element { "," } else { "" };
        match &f.value {
            Value::Composite { fields } => {
                self.push(format!("{head}{{"));
                for c in fields {
                    self.field(c, depth + 1, nest, false);
                }
                self.push(format!("{indent}}}{comma}"));
            }
            Value::Array {
                elems,
                total,
                composite: true,
            } if !elems.is_empty() => {
                self.push(format!("{head}["));
                for e in elems {
                    self.field(e, 0, nest + depth + 1, true);
                }
                let end = if (elems.len() as u64) < *total {
                    "... ]"
                } else {
                    "]"
                };
                self.push(format!("{indent}{end}{comma}"));
            }
            v => {
                let text = self.scalar(v);
                self.push(format!("{head}{text}{comma}"));
            }
        }
    }

    fn int(&self, raw: u64, signed: bool, width: u32, bitfield: bool) -> String {
        let unsigned = mask(raw, width);
        if bitfield && signed && !self.style.hex {
            (raw as i64).to_string()
        } else if self.style.decimal {
            if signed {
                (raw as i64).to_string()
            } else {
                unsigned.to_string()
            }
        } else {
            hex(unsigned)
        }
    }

    /// A value on one line.
    fn scalar(&self, v: &Value) -> String {
        match v {
            Value::Int {
                raw,
                signed,
                width,
                char,
                bitfield,
            } => {
                if *char {
                    char_literal(*raw as u8)
                } else {
                    self.int(*raw, *signed, *width, *bitfield)
                }
            }
            Value::Int128 { raw, signed } => {
                if self.style.decimal && *signed {
                    (*raw as i128).to_string()
                } else if self.style.decimal {
                    raw.to_string()
                } else if *raw == 0 {
                    "0".to_string()
                } else {
                    format!("{raw:#x}")
                }
            }
            Value::Float(f) => format!("{f:.7e}"),
            Value::Pointer {
                addr,
                symbol,
                string,
            } => {
                let mut s = match symbol {
                    Some(sym) => sym.clone(),
                    None => hex(*addr),
                };
                if let Some(text) = string {
                    s.push(' ');
                    s.push_str(&quoted(text));
                }
                s
            }
            Value::Enum {
                raw,
                signed,
                name,
                flags,
            } => {
                let n = if *flags || self.style.hex {
                    hex(*raw)
                } else if *signed {
                    (*raw as i64).to_string()
                } else {
                    raw.to_string()
                };
                format!("{n} ({name})")
            }
            Value::Str(s) => format!("[ {} ]", quoted(s)),
            Value::Array { elems, total, .. } => {
                if elems.is_empty() {
                    return "[ ... ]".to_string();
                }
                let items: Vec<String> = elems.iter().map(|e| self.scalar(&e.value)).collect();
                let end = if (elems.len() as u64) < *total {
                    ", ... ]"
                } else {
                    " ]"
                };
                format!("[ {}{end}", items.join(", "))
            }
            Value::Composite { .. } | Value::ElidedComposite => "{ ... }".to_string(),
            Value::ElidedArray => "[ ... ]".to_string(),
            Value::Unreadable { addr, len } => {
                let what = if *len == 1 {
                    "1 byte".to_string()
                } else {
                    format!("{len} bytes")
                };
                format!("??? (failed to read {what} at {addr:x})")
            }
            Value::Omitted => "...".to_string(),
            Value::Forward(name) => format!("<forward declaration of {name}>"),
            Value::Function => "<function>".to_string(),
            Value::Empty => String::new(),
            Value::Bad(why) => format!("??? ({why})"),
        }
    }
}

/// A value as JSON: integers as numbers, pointers as `"0x…"` strings, character arrays as
/// strings, enums as `{"value", "name"}`, structs as objects (the members of anonymous structs
/// and unions merged in), arrays as lists of the elements shown; what could not be read or
/// was cut is `null`.
pub fn json(v: &Value) -> Json {
    match v {
        Value::Int {
            raw, signed, width, ..
        } => {
            if *signed {
                json!(*raw as i64)
            } else {
                json!(mask(*raw, *width))
            }
        }
        Value::Int128 { raw, .. } => json!(format!("{raw:#x}")),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Pointer { addr, .. } => json!(format!("{addr:#x}")),
        Value::Enum {
            raw, signed, name, ..
        } => {
            let n = if *signed {
                json!(*raw as i64)
            } else {
                json!(*raw)
            };
            json!({"value": n, "name": name})
        }
        Value::Composite { fields } => {
            let mut map = Map::new();
            merge(&mut map, fields);
            Json::Object(map)
        }
        Value::Array { elems, .. } => Json::Array(elems.iter().map(|e| json(&e.value)).collect()),
        Value::Str(s) => json!(s),
        _ => Json::Null,
    }
}

fn merge(map: &mut Map<String, Json>, fields: &[Field]) {
    for f in fields {
        match (&f.value, f.name.is_empty()) {
            (Value::Composite { fields }, true) => merge(map, fields),
            (_, true) => {}
            (v, false) => {
                map.insert(f.name.clone(), json(v));
            }
        }
    }
}

/// A layout (a tree decoded without values) as a flat list of members with dotted paths:
/// `{"member", "type", "offset", "size"}` plus `"bit_offset"` and `"bits"` for bitfields.
pub fn layout_json(root: &Field) -> Json {
    let mut out = Vec::new();
    if let Value::Composite { fields } = &root.value {
        flatten(&mut out, "", fields);
    }
    Json::Array(out)
}

fn flatten(out: &mut Vec<Json>, path: &str, fields: &[Field]) {
    for f in fields {
        let p = match (path.is_empty(), f.name.is_empty()) {
            (_, true) => path.to_string(),
            (true, false) => f.name.clone(),
            (false, false) => format!("{path}.{}", f.name),
        };
        if !f.name.is_empty() {
            let mut m = Map::new();
            m.insert("member".into(), json!(p));
            m.insert("type".into(), json!(f.type_name));
            m.insert("offset".into(), json!(f.bit_offset / 8));
            m.insert("size".into(), json!(f.size));
            if f.bitfield > 0 || f.bit_offset % 8 != 0 {
                m.insert("bit_offset".into(), json!(f.bit_offset));
                m.insert("bits".into(), json!(f.bitfield));
            }
            out.push(Json::Object(m));
        }
        if let Value::Composite { fields } = &f.value {
            flatten(out, &p, fields);
        }
    }
}
