//! mdb's format characters: one table drives the parser, `/` display, `=` values and
//! `::formats`.
//!
//! Meanings and sizes are mdb's (`usr/src/cmd/mdb/common/mdb/mdb_fmt.c` in illumos). Layout is
//! qmdb's: every display line starts with its address label and holds at most 16 bytes of
//! data, values left-aligned in columns as wide as the widest value of their format (mdb pads
//! to 8 or 16 columns and lets the terminal width decide where lines break).

pub mod display;
mod layout;
pub mod render;
pub mod value;

pub use display::display;
pub use value::format_value;

/// How a format character renders what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Unsigned hexadecimal, no leading zeros.
    Hex,
    /// Signed decimal.
    Dec,
    /// Unsigned decimal.
    UDec,
    /// Unsigned octal; `alt` adds a leading `0` (C's `%#o`).
    Oct {
        alt: bool,
    },
    /// Signed octal; `alt` adds a leading `0`.
    SOct {
        alt: bool,
    },
    /// Unsigned binary.
    Bin,
    /// IEEE float of the item's size, in exponent notation.
    Float,
    /// Hexadecimal of the byte-swapped value.
    Swap,
    /// A character: printable ASCII as itself, anything else escaped.
    Char,
    /// A character in C notation (backslash and quotes escaped too).
    CharC,
    /// A NUL-terminated string, non-printable bytes escaped.
    Str,
    /// A NUL-terminated string in C notation.
    StrC,
    /// A pointer as `symbol+offset`, or hex when no symbol is known.
    Symbol,
    /// Dot as a label (`symbol+offset:`); reads nothing.
    Dot,
    Newline,
    Tab,
    Space,
    /// Moves dot forward by the count.
    Plus,
    /// Moves dot back by the count.
    Minus,
    /// A disassembled instruction; moves dot past it.
    Instr,
    /// Known to mdb but not to qmdb yet; the text says why.
    Unsupported(&'static str),
}

/// One format character.
#[derive(Debug, PartialEq, Eq)]
pub struct FormatDef {
    pub ch: char,
    pub kind: Kind,
    /// Bytes one item reads; 0 for variable-size items and items that read nothing.
    pub size: usize,
    /// Columns of the widest rendering (values are padded to it; characters, `c` and `C`,
    /// are joined without padding).
    pub width: usize,
    /// Items of this format on one line; divides 16.
    pub per_line: usize,
    /// mdb's description, as `::formats` prints it.
    pub desc: &'static str,
}

impl FormatDef {
    /// Why this format cannot be used yet, if it cannot.
    pub fn unsupported(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Unsupported(why) => Some(why),
            _ => None,
        }
    }

    /// The share of a 16-unit line one item takes.
    pub fn units(&self) -> usize {
        16usize.checked_div(self.per_line).unwrap_or(0)
    }

    /// `(8 bytes)`, `(1 byte)`, `(variable size)` or nothing, as `::formats` says.
    pub fn size_note(&self) -> &'static str {
        match (self.kind, self.size) {
            (Kind::Str | Kind::StrC, _) => " (variable size)",
            (_, 1) => " (1 byte)",
            (_, 2) => " (2 bytes)",
            (_, 4) => " (4 bytes)",
            (_, 8) => " (8 bytes)",
            _ => "",
        }
    }

    /// Whether the items are numbers that can go down a pipe as addresses.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.kind,
            Kind::Hex
                | Kind::Dec
                | Kind::UDec
                | Kind::Oct { .. }
                | Kind::SOct { .. }
                | Kind::Bin
                | Kind::Swap
                | Kind::Symbol
        )
    }

    /// Whether one item reads `size` bytes of data.
    pub fn reads_fixed(&self) -> bool {
        self.size > 0
    }
}

/// One element of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatItem {
    /// A format character with its repeat count (`4X`); for `+` and `-` the count is the
    /// number of bytes to move.
    Fmt { def: &'static FormatDef, count: u64 },
    /// Quoted literal text.
    Text(String),
}

const fn def(
    ch: char,
    kind: Kind,
    size: usize,
    width: usize,
    per_line: usize,
    desc: &'static str,
) -> FormatDef {
    FormatDef {
        ch,
        kind,
        size,
        width,
        per_line,
        desc,
    }
}

