//! `::printf`: members of a structure formatted with a C format string, as mdb's
//! `::printf "fmt" TYPE MEMBER...`. Members are found by name in the kernel's BTF.

use super::print::kernel_types;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::PrintfText;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::types::Kind;
use qmdb_kernel::number::unescape;
use qmdb_linux::object::member_place;

pub const PRINTF: DcmdDef = DcmdDef {
    name: "printf",
    aliases: &[],
    usage: "?format [type member ...]",
    description: "print members of a structure with a C format",
    help: "Formats the members of struct TYPE at the address (given, piped in, or
dot), one member per conversion, as mdb's ::printf:

  init_task::printf \"%s %d\\n\" task_struct comm pid
  ::walk thread | ::printf \"%p %-16s %d\\n\" task_struct . comm pid

Conversions: %d %i (signed), %u, %x %X, %o, %c, %s (a char array, or a
char pointer followed), %p (hex), %a (symbol+offset), %%; flags - 0 # +
and space, a width and a .precision; length letters (l, ll, h, hh, z)
are accepted (h and hh cut the value). A member is a path as ::print
takes it (se.vruntime, comm[0]); '.' is the address itself. TYPE may be
written 'struct NAME'. C escapes (\\n, \\t) work in the format. Output
ends each ::printf at a line end; JSON gives {addr, text}.",
    run,
};

/// The most bytes read of one member (a `char[]` for `%s`), and of a string followed.
const MAX_STRING: usize = 4096;
/// The widest field a width or precision can ask for.
const MAX_WIDTH: usize = 1024;

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let Some((fmt, rest)) = inv.args.split_first() else {
        return Err(inv.usage_error("missing format"));
    };
    let pieces = parse_format(&unescape_all(&fmt.text)).map_err(|m| inv.usage_error(m))?;
    let convs = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Conv(_)))
        .count();
    let words: Vec<&str> = rest.iter().map(|a| a.text.as_str()).collect();
    let (ty, members) = match words.as_slice() {
        [] => (None, &[][..]),
        ["struct", name, members @ ..] => (Some(*name), members),
        [name, members @ ..] => (Some(*name), members),
    };
    if members.len() != convs {
        return Err(inv.usage_error(format!(
            "the format has {convs} conversion(s) and {} member(s) were given",
            members.len()
        )));
    }
    let mut values = Vec::with_capacity(members.len());
    for m in members {
        values.push(fetch(session, &cmd, ty, m, inv.addr)?);
    }
    let mut text = String::new();
    let mut vals = values.iter();
    for piece in &pieces {
        match piece {
            Piece::Lit(s) => text.push_str(s),
            Piece::Conv(spec) => {
                let v = vals
                    .next()
                    .ok_or_else(|| inv.usage_error("too few members"))?;
                let s = convert(session, spec, v).map_err(|m| {
                    DcmdError::usage(&cmd, format!("%{}: {} {m}", spec.conv, v.path))
                })?;
                text.push_str(&s);
            }
        }
    }
    if sink.pipe_out() {
        for l in (PrintfText {
            addr: inv.addr.0,
            text,
        })
        .lines_of()
        {
            sink.line(&l);
        }
        sink.addr(inv.addr);
    } else {
        sink.record(PrintfText {
            addr: inv.addr.0,
            text,
        });
    }
    Ok(())
}

/// A piece of a format: text, or a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Conv(Spec),
}

/// A conversion: `%[flags][width][.precision][length]conv`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Spec {
    left: bool,
    zero: bool,
    alt: bool,
    plus: bool,
    space: bool,
    width: usize,
    precision: Option<usize>,
    /// Bits kept by `h` (16) or `hh` (8); 0 for all.
    cut: u32,
    conv: char,
}

/// C escapes in a format (single-quoted arguments keep them as typed).
fn unescape_all(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'\\' {
            if let Some(c) = bytes.next() {
                out.push(unescape(c));
                continue;
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_format(f: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            lit.push('%');
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&c) = chars.peek() {
            match c {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '#' => spec.alt = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars)?.unwrap_or(0);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars)?.unwrap_or(0));
        }
        let mut hs = 0;
        while let Some(&c) = chars.peek() {
            match c {
                'h' => hs += 1,
                'l' | 'L' | 'q' | 'j' | 'z' | 't' => {}
                _ => break,
            }
            chars.next();
        }
        spec.cut = match hs {
            0 => 0,
            1 => 16,
            _ => 8,
        };
        let conv = chars
            .next()
            .ok_or_else(|| "the format ends in the middle of a conversion".to_string())?;
        if !"diuxXocspa".contains(conv) {
            return Err(format!("unknown conversion '%{conv}'"));
        }
        spec.conv = conv;
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Conv(spec));
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Option<usize>, String> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        let v = n.unwrap_or(0) * 10 + d as usize;
        if v > MAX_WIDTH {
            return Err(format!("a width or precision over {MAX_WIDTH}"));
        }
        n = Some(v);
    }
    if chars.peek() == Some(&'*') {
        return Err("'*' widths are not supported".to_string());
    }
    Ok(n)
}

