//! Numbers as mdb writes them, and C escapes.

/// Why a number token does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// A digit outside the radix (or no digit at all).
    #[error("bad {radix} number '{text}'")]
    BadDigit { radix: &'static str, text: String },
    /// The value needs more than 64 bits.
    #[error("number '{0}' does not fit in 64 bits")]
    Overflow(String),
}

/// For callers that keep messages as strings (the dcmd parser's usage and syntax errors).
impl From<NumberError> for String {
    fn from(e: NumberError) -> String {
        e.to_string()
    }
}

/// Parses a whole number token with mdb's radix rules: `0x` hex, `0t` decimal, `0o` octal,
/// `0i` binary, hex without a prefix; `_` may separate digits after the first.
pub fn parse_number(text: &str) -> Result<u64, NumberError> {
    let lower = text.to_ascii_lowercase();
    let (radix, digits, name) = match lower.get(..2) {
        Some("0x") => (16, text.get(2..).unwrap_or(""), "hexadecimal"),
        Some("0t") => (10, text.get(2..).unwrap_or(""), "decimal"),
        Some("0o") => (8, text.get(2..).unwrap_or(""), "octal"),
        Some("0i") => (2, text.get(2..).unwrap_or(""), "binary"),
        _ => (16, text, "hexadecimal"),
    };
    let bad = || NumberError::BadDigit {
        radix: name,
        text: text.to_string(),
    };
    let mut chars = digits.chars();
    match chars.next() {
        Some(c) if c.is_digit(radix) => {}
        _ => return Err(bad()),
    }
    let mut value: u64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix).ok_or_else(bad)?;
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or_else(|| NumberError::Overflow(text.to_string()))?;
    }
    Ok(value)
}

/// One C escape after a backslash, as mdb accepts in double quotes and character constants.
pub fn unescape(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'0' => 0,
        b'a' => 7,
        b'b' => 8,
        b'f' => 12,
        b'v' => 11,
        b'e' => 27,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_radix() {
        assert_eq!(parse_number("ffff"), Ok(0xffff));
        assert_eq!(parse_number("0x10"), Ok(0x10));
        assert_eq!(parse_number("0X1f"), Ok(0x1f));
        assert_eq!(parse_number("0t10"), Ok(10));
        assert_eq!(parse_number("0o17"), Ok(0o17));
        assert_eq!(parse_number("0i101"), Ok(5));
        assert_eq!(parse_number("0b1"), Ok(0xb1));
        assert_eq!(parse_number("ffff_ffff"), Ok(0xffff_ffff));
        assert_eq!(parse_number("ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_number("0t18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn bad_numbers_are_errors() {
        assert_eq!(
            parse_number("12g").map_err(String::from),
            Err("bad hexadecimal number '12g'".into())
        );
        assert_eq!(
            parse_number("0t1a").map_err(String::from),
            Err("bad decimal number '0t1a'".into())
        );
        assert_eq!(
            parse_number("0o8").map_err(String::from),
            Err("bad octal number '0o8'".into())
        );
        assert_eq!(
            parse_number("0i2").map_err(String::from),
            Err("bad binary number '0i2'".into())
        );
        assert_eq!(
            parse_number("0x").map_err(String::from),
            Err("bad hexadecimal number '0x'".into())
        );
        assert_eq!(
            parse_number("10000000000000000").map_err(String::from),
            Err("number '10000000000000000' does not fit in 64 bits".into())
        );
        assert_eq!(
            parse_number("0t18446744073709551616").map_err(String::from),
            Err("number '0t18446744073709551616' does not fit in 64 bits".into())
        );
    }
}