/// Every format character qmdb knows, in `::formats` order.
pub static FORMATS: &[FormatDef] = &[
    def('+', Kind::Plus, 0, 0, 0, "increment dot by the count"),
    def('-', Kind::Minus, 0, 0, 0, "decrement dot by the count"),
    def('B', Kind::Hex, 1, 2, 16, "hexadecimal int"),
    def(
        'C',
        Kind::CharC,
        1,
        4,
        16,
        "character using C character notation",
    ),
    def('D', Kind::Dec, 4, 11, 4, "decimal signed int"),
    def('E', Kind::UDec, 8, 20, 2, "decimal unsigned long long"),
    def('F', Kind::Float, 8, 24, 2, "double"),
    def(
        'G',
        Kind::Oct { alt: false },
        8,
        22,
        2,
        "octal unsigned long long",
    ),
    def('H', Kind::Swap, 4, 8, 4, "swap bytes and shorts"),
    def(
        'I',
        Kind::Instr,
        0,
        0,
        0,
        "address and disassembled instruction",
    ),
    def('J', Kind::Hex, 8, 16, 2, "hexadecimal long long"),
    def('K', Kind::Hex, 8, 16, 2, "hexadecimal uintptr_t"),
    def('N', Kind::Newline, 0, 0, 0, "newline"),
    def('O', Kind::Oct { alt: true }, 4, 12, 4, "octal unsigned int"),
    def('P', Kind::Symbol, 8, 16, 2, "symbol"),
    def('Q', Kind::SOct { alt: true }, 4, 13, 4, "octal signed int"),
    def('R', Kind::Bin, 8, 64, 1, "binary unsigned long long"),
    def('S', Kind::StrC, 0, 0, 0, "string using C string notation"),
    def('T', Kind::Tab, 0, 0, 0, "horizontal tab"),
    def('U', Kind::UDec, 4, 10, 4, "decimal unsigned int"),
    def('V', Kind::UDec, 1, 3, 8, "decimal unsigned int"),
    def('X', Kind::Hex, 4, 8, 4, "hexadecimal int"),
    def('a', Kind::Dot, 0, 16, 0, "dot as symbol+offset"),
    def('b', Kind::Oct { alt: true }, 1, 4, 8, "octal unsigned int"),
    def('c', Kind::Char, 1, 4, 16, "character"),
    def('d', Kind::Dec, 2, 6, 8, "decimal signed short"),
    def('e', Kind::Dec, 8, 20, 2, "decimal signed long long"),
    def('f', Kind::Float, 4, 14, 2, "float"),
    def(
        'g',
        Kind::SOct { alt: false },
        8,
        23,
        2,
        "octal signed long long",
    ),
    def('h', Kind::Swap, 2, 4, 8, "swap bytes"),
    def('i', Kind::Instr, 0, 0, 0, "disassembled instruction"),
    def('n', Kind::Newline, 0, 0, 0, "newline"),
    def(
        'o',
        Kind::Oct { alt: true },
        2,
        7,
        4,
        "octal unsigned short",
    ),
    def('p', Kind::Symbol, 8, 16, 2, "symbol"),
    def('q', Kind::SOct { alt: true }, 2, 8, 4, "octal signed short"),
    def('r', Kind::Space, 0, 0, 0, "whitespace"),
    def('s', Kind::Str, 0, 0, 0, "raw string"),
    def('t', Kind::Tab, 0, 0, 0, "horizontal tab"),
    def('u', Kind::UDec, 2, 5, 8, "decimal unsigned short"),
    def('x', Kind::Hex, 2, 4, 8, "hexadecimal short"),
];

/// The format character `ch`.
pub fn lookup(ch: char) -> Option<&'static FormatDef> {
    FORMATS.iter().find(|d| d.ch == ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for d in FORMATS {
            assert!(seen.insert(d.ch), "duplicate format {}", d.ch);
            assert!(!d.desc.is_empty());
            if d.size > 0 {
                assert!(matches!(d.size, 1 | 2 | 4 | 8), "{}", d.ch);
                assert!(matches!(d.per_line, 1 | 2 | 4 | 8 | 16), "{}", d.ch);
                assert!(d.size * d.per_line <= 16, "{} overflows 16 bytes", d.ch);
                assert!(d.width > 0, "{}", d.ch);
                // A full line of values fits 80 columns after a 24-column label.
                let joined = matches!(d.kind, Kind::Char | Kind::CharC);
                let cols = d.per_line * (d.width + 1) - 1;
                // Characters are joined, and only escaped ones take more than a column; a
                // 64-digit binary value is alone on its line.
                if !joined && d.per_line > 1 {
                    assert!(24 + cols <= 80, "{} lines are {} wide", d.ch, 24 + cols);
                }
            }
            let line = format!("{} - {}{}", d.ch, d.desc, d.size_note());
            assert!(line.len() <= 79, "{line}");
        }
        assert_eq!(lookup('K').map(|d| d.size), Some(8));
        assert!(lookup('w').is_none());
        assert_eq!(lookup('i').map(|d| d.kind), Some(Kind::Instr));
    }
}
