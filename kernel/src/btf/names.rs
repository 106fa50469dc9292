//! C names: a type's name as C (and mdb) prints it (`struct list_head *`, `char [16]`,
//! `void (*)(int)`), and the parsing of type names the user types (`task_struct`,
//! `struct task_struct`, `unsigned long`, `struct list_head *`, `char [16]`).

use super::error::BtfError;
use super::types::Kind;
use super::{Btf, Namespace, TypeId, MAX_DEPTH, POINTER_SIZE};
use std::cell::Cell;

/// The bound on the steps of building one type's name (function prototypes branch).
const NAME_BUDGET: usize = 512;

/// A pointer or array applied to a type, in a [`CType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declarator {
    /// `*`: a pointer to what is inside.
    Pointer,
    /// `[N]`: an array of N of what is inside.
    Array(u32),
}

/// A type as the user wrote it: a BTF type with pointer and array declarators applied, from
/// the base outwards (`char *[4]` is `char`, then `Pointer`, then `Array(4)`). BTF may hold no
/// record for the derived type, so it is kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CType {
    /// The named BTF type (0 is `void`).
    pub base: TypeId,
    /// The declarators, from the base outwards.
    pub decl: Vec<Declarator>,
}

impl CType {
    /// A plain BTF type.
    pub fn of(id: TypeId) -> CType {
        CType {
            base: id,
            decl: Vec::new(),
        }
    }

    /// The BTF type, when no declarator was applied.
    pub fn plain(&self) -> Option<TypeId> {
        self.decl.is_empty().then_some(self.base)
    }
}

/// `(inner)` when `inner` starts with a pointer, so that `[n]` and `(args)` bind to it.
fn paren(inner: &str) -> String {
    if inner.starts_with('*') {
        format!("({inner})")
    } else {
        inner.to_string()
    }
}

/// `base inner`, or `base` alone.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else {
        format!("{base} {inner}")
    }
}

/// The words of C's base types (several make one type: `long unsigned int`).
const BASE_WORDS: &[&str] = &[
    "signed", "unsigned", "char", "short", "int", "long", "float", "double", "_Bool", "__int128",
];
const QUALIFIERS: &[&str] = &["const", "volatile", "restrict", "__restrict"];

/// The names GCC (which pahole follows) and clang give a base type spelled with `words`, most
/// likely first.
fn base_type_spellings(words: &[&str]) -> Vec<String> {
    let has = |w: &str| words.contains(&w);
    let longs = words.iter().filter(|w| **w == "long").count();
    let unsigned = has("unsigned");
    let mut out = vec![words.join(" ")];
    let canonical: Option<&str> = if has("char") {
        Some(if unsigned {
            "unsigned char"
        } else if has("signed") {
            "signed char"
        } else {
            "char"
        })
    } else if has("short") {
        Some(if unsigned {
            "short unsigned int"
        } else {
            "short int"
        })
    } else if has("__int128") {
        Some(if unsigned {
            "__int128 unsigned"
        } else {
            "__int128"
        })
    } else if has("double") {
        Some(if longs > 0 { "long double" } else { "double" })
    } else if has("float") {
        Some("float")
    } else if has("_Bool") {
        Some("_Bool")
    } else if longs >= 2 {
        Some(if unsigned {
            "long long unsigned int"
        } else {
            "long long int"
        })
    } else if longs == 1 {
        Some(if unsigned {
            "long unsigned int"
        } else {
            "long int"
        })
    } else if has("int") || has("signed") || unsigned {
        Some(if unsigned { "unsigned int" } else { "int" })
    } else {
        None
    };
    if let Some(c) = canonical {
        out.push(c.to_string());
        // clang's spellings.
        out.push(c.replace("long unsigned int", "unsigned long"));
        out.push(c.replace("long long unsigned int", "unsigned long long"));
        out.push(c.replace("short unsigned int", "unsigned short"));
    }
    out.dedup();
    out
}

impl Btf {
    /// Type `id`'s name as C declares it: `struct list_head *`, `char [16]`, `pid_t`,
    /// `const char *`, `void (*)(struct task_struct *)`. Never fails: a bad reference prints
    /// as `<bad type N>`.
    pub fn type_name(&self, id: TypeId) -> String {
        self.declare(id, String::new(), 0, &Cell::new(NAME_BUDGET))
    }

    /// A [`CType`]'s name.
    pub fn ctype_name(&self, ct: &CType) -> String {
        let mut inner = String::new();
        for d in ct.decl.iter().rev() {
            inner = match d {
                Declarator::Pointer => format!("*{inner}"),
                Declarator::Array(n) => format!("{}[{n}]", paren(&inner)),
            };
        }
        self.declare(ct.base, inner, 0, &Cell::new(NAME_BUDGET))
    }