/// A member's value as read.
#[derive(Debug)]
struct Value {
    path: String,
    /// Its value when it is an integer or pointer (up to 8 bytes, or a bitfield).
    num: Option<u64>,
    /// Its width in bits.
    bits: u32,
    kind: Kind,
    /// Its bytes (up to [`MAX_STRING`]).
    bytes: Vec<u8>,
}

/// Reads member `path` of struct `ty` at `addr` (`.` is `addr` itself).
fn fetch(
    session: &mut Session,
    cmd: &str,
    ty: Option<&str>,
    path: &str,
    addr: VirtAddr,
) -> Result<Value, DcmdError> {
    if path == "." {
        return Ok(Value {
            path: ".".to_string(),
            num: Some(addr.0),
            bits: 64,
            kind: Kind::Ptr,
            bytes: Vec::new(),
        });
    }
    let ty = ty.ok_or_else(|| DcmdError::usage(cmd, "missing type"))?;
    let btf = kernel_types(session, cmd)?;
    let sname = ty.strip_prefix("struct ").unwrap_or(ty);
    let place = member_place(&btf, sname, path).map_err(|e| DcmdError::from(e).in_command(cmd))?;
    let kind = btf.resolved(place.ty).map(|t| t.kind).unwrap_or(Kind::Void);
    let at = addr.add(place.offset);
    let what = format!("{sname}.{path}");
    if place.bits > 0 {
        let span = (u64::from(place.bit) + u64::from(place.bits))
            .div_ceil(8)
            .min(8);
        let bytes = session.read_bytes(at, span as usize, Some(&what))?;
        let raw = le(&bytes) >> place.bit;
        let num = if place.bits >= 64 {
            raw
        } else {
            raw & ((1u64 << place.bits) - 1)
        };
        return Ok(Value {
            path: path.to_string(),
            num: Some(num),
            bits: place.bits,
            kind,
            bytes,
        });
    }
    let len = usize::try_from(place.size)
        .unwrap_or(MAX_STRING)
        .min(MAX_STRING);
    let bytes = session.read_bytes(at, len, Some(&what))?;
    let num = matches!(place.size, 1 | 2 | 4 | 8).then(|| le(&bytes));
    Ok(Value {
        path: path.to_string(),
        num,
        bits: u32::try_from(place.size.saturating_mul(8)).unwrap_or(u32::MAX),
        kind,
        bytes,
    })
}

fn le(b: &[u8]) -> u64 {
    b.iter()
        .take(8)
        .enumerate()
        .fold(0u64, |v, (i, &x)| v | (u64::from(x) << (8 * i)))
}

/// `v` sign-extended from `bits`.
fn signed(v: u64, bits: u32) -> i64 {
    if bits == 0 || bits >= 64 {
        v as i64
    } else {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }
}

