//! Decoding an object's bytes into a [`Value`] tree, as `::print` shows it.
//!
//! The decoder is given the object's readable bytes; anything it needs beyond them (the string
//! behind a `char *`, a symbol for a pointer) it asks of a [`Memory`]. Parts of the object that
//! could not be read become [`Value::Unreadable`]; bad type information becomes
//! [`Value::Bad`]: both print inline and never stop the rest. Depth, array lengths, strings and
//! the total number of values are capped ([`Options`]).

use super::names::{CType, Declarator};
use super::types::{IntInfo, Kind, Type};
use super::{Btf, TypeId, MAX_DEPTH, POINTER_SIZE};

/// What the decoder may read besides the object itself.
pub trait Memory {
    /// Errors that must stop the command (a lost connection, an interrupt); faults are not
    /// errors: they give a shorter result.
    type Error;
    /// The readable prefix of `[addr, addr+len)`.
    fn read(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, Self::Error>;
    /// `symbol` or `symbol+0x10` for an address inside a known symbol.
    fn symbol(&self, _addr: u64) -> Option<String> {
        None
    }
}

/// A [`Memory`] with nothing in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMemory;

impl Memory for NoMemory {
    type Error = std::convert::Infallible;
    fn read(&mut self, _addr: u64, _len: usize) -> Result<Vec<u8>, Self::Error> {
        Ok(Vec::new())
    }
}

/// Limits and choices of a decode.
#[derive(Debug, Clone)]
pub struct Options {
    /// Decode values (false: only the layout of types, for `::print` without an address).
    pub values: bool,
    /// Structs, unions and arrays nested deeper print as `{ ... }` / `[ ... ]` (mdb's `-s`).
    pub max_depth: usize,
    /// Elements of an array shown before `...` (mdb's `-l`).
    pub array_limit: usize,
    /// Characters of a string shown before `...`.
    pub string_limit: usize,
    /// Pointers into symbols as `symbol+off` (mdb's default; `-n` turns it off).
    pub symbolic: bool,
    /// Values decoded in all before the rest is cut (`...`).
    pub max_values: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            values: true,
            max_depth: MAX_DEPTH,
            array_limit: 16,
            string_limit: 256,
            symbolic: true,
            max_values: 50_000,
        }
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer or bitfield: `raw` holds the bits (sign-extended when `signed`).
    Int {
        raw: u64,
        signed: bool,
        /// Bits of the value.
        width: u32,
        /// Print as a character (`'a'`).
        char: bool,
        bitfield: bool,
    },
    /// A 128-bit integer (`__int128`), which does not fit [`Value::Int`].
    Int128 {
        raw: u128,
        signed: bool,
    },
    Float(f64),
    Pointer {
        addr: u64,
        /// `symbol+off` when the address is in a symbol (and symbolic output is on).
        symbol: Option<String>,
        /// The string a `char *` points to, when readable and printable.
        string: Option<String>,
    },
    Enum {
        raw: u64,
        signed: bool,
        /// The enumerator, `A|B` for flags, or `???`.
        name: String,
        /// All enumerators are powers of two: print in hex.
        flags: bool,
    },
    /// A struct or union: its members in order (anonymous ones with an empty name).
    Composite {
        fields: Vec<Field>,
    },
    /// An array's first elements; `total` is its length.
    Array {
        elems: Vec<Field>,
        total: u64,
        /// Elements are structs, unions or arrays: one per line.
        composite: bool,
    },
    /// A character array holding a printable string.
    Str(String),
    /// Bytes of the object that could not be read.
    Unreadable {
        addr: u64,
        len: u64,
    },
    /// A struct or union past the depth limit: `{ ... }`.
    ElidedComposite,
    /// An array past the depth limit: `[ ... ]`.
    ElidedArray,
    /// Past the limit on values.
    Omitted,
    /// An incomplete type: `struct foo` known only by a forward declaration.
    Forward(String),
    /// A function (not data).
    Function,
    /// Nothing to print: `void`, or a scalar when only the layout is wanted.
    Empty,
    /// The type information is bad here; says why.
    Bad(String),
}