    /// `sizeof` a [`CType`].
    pub fn size_of_ctype(&self, ct: &CType) -> Result<u64, BtfError> {
        let mut size: Option<u64> = None;
        for d in &ct.decl {
            size = Some(match d {
                Declarator::Pointer => POINTER_SIZE,
                Declarator::Array(n) => {
                    let elem = match size {
                        Some(s) => s,
                        None => self.size_of(ct.base)?,
                    };
                    elem.checked_mul(u64::from(*n))
                        .ok_or_else(|| BtfError::SizeOverflow {
                            name: self.ctype_name(ct),
                        })?
                }
            });
        }
        match size {
            Some(s) => Ok(s),
            None => self.size_of(ct.base),
        }
    }

    /// The name of `id` with the declarator text `inner` around which it is declared.
    fn declare(&self, id: TypeId, inner: String, depth: usize, budget: &Cell<usize>) -> String {
        if depth > MAX_DEPTH {
            return join("<nested too deep>", &inner);
        }
        match budget.get().checked_sub(1) {
            Some(b) => budget.set(b),
            None => return join("...", &inner),
        }
        let Some(t) = self.type_by_id(id) else {
            return join(&format!("<bad type {id}>"), &inner);
        };
        let tagged = |tag: &str| {
            let name = if t.name().is_empty() {
                "{...}"
            } else {
                t.name()
            };
            join(&format!("{tag} {name}"), &inner)
        };
        match t.kind {
            Kind::Void => join("void", &inner),
            Kind::Int | Kind::Float | Kind::Typedef => join(t.name(), &inner),
            Kind::Struct => tagged("struct"),
            Kind::Union => tagged("union"),
            Kind::Enum | Kind::Enum64 => tagged("enum"),
            Kind::Fwd => tagged(if t.fwd_is_union() { "union" } else { "struct" }),
            Kind::Ptr => {
                let target = t.target().unwrap_or(0);
                self.declare(target, format!("*{inner}"), depth + 1, budget)
            }
            Kind::Array => match t.array() {
                Some(a) => self.declare(
                    a.elem,
                    format!("{}[{}]", paren(&inner), a.nelems),
                    depth + 1,
                    budget,
                ),
                None => join(&format!("<bad type {id}>"), &inner),
            },
            Kind::Const | Kind::Volatile | Kind::Restrict => {
                let q = match t.kind {
                    Kind::Const => "const",
                    Kind::Volatile => "volatile",
                    _ => "restrict",
                };
                let target = t.target().unwrap_or(0);
                let target_is_ptr = self
                    .type_by_id(target)
                    .is_some_and(|tt| tt.kind == Kind::Ptr);
                if target_is_ptr {
                    self.declare(target, join(q, &inner), depth + 1, budget)
                } else {
                    format!("{q} {}", self.declare(target, inner, depth + 1, budget))
                }
            }
            Kind::TypeTag | Kind::DeclTag => {
                self.declare(t.target().unwrap_or(0), inner, depth + 1, budget)
            }
            Kind::FuncProto => {
                let mut params: Vec<String> = self
                    .params(t)
                    .map(|p| {
                        if p.ty == 0 && p.name.is_empty() {
                            "...".to_string()
                        } else {
                            self.declare(p.ty, String::new(), depth + 1, budget)
                        }
                    })
                    .collect();
                if params.is_empty() {
                    params.push("void".into());
                }
                let ret = t.target().unwrap_or(0);
                let inner = format!("{}({})", paren(&inner), params.join(", "));
                self.declare(ret, inner, depth + 1, budget)
            }
            Kind::Func => {
                let proto = t.target().unwrap_or(0);
                let inner = if inner.is_empty() {
                    t.name().to_string()
                } else {
                    inner
                };
                self.declare(proto, inner, depth + 1, budget)
            }
            Kind::Var => self.declare(t.target().unwrap_or(0), inner, depth + 1, budget),
            Kind::Datasec => join(&format!("SEC {}", t.name()), &inner),
        }
    }

