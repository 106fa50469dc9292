//! Rendering one item's bytes as text.

use super::Kind;

/// The little-endian value of up to 8 bytes.
pub fn le_value(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .rev()
        .fold(0u64, |v, &b| (v << 8) | u64::from(b))
}

/// `v`, `size` bytes wide, sign-extended.
pub fn sign_extend(v: u64, size: usize) -> i64 {
    match size {
        1 => i64::from(v as u8 as i8),
        2 => i64::from(v as u16 as i16),
        4 => i64::from(v as u32 as i32),
        _ => v as i64,
    }
}

fn octal(v: u64, alt: bool) -> String {
    if alt && v != 0 {
        format!("0{v:o}")
    } else {
        format!("{v:o}")
    }
}

/// Renders a numeric item of `size` bytes (`Hex`, `Dec`, ..., `Float`, `Swap`). Other kinds
/// render as hex.
pub fn number(kind: Kind, size: usize, bytes: &[u8]) -> String {
    let v = le_value(bytes);
    match kind {
        Kind::Dec => sign_extend(v, size).to_string(),
        Kind::UDec => v.to_string(),
        Kind::Oct { alt } => octal(v, alt),
        Kind::SOct { alt } => {
            let s = sign_extend(v, size);
            if s < 0 {
                format!("-{}", octal(s.unsigned_abs(), alt))
            } else {
                octal(v, alt)
            }
        }
        Kind::Bin => format!("{v:b}"),
        Kind::Float => match size {
            4 => format!("{:e}", f32::from_bits(v as u32)),
            _ => format!("{:e}", f64::from_bits(v)),
        },
        Kind::Swap => match size {
            2 => format!("{:x}", (v as u16).swap_bytes()),
            _ => format!("{:x}", (v as u32).swap_bytes()),
        },
        _ => format!("{v:x}"),
    }
}

/// One byte as text: printable ASCII as itself, the usual C escapes, else `\ooo`. In C
/// notation (`c_notation`) backslash and double quote are escaped too.
pub fn escape_byte(b: u8, c_notation: bool, out: &mut String) {
    match b {
        b'\n' => out.push_str("\\n"),
        b'\t' => out.push_str("\\t"),
        b'\r' => out.push_str("\\r"),
        0 => out.push_str("\\0"),
        7 => out.push_str("\\a"),
        8 => out.push_str("\\b"),
        11 => out.push_str("\\v"),
        12 => out.push_str("\\f"),
        b'\\' if c_notation => out.push_str("\\\\"),
        b'"' if c_notation => out.push_str("\\\""),
        0x20..=0x7e => out.push(b as char),
        _ => out.push_str(&format!("\\{b:03o}")),
    }
}

/// Bytes as text, escaped as [`escape_byte`] does.
pub fn escape(bytes: &[u8], c_notation: bool) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        escape_byte(b, c_notation, &mut s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_like_printf() {
        assert_eq!(number(Kind::Hex, 4, &[0x7f, 0x45, 0x4c, 0x46]), "464c457f");
        assert_eq!(number(Kind::Hex, 8, &[0; 8]), "0");
        assert_eq!(number(Kind::Dec, 4, &[0xff; 4]), "-1");
        assert_eq!(number(Kind::Dec, 2, &[0x00, 0x80]), "-32768");
        assert_eq!(number(Kind::UDec, 4, &[0xff; 4]), "4294967295");
        assert_eq!(number(Kind::Oct { alt: true }, 4, &[8, 0, 0, 0]), "010");
        assert_eq!(number(Kind::Oct { alt: true }, 4, &[0; 4]), "0");
        assert_eq!(
            number(Kind::Oct { alt: false }, 8, &[8, 0, 0, 0, 0, 0, 0, 0]),
            "10"
        );
        assert_eq!(number(Kind::SOct { alt: true }, 2, &[0xff, 0xff]), "-01");
        assert_eq!(
            number(Kind::SOct { alt: false }, 8, &[0xf8; 8]),
            "-34070160340701603410"
        );
        assert_eq!(number(Kind::Bin, 8, &[5, 0, 0, 0, 0, 0, 0, 0]), "101");
        assert_eq!(number(Kind::Swap, 2, &[0x12, 0x34]), "1234");
        assert_eq!(number(Kind::Swap, 4, &[0x12, 0x34, 0x56, 0x78]), "12345678");
        assert_eq!(number(Kind::Float, 4, &1.5f32.to_le_bytes()), "1.5e0");
        assert_eq!(number(Kind::Float, 8, &(-0.25f64).to_le_bytes()), "-2.5e-1");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape(b"Linux\n\x01\xff\\\"", false),
            "Linux\\n\\001\\377\\\""
        );
        assert_eq!(escape(b"a\\\"", true), "a\\\\\\\"");
    }
}