/// A value with its name and place: a member, an array element, or the printed object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Empty for the root, array elements and anonymous members.
    pub name: String,
    /// As C declares it (`struct list_head *`).
    pub type_name: String,
    /// From the start of the decoded object.
    pub bit_offset: u64,
    /// Bytes the field occupies (0 when unknown).
    pub size: u64,
    /// Width of a bitfield; 0 otherwise.
    pub bitfield: u32,
    pub value: Value,
}

/// Decodes values of one object.
pub struct Decoder<'a, M: Memory> {
    btf: &'a Btf,
    mem: &'a mut M,
    opts: &'a Options,
    /// The object's address.
    base: u64,
    /// The readable prefix of the object.
    bytes: &'a [u8],
    values: usize,
    /// Whether [`Options::max_values`] cut the output.
    pub truncated: bool,
}

/// Whether an INT prints as a character (mdb: an 8-bit signed char).
fn is_char(info: &IntInfo, name: &str) -> bool {
    info.size == 1 && info.bits == 8 && (info.char || info.signed || name == "char")
}

/// mdb's printable-string test: printable ASCII, tab, newline, carriage return.
fn printable(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
}

/// The bytes before the first NUL as a string, cut at `limit` characters (then `...`).
fn c_string(bytes: &[u8], limit: usize) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0)?;
    let s = bytes.get(..end)?;
    if !printable(s) {
        return None;
    }
    let text = String::from_utf8_lossy(s);
    if text.len() > limit {
        Some(format!("{}...", text.get(..limit).unwrap_or_default()))
    } else {
        Some(text.into_owned())
    }
}