    /// Finds the type the user named: `task_struct` (a typedef or base type of that name,
    /// else a struct, union or enum tag), `struct task_struct`, `union thread_union`,
    /// `enum pid_type`, base types in any C spelling (`unsigned long`, `long unsigned int`),
    /// qualifiers (ignored), and pointer and array declarators (`struct list_head *`,
    /// `char [16]`, `char *[4]`).
    pub fn find(&self, text: &str) -> Result<CType, BtfError> {
        let bad = |why: &str| BtfError::BadTypeName {
            name: text.to_string(),
            why: why.to_string(),
        };
        // Split into words and the declarator suffix.
        let split = text.find(['*', '[']).unwrap_or(text.len());
        let (base_text, suffix) = text.split_at(split);
        let words: Vec<&str> = base_text
            .split_whitespace()
            .filter(|w| !QUALIFIERS.contains(w))
            .collect();
        let decl = parse_declarators(suffix).map_err(|why| bad(&why.to_string()))?;
        let base = match words.as_slice() {
            [] => return Err(bad("no type name")),
            [tag @ ("struct" | "union" | "enum"), name] => {
                let ns = match *tag {
                    "struct" => Namespace::Struct,
                    "union" => Namespace::Union,
                    _ => Namespace::Enum,
                };
                self.lookup(ns, name)
                    .ok_or_else(|| BtfError::UnknownType(format!("{tag} {name}")))?
            }
            ["struct" | "union" | "enum"] => return Err(bad("a tag needs a name")),
            ["void"] => 0,
            ws if ws.iter().all(|w| BASE_WORDS.contains(w)) => base_type_spellings(ws)
                .iter()
                .find_map(|s| self.lookup(Namespace::Ordinary, s))
                .ok_or_else(|| BtfError::UnknownType(ws.join(" ")))?,
            [name] => {
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(bad("not a C identifier"));
                }
                [
                    Namespace::Ordinary,
                    Namespace::Struct,
                    Namespace::Union,
                    Namespace::Enum,
                ]
                .iter()
                .find_map(|ns| self.lookup(*ns, name))
                .ok_or_else(|| BtfError::UnknownType(name.to_string()))?
            }
            _ => return Err(bad("too many words")),
        };
        Ok(CType { base, decl })
    }
}

/// Why the declarator suffix of a type name (`*`, `[N]`) does not parse.
#[derive(Debug, thiserror::Error)]
enum DeclaratorError {
    #[error("no closing ']'")]
    Unclosed,
    #[error("bad array length '{0}'")]
    BadLength(String),
    #[error("unexpected '{0}'")]
    Unexpected(String),
    #[error("too many declarators")]
    TooDeep,
}

/// `* const *[4][2]` → `[Pointer, Pointer, Array(2), Array(4)]` (from the base outwards).
fn parse_declarators(text: &str) -> Result<Vec<Declarator>, DeclaratorError> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while let Some(r) = rest.strip_prefix('*') {
        out.push(Declarator::Pointer);
        rest = r.trim_start();
        for q in QUALIFIERS {
            if let Some(r) = rest.strip_prefix(q) {
                rest = r.trim_start();
            }
        }
    }
    let mut dims = Vec::new();
    while let Some(r) = rest.strip_prefix('[') {
        let (n, r) = r.split_once(']').ok_or(DeclaratorError::Unclosed)?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| DeclaratorError::BadLength(n.trim().to_string()))?;
        dims.push(Declarator::Array(n));
        rest = r.trim_start();
    }
    if !rest.is_empty() {
        return Err(DeclaratorError::Unexpected(rest.to_string()));
    }
    if out.len() + dims.len() > MAX_DEPTH {
        return Err(DeclaratorError::TooDeep);
    }
    out.extend(dims.into_iter().rev());
    Ok(out)
}

/// Splits a dcmd's words into a type name and the words after it: `struct NAME` is two
/// words, C base types take every keyword (`unsigned long`), and words made of `*` and `[N]`
/// that follow belong to the type (`struct list_head *`, `char [16]`). Leading qualifiers are
/// kept with the type.
pub fn split_type_words<'w, 's>(words: &'s [&'w str]) -> (String, &'s [&'w str]) {
    let mut n = words.iter().take_while(|w| QUALIFIERS.contains(w)).count();
    match words.get(n) {
        None => {}
        Some(&("struct" | "union" | "enum")) => n = (n + 2).min(words.len()),
        Some(w) if BASE_WORDS.contains(w) => {
            n += words
                .get(n..)
                .unwrap_or_default()
                .iter()
                .take_while(|w| BASE_WORDS.contains(w) || QUALIFIERS.contains(w))
                .count();
        }
        Some(_) => n += 1,
    }
    n += words
        .get(n..)
        .unwrap_or_default()
        .iter()
        .take_while(|w| w.starts_with(['*', '[']) || QUALIFIERS.contains(w))
        .count();
    let n = n.min(words.len());
    let (ty, rest) = words.split_at(n);
    (ty.join(" "), rest)
}