/// One conversion of `v`; the error says what is wrong with the member.
fn convert(session: &mut Session, spec: &Spec, v: &Value) -> Result<String, String> {
    let number = || {
        v.num.ok_or_else(|| {
            format!(
                "is {} bytes, not a number",
                v.bytes.len().max((v.bits / 8) as usize)
            )
        })
    };
    let bits = if spec.cut == 0 { v.bits } else { spec.cut };
    let cut = |n: u64| {
        if bits >= 64 {
            n
        } else {
            n & ((1u64 << bits) - 1)
        }
    };
    let (sign, body, prefix) = match spec.conv {
        'd' | 'i' => {
            let n = signed(cut(number()?), bits);
            let sign = if n < 0 {
                "-"
            } else if spec.plus {
                "+"
            } else if spec.space {
                " "
            } else {
                ""
            };
            (sign, n.unsigned_abs().to_string(), "")
        }
        'u' => ("", cut(number()?).to_string(), ""),
        'x' => {
            let n = cut(number()?);
            (
                "",
                format!("{n:x}"),
                if spec.alt && n != 0 { "0x" } else { "" },
            )
        }
        'X' => {
            let n = cut(number()?);
            (
                "",
                format!("{n:X}"),
                if spec.alt && n != 0 { "0X" } else { "" },
            )
        }
        'o' => {
            let n = cut(number()?);
            (
                "",
                format!("{n:o}"),
                if spec.alt && n != 0 { "0" } else { "" },
            )
        }
        'p' => ("", format!("{:x}", number()?), ""),
        'a' => {
            return Ok(pad(
                spec,
                "",
                &session.symbolize(VirtAddr(number()?)),
                "",
                false,
            ))
        }
        'c' => {
            let c = char::from((cut(number()?) & 0xff) as u8);
            return Ok(pad(spec, "", &c.to_string(), "", false));
        }
        's' => {
            let s = string(session, v)?;
            let s: String = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            return Ok(pad(spec, "", &s, "", false));
        }
        other => return Err(format!("unknown conversion '%{other}'")),
    };
    // A precision on an integer is its least number of digits.
    let body = match spec.precision {
        Some(p) if body.len() < p => format!("{}{body}", "0".repeat(p - body.len())),
        _ => body,
    };
    Ok(pad(spec, sign, &body, prefix, spec.precision.is_none()))
}

/// `%s` of a member: a `char[]` up to its NUL, or the string a pointer points to.
fn string(session: &mut Session, v: &Value) -> Result<String, String> {
    match v.kind {
        Kind::Array => {
            let end = v
                .bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(v.bytes.len());
            Ok(String::from_utf8_lossy(v.bytes.get(..end).unwrap_or_default()).into_owned())
        }
        Kind::Ptr if v.path != "." => {
            let p = v.num.unwrap_or(0);
            if p == 0 {
                return Ok("(null)".to_string());
            }
            qmdb_linux::object::read_cstring(session.program_mut(), VirtAddr(p), MAX_STRING)
                .map_err(|e| format!("points to no string: {e}"))
        }
        _ => Err("is not a char array or pointer".to_string()),
    }
}

/// `body` with its sign and prefix, padded to the width: on the left, or on the right
/// with `-`, or with zeros after the sign and prefix with `0` (numbers only).
fn pad(spec: &Spec, sign: &str, body: &str, prefix: &str, zero_ok: bool) -> String {
    let len = sign.len() + prefix.len() + body.chars().count();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        format!("{sign}{prefix}{body}{}", " ".repeat(fill))
    } else if spec.zero && zero_ok {
        format!("{sign}{prefix}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{prefix}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_into_text_and_conversions() {
        let p = parse_format("a %-16s %08lx %% %hhd\n").unwrap();
        assert_eq!(p.len(), 7);
        assert_eq!(p[0], Piece::Lit("a ".into()));
        match &p[1] {
            Piece::Conv(s) => {
                assert!(s.left);
                assert_eq!((s.width, s.conv), (16, 's'));
            }
            other => panic!("{other:?}"),
        }
        match &p[3] {
            Piece::Conv(s) => assert!(s.zero && s.width == 8 && s.conv == 'x'),
            other => panic!("{other:?}"),
        }
        assert_eq!(p[4], Piece::Lit(" % ".into()));
        match &p[5] {
            Piece::Conv(s) => assert_eq!((s.cut, s.conv), (8, 'd')),
            other => panic!("{other:?}"),
        }
        assert!(parse_format("%").is_err());
        assert!(parse_format("%q").is_err());
        assert!(parse_format("%w").is_err());
        assert!(parse_format("%*d").is_err());
        assert!(parse_format("%99999d").is_err());
        assert_eq!(unescape_all("a\\tb\\n"), "a\tb\n");
    }

    #[test]
    fn padding_follows_c() {
        let spec = |f: &str| match parse_format(f).unwrap().remove(0) {
            Piece::Conv(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(pad(&spec("%5d"), "-", "3", "", true), "   -3");
        assert_eq!(pad(&spec("%05d"), "-", "3", "", true), "-0003");
        assert_eq!(pad(&spec("%-5d"), "", "3", "", true), "3    ");
        assert_eq!(pad(&spec("%#08x"), "", "ff", "0x", true), "0x0000ff");
        assert_eq!(signed(0xffff_ffff, 32), -1);
        assert_eq!(signed(0x7, 3), -1);
        assert_eq!(signed(0x3, 3), 3);
    }
}