impl<'a, M: Memory> Decoder<'a, M> {
    /// A decoder for the object at `base` whose readable bytes are `bytes`.
    pub fn new(
        btf: &'a Btf,
        mem: &'a mut M,
        opts: &'a Options,
        base: u64,
        bytes: &'a [u8],
    ) -> Decoder<'a, M> {
        Decoder {
            btf,
            mem,
            opts,
            base,
            bytes,
            values: 0,
            truncated: false,
        }
    }

    /// The object itself, of type `ct`, starting `bit_offset` bits into the bytes (a bitfield
    /// of width `bitfield` when nonzero), named `name`.
    pub fn root(
        &mut self,
        ct: &CType,
        name: &str,
        bit_offset: u64,
        bitfield: u32,
    ) -> Result<Field, M::Error> {
        let value = match ct.plain() {
            Some(id) => self.value(id, bit_offset, bitfield, 0)?,
            None => self.derived(ct, ct.decl.len(), bit_offset, 0)?,
        };
        Ok(Field {
            name: name.to_string(),
            type_name: self.btf.ctype_name(ct),
            bit_offset,
            size: self.btf.size_of_ctype(ct).unwrap_or(0),
            bitfield,
            value,
        })
    }

    /// The value of `ct` with only its first `n` declarators applied.
    fn derived(
        &mut self,
        ct: &CType,
        n: usize,
        bit_off: u64,
        depth: usize,
    ) -> Result<Value, M::Error> {
        let sub = |k: usize| CType {
            base: ct.base,
            decl: ct.decl.get(..k).unwrap_or_default().to_vec(),
        };
        let Some(k) = n.checked_sub(1) else {
            return self.value(ct.base, bit_off, 0, depth);
        };
        if !self.opts.values {
            return Ok(Value::Empty);
        }
        if !self.count() {
            return Ok(Value::Omitted);
        }
        let pointee_char = k == 0 && self.char_type(ct.base);
        match ct.decl.get(k) {
            Some(Declarator::Pointer) => self.pointer(bit_off, pointee_char),
            Some(Declarator::Array(len)) => {
                let elem_ct = sub(k);
                let elem_size = match self.btf.size_of_ctype(&elem_ct) {
                    Ok(s) => s,
                    Err(e) => return Ok(Value::Bad(e.to_string())),
                };
                let composite = match k.checked_sub(1).and_then(|j| ct.decl.get(j)) {
                    Some(inner) => matches!(inner, Declarator::Array(_)),
                    None => self.composite(ct.base),
                };
                let elem_name = self.btf.ctype_name(&elem_ct);
                self.array(
                    bit_off,
                    u64::from(*len),
                    elem_size,
                    pointee_char,
                    composite,
                    &elem_name,
                    depth,
                    |d, off, depth| d.derived(&elem_ct, k, off, depth),
                )
            }
            None => Ok(Value::Empty),
        }
    }

    /// Counts one value; false once over the limit.
    fn count(&mut self) -> bool {
        self.values += 1;
        if self.values > self.opts.max_values {
            self.truncated = true;
            return false;
        }
        true
    }

    fn char_type(&self, id: TypeId) -> bool {
        self.btf
            .resolved(id)
            .ok()
            .and_then(|t| t.int().map(|i| is_char(&i, t.name())))
            .unwrap_or(false)
    }

    fn composite(&self, id: TypeId) -> bool {
        self.btf
            .resolved(id)
            .is_ok_and(|t| matches!(t.kind, Kind::Struct | Kind::Union | Kind::Array))
    }

    /// `len` bytes at `bit_off` (byte-aligned part), or why not.
    fn slice(&self, bit_off: u64, len: u64) -> Result<&'a [u8], Value> {
        let start = bit_off / 8;
        let unreadable = Value::Unreadable {
            addr: self.base.wrapping_add(start),
            len,
        };
        let s = usize::try_from(start).map_err(|_| unreadable.clone())?;
        let n = usize::try_from(len).map_err(|_| unreadable.clone())?;
        let bytes: &'a [u8] = self.bytes;
        s.checked_add(n)
            .and_then(|e| bytes.get(s..e))
            .ok_or(unreadable)
    }

    /// A little-endian unsigned value of `size` (at most 8) bytes at `bit_off`.
    fn uint(&self, bit_off: u64, size: u64) -> Result<u64, Value> {
        let b = self.slice(bit_off, size)?;
        Ok(b.iter()
            .take(8)
            .rev()
            .fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }

    /// `width` (at most 64) bits at `bit_off`.
    fn bits(&self, bit_off: u64, width: u32) -> Result<u64, Value> {
        let shift = bit_off % 8;
        let nbytes = (shift + u64::from(width)).div_ceil(8);
        if width == 0 || width > 64 || nbytes > 16 {
            return Err(Value::Bad(format!("bad bitfield width {width}")));
        }
        let b = self.slice(bit_off - shift, nbytes)?;
        let all = b.iter().rev().fold(0u128, |v, &x| (v << 8) | u128::from(x));
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        Ok(((all >> shift) as u64) & mask)
    }

    /// A member, array element or anonymous member at `bit_off`.
    fn field(
        &mut self,
        name: &str,
        ty: TypeId,
        bit_off: u64,
        bitfield: u32,
        depth: usize,
    ) -> Result<Field, M::Error> {
        let value = self.value(ty, bit_off, bitfield, depth)?;
        Ok(Field {
            name: name.to_string(),
            type_name: self.btf.type_name(ty),
            bit_offset: bit_off,
            size: self.btf.size_of(ty).unwrap_or(0),
            bitfield,
            value,
        })
    }

    /// The value of type `ty` at `bit_off` (a bitfield of width `bitfield` when nonzero).
    pub fn value(
        &mut self,
        ty: TypeId,
        bit_off: u64,
        bitfield: u32,
        depth: usize,
    ) -> Result<Value, M::Error> {
        if !self.count() {
            return Ok(Value::Omitted);
        }
        if depth > MAX_DEPTH {
            return Ok(Value::Bad(format!(
                "type {ty} nests deeper than {MAX_DEPTH}"
            )));
        }
        let t = match self.btf.resolved(ty) {
            Ok(t) => t,
            Err(e) => return Ok(Value::Bad(e.to_string())),
        };
        if !self.opts.values {
            return match t.kind {
                Kind::Struct | Kind::Union => self.composite_value(t, bit_off, depth),
                _ => Ok(Value::Empty),
            };
        }
        Ok(match t.kind {
            Kind::Int => self.int(t, bit_off, bitfield).unwrap_or_else(|v| v),
            Kind::Ptr => {
                let pointee = t.target().unwrap_or(0);
                return self.pointer(bit_off, self.char_type(pointee));
            }
            Kind::Enum | Kind::Enum64 => self.enumeration(t, bit_off).unwrap_or_else(|v| v),
            Kind::Float => {
                let size = u64::from(t.size().unwrap_or(0));
                match self.uint(bit_off, size) {
                    Ok(raw) if size == 4 => Value::Float(f64::from(f32::from_bits(raw as u32))),
                    Ok(raw) if size == 8 => Value::Float(f64::from_bits(raw)),
                    // x86's long double: the 80-bit x87 format, padded to 12 or 16 bytes.
                    Ok(_) if matches!(size, 10 | 12 | 16) => match self.slice(bit_off, 10) {
                        Ok(b) => Value::Float(x87_to_f64(b)),
                        Err(v) => v,
                    },
                    Ok(_) => Value::Bad(format!("{}-byte floats are not supported", size)),
                    Err(v) => v,
                }
            }
            Kind::Struct | Kind::Union => return self.composite_value(t, bit_off, depth),
            Kind::Array => return self.array_value(t, bit_off, depth),
            Kind::Fwd => Value::Forward(self.btf.type_name(t.id)),
            Kind::Func | Kind::FuncProto => Value::Function,
            Kind::Void => Value::Empty,
            Kind::Var => {
                let target = t.target().unwrap_or(0);
                return self.value(target, bit_off, bitfield, depth + 1);
            }
            other => Value::Bad(format!("cannot print a {}", other.as_str())),
        })
    }

    fn int(&self, t: Type<'_>, bit_off: u64, bitfield: u32) -> Result<Value, Value> {
        let info = t.int().ok_or_else(|| Value::Bad("bad INT record".into()))?;
        if bitfield == 0 && info.size == 16 && info.bits == 128 && bit_off.is_multiple_of(8) {
            let b = self.slice(bit_off, 16)?;
            let raw = b.iter().rev().fold(0u128, |v, &x| (v << 8) | u128::from(x));
            return Ok(Value::Int128 {
                raw,
                signed: info.signed,
            });
        }
        let whole = u32::from(info.bits) == info.size.saturating_mul(8)
            && matches!(info.size, 1 | 2 | 4 | 8)
            && info.offset == 0;
        let (raw, width, is_bitfield) = if bitfield == 0 && whole && bit_off.is_multiple_of(8) {
            (
                self.uint(bit_off, u64::from(info.size))?,
                u32::from(info.bits),
                false,
            )
        } else {
            let width = if bitfield > 0 {
                bitfield
            } else {
                u32::from(info.bits)
            };
            let off = if bitfield > 0 {
                bit_off
            } else {
                bit_off + u64::from(info.offset)
            };
            (self.bits(off, width)?, width, true)
        };
        let raw = if info.signed && width > 0 && width < 64 {
            let s = 64 - width;
            (((raw << s) as i64) >> s) as u64
        } else {
            raw
        };
        Ok(Value::Int {
            raw,
            signed: info.signed,
            width,
            char: !is_bitfield && is_char(&info, t.name()),
            bitfield: is_bitfield,
        })
    }

    fn pointer(&mut self, bit_off: u64, to_char: bool) -> Result<Value, M::Error> {
        let addr = match self.uint(bit_off, POINTER_SIZE) {
            Ok(a) => a,
            Err(v) => return Ok(v),
        };
        let symbol = if self.opts.symbolic && addr != 0 {
            self.mem.symbol(addr)
        } else {
            None
        };
        let string = if to_char && addr != 0 {
            let bytes = self.mem.read(addr, self.opts.string_limit + 1)?;
            match c_string(&bytes, self.opts.string_limit) {
                Some(s) => Some(s),
                None if bytes.len() > self.opts.string_limit && printable(&bytes) => {
                    let s = String::from_utf8_lossy(
                        bytes.get(..self.opts.string_limit).unwrap_or_default(),
                    );
                    Some(format!("{s}..."))
                }
                None => None,
            }
        } else {
            None
        };
        Ok(Value::Pointer {
            addr,
            symbol,
            string,
        })
    }

    fn enumeration(&self, t: Type<'_>, bit_off: u64) -> Result<Value, Value> {
        let size = t.size().unwrap_or(0);
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(Value::Bad(format!("enum of {size} bytes")));
        }
        let mut raw = self.uint(bit_off, u64::from(size))?;
        let signed = t.enum_signed();
        if signed && size < 8 {
            let s = 64 - size * 8;
            raw = (((raw << s) as i64) >> s) as u64;
        }
        let mask = if size == 8 {
            u64::MAX
        } else {
            (1u64 << (size * 8)) - 1
        };
        let values: Vec<(&str, u64)> = self.btf.enumerators(t).map(|e| (e.name, e.value)).collect();
        let flags = !values.is_empty()
            && values.iter().any(|(_, v)| *v & mask != 0)
            && values
                .iter()
                .all(|(_, v)| *v & mask == 0 || (*v & mask).is_power_of_two());
        let exact = values
            .iter()
            .find(|(_, v)| *v & mask == raw & mask)
            .map(|(n, _)| n.to_string());
        let name = match exact {
            Some(n) => n,
            None if flags => {
                let mut left = raw & mask;
                let mut names = Vec::new();
                for (n, v) in &values {
                    let v = *v & mask;
                    if v != 0 && left & v == v {
                        names.push(n.to_string());
                        left &= !v;
                    }
                }
                if left != 0 || names.is_empty() {
                    names.push(format!("{left:#x}"));
                }
                names.join("|")
            }
            None => "???".to_string(),
        };
        Ok(Value::Enum {
            raw,
            signed,
            name,
            flags,
        })
    }

    fn composite_value(
        &mut self,
        t: Type<'_>,
        bit_off: u64,
        depth: usize,
    ) -> Result<Value, M::Error> {
        if depth >= self.opts.max_depth.min(MAX_DEPTH) {
            return Ok(Value::ElidedComposite);
        }
        let mut fields = Vec::new();
        for m in self.btf.members(t) {
            let f = match self.btf.member_info(&m) {
                Ok(info) => self.field(
                    m.name,
                    info.ty,
                    bit_off + info.bit_offset,
                    info.bitfield_size,
                    depth + 1,
                )?,
                Err(e) => Field {
                    name: m.name.to_string(),
                    type_name: self.btf.type_name(m.ty),
                    bit_offset: bit_off + u64::from(m.bit_offset),
                    size: 0,
                    bitfield: m.bitfield_size,
                    value: Value::Bad(e.to_string()),
                },
            };
            let stop = matches!(f.value, Value::Omitted);
            fields.push(f);
            if stop {
                break;
            }
        }
        Ok(Value::Composite { fields })
    }

    fn array_value(&mut self, t: Type<'_>, bit_off: u64, depth: usize) -> Result<Value, M::Error> {
        let Some(a) = t.array() else {
            return Ok(Value::Bad("bad ARRAY record".into()));
        };
        let elem_size = match self.btf.size_of(a.elem) {
            Ok(s) => s,
            Err(e) => return Ok(Value::Bad(e.to_string())),
        };
        let to_char = self.char_type(a.elem);
        let composite = self.composite(a.elem);
        let elem_name = self.btf.type_name(a.elem);
        self.array(
            bit_off,
            u64::from(a.nelems),
            elem_size,
            to_char,
            composite,
            &elem_name,
            depth,
            |d, off, depth| d.value(a.elem, off, 0, depth),
        )
    }

    /// The string in the `total`-byte character array at byte `start`: up to its NUL, or all
    /// of it when it has none; `None` if unreadable or not printable.
    fn char_array(&self, start: u64, total: u64) -> Option<String> {
        let avail = self.bytes.get(usize::try_from(start).ok()?..)?;
        let n = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .min(avail.len());
        let window = avail.get(..n)?;
        let text = match window.iter().position(|&b| b == 0) {
            Some(p) => window.get(..p)?,
            None if n as u64 == total => window,
            None => return None,
        };
        if !printable(text) {
            return None;
        }
        let limit = self.opts.string_limit;
        let s = String::from_utf8_lossy(text);
        Some(if s.len() > limit {
            format!("{}...", s.get(..limit).unwrap_or_default())
        } else {
            s.into_owned()
        })
    }

    /// An array of `total` elements of `elem_size` bytes; `elem` decodes one.
    #[allow(clippy::too_many_arguments)]
    fn array(
        &mut self,
        bit_off: u64,
        total: u64,
        elem_size: u64,
        chars: bool,
        composite: bool,
        elem_name: &str,
        depth: usize,
        mut elem: impl FnMut(&mut Self, u64, usize) -> Result<Value, M::Error>,
    ) -> Result<Value, M::Error> {
        if chars && elem_size == 1 && bit_off.is_multiple_of(8) {
            if let Some(s) = self.char_array(bit_off / 8, total) {
                return Ok(Value::Str(s));
            }
        }
        if depth >= self.opts.max_depth.min(MAX_DEPTH) {
            return Ok(Value::ElidedArray);
        }
        let shown = total.min(self.opts.array_limit as u64);
        let mut elems = Vec::new();
        for i in 0..shown {
            let off = i
                .checked_mul(elem_size)
                .and_then(|b| b.checked_mul(8))
                .and_then(|b| b.checked_add(bit_off));
            let Some(off) = off else { break };
            let value = elem(self, off, depth + 1)?;
            let stop = matches!(value, Value::Omitted);
            elems.push(Field {
                name: String::new(),
                type_name: elem_name.to_string(),
                bit_offset: off,
                size: elem_size,
                bitfield: 0,
                value,
            });
            if stop {
                break;
            }
        }
        Ok(Value::Array {
            elems,
            total,
            composite,
        })
    }
}

/// An x87 80-bit extended float (64-bit mantissa with an explicit integer bit, 15-bit
/// exponent, sign), the nearest `f64`.
pub fn x87_to_f64(b: &[u8]) -> f64 {
    let mant = b
        .iter()
        .take(8)
        .rev()
        .fold(0u64, |v, &x| (v << 8) | u64::from(x));
    let se = u16::from(b.get(8).copied().unwrap_or(0))
        | (u16::from(b.get(9).copied().unwrap_or(0)) << 8);
    let sign = if se & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from(se & 0x7fff);
    if exp == 0x7fff {
        return if mant << 1 == 0 {
            sign * f64::INFINITY
        } else {
            f64::NAN
        };
    }
    if exp == 0 && mant == 0 {
        return sign * 0.0;
    }
    // value = mant / 2^63 * 2^(exp - 16383); denormals use exponent 1 - 16383.
    let e = if exp == 0 { 1 - 16383 } else { exp - 16383 } - 63;
    sign * (mant as f64) * 2f64.powi(e)
}
