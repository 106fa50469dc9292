//! Decoding the tables once they are found: the token table, name entries, addresses.

use super::layout::{
    AddressEncoding, KallsymsError, Layout, Table, KSYM_NAME_LEN, MARKER_STRIDE, MAX_SYMBOLS,
    TOKENS,
};
use super::reader::Rodata;
use crate::symbol::Symbol;

/// A byte that may appear in a token: printable ASCII without the space.
pub(crate) fn token_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// The 256 tokens of `kallsyms_token_table`, each checked to be printable.
#[derive(Debug, Clone)]
pub(crate) struct Tokens<'a> {
    /// Printable ASCII, so also valid `str`s.
    tokens: Vec<&'a str>,
    /// Offset of each token from the start of the table (what `kallsyms_token_index` holds).
    starts: Vec<usize>,
    /// The table's extent in `.rodata`.
    pub start: usize,
    pub end: usize,
}

impl<'a> Tokens<'a> {
    /// Parses 256 NUL-terminated tokens at `start`.
    pub fn parse(ro: Rodata<'a>, start: usize) -> Result<Tokens<'a>, KallsymsError> {
        let mut tokens = Vec::with_capacity(TOKENS);
        let mut starts = Vec::with_capacity(TOKENS);
        let mut off = start;
        for i in 0..TOKENS {
            // A token expands to at most a whole name.
            let window = ro
                .get_bytes(off, (KSYM_NAME_LEN + 1).min(ro.len().saturating_sub(off)))
                .ok_or(KallsymsError::Truncated {
                    table: Table::TokenTable,
                    offset: off,
                    len: 1,
                })?;
            // One pass: the first byte that is not printable must be the NUL.
            let len = window.iter().take_while(|&&b| token_byte(b)).count();
            // `len` counts bytes of `window`: the split is in range.
            let (token, rest) = window.split_at_checked(len).unwrap_or((window, &[]));
            match rest.first() {
                Some(0) => {}
                Some(&b) => {
                    return Err(KallsymsError::corrupt(
                        Table::TokenTable,
                        off + len,
                        format!("token {i} holds the unprintable byte {b:#04x}"),
                    ))
                }
                None if window.len() <= KSYM_NAME_LEN => {
                    return Err(KallsymsError::Truncated {
                        table: Table::TokenTable,
                        offset: off,
                        len: window.len() + 1,
                    })
                }
                None => {
                    return Err(KallsymsError::corrupt(
                        Table::TokenTable,
                        off,
                        format!("token {i} is longer than {KSYM_NAME_LEN} bytes"),
                    ))
                }
            }
            let token = std::str::from_utf8(token).map_err(|_| {
                KallsymsError::corrupt(Table::TokenTable, off, format!("token {i} is not text"))
            })?;
            starts.push(off - start);
            tokens.push(token);
            off += len + 1;
        }
        Ok(Tokens {
            tokens,
            starts,
            start,
            end: off,
        })
    }

    /// The expansion of token `t`.
    pub fn get(&self, t: u8) -> &'a [u8] {
        self.str(t).as_bytes()
    }

    /// The expansion of token `t`, as text.
    pub fn str(&self, t: u8) -> &'a str {
        self.tokens.get(usize::from(t)).copied().unwrap_or("")
    }

    /// The first character token `t` expands to.
    pub fn first_char(&self, t: u8) -> Option<u8> {
        self.get(t).first().copied()
    }

    /// Where token `i` starts in `.rodata`.
    pub fn token_at(&self, i: usize) -> Option<usize> {
        self.starts.get(i).map(|&s| self.start + s)
    }

    /// Whether tokens 48..57 are the single digits, as for every real table.
    pub fn has_digit_tokens(&self) -> bool {
        (0..10u8).all(|d| self.get(b'0' + d) == [b'0' + d])
    }

    /// The `kallsyms_token_index` that belongs to this table, as bytes; `None` if an offset
    /// does not fit a u16.
    pub fn index_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(TOKENS * 2);
        for &s in &self.starts {
            out.extend_from_slice(&u16::try_from(s).ok()?.to_le_bytes());
        }
        Some(out)
    }

    /// Checks `kallsyms_token_index` at `at` against the token table.
    pub fn check_index(&self, ro: Rodata<'_>, at: usize) -> Result<(), KallsymsError> {
        for (i, &s) in self.starts.iter().enumerate() {
            let off = at + 2 * i;
            let v = ro.u16(Table::TokenIndex, off)?;
            if usize::from(v) != s {
                return Err(KallsymsError::corrupt(
                    Table::TokenIndex,
                    off,
                    format!(
                        "entry {i} is {v:#x}, but token {i} starts at {s:#x} in the token table"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The token bytes of the `kallsyms_names` entry at `off`: where they start and how many.
/// `None` if the entry is implausible or runs past the end (used by scans).
pub(crate) fn entry_at(ro: Rodata<'_>, off: usize) -> Option<(usize, usize)> {
    let l = ro.get_u8(off)?;
    let (start, len) = if l & 0x80 == 0 {
        (off + 1, usize::from(l))
    } else {
        let h = ro.get_u8(off + 1)?;
        let len = usize::from(l & 0x7f) | (usize::from(h) << 7);
        // scripts/kallsyms only uses two bytes for lengths above 0x7f.
        if len <= 0x7f {
            return None;
        }
        (off + 2, len)
    };
    if len == 0 || len > KSYM_NAME_LEN || start + len > ro.len() {
        return None;
    }
    Some((start, len))
}

/// Like [`entry_at`], with an error saying what is wrong with entry `index`.
pub(crate) fn entry(
    ro: Rodata<'_>,
    off: usize,
    index: usize,
) -> Result<(usize, usize), KallsymsError> {
    let l = ro.u8(Table::Names, off)?;
    let (start, len) = if l & 0x80 == 0 {
        (off + 1, usize::from(l))
    } else {
        let h = ro.u8(Table::Names, off + 1)?;
        (off + 2, usize::from(l & 0x7f) | (usize::from(h) << 7))
    };
    if len == 0 || len > KSYM_NAME_LEN {
        return Err(KallsymsError::corrupt(
            Table::Names,
            off,
            format!("entry {index} has length {len} (1..={KSYM_NAME_LEN} expected)"),
        ));
    }
    ro.bytes(Table::Names, start, len)?;
    Ok((start, len))
}

/// The offset just past `count` entries starting at `off`, if they are all plausible.
pub(crate) fn walk(ro: Rodata<'_>, mut off: usize, count: usize) -> Option<usize> {
    for _ in 0..count {
        let (start, len) = entry_at(ro, off)?;
        off = start + len;
    }
    Some(off)
}

/// The type letter of the entry whose tokens start at `start`, if it is a letter.
pub(crate) fn entry_kind(ro: Rodata<'_>, tokens: &Tokens<'_>, start: usize) -> Option<u8> {
    let c = tokens.first_char(ro.get_u8(start)?)?;
    c.is_ascii_alphabetic().then_some(c)
}

/// Expands entry `index` (tokens at `start..start+len`): its type letter and name.
fn expand(
    ro: Rodata<'_>,
    tokens: &Tokens<'_>,
    off: usize,
    index: usize,
    (start, len): (usize, usize),
) -> Result<(char, String), KallsymsError> {
    let corrupt = |why: String| KallsymsError::corrupt(Table::Names, off, why);
    let codes = ro.bytes(Table::Names, start, len)?;
    let total: usize = codes.iter().map(|&t| tokens.str(t).len()).sum();
    if total > KSYM_NAME_LEN {
        return Err(corrupt(format!(
            "entry {index} expands to {total} characters, more than {KSYM_NAME_LEN}"
        )));
    }
    let mut name = String::with_capacity(total.saturating_sub(1));
    let mut kind = None;
    for &t in codes {
        let s = tokens.str(t);
        match kind {
            Some(_) => name.push_str(s),
            None => {
                if let Some(c) = s.chars().next() {
                    kind = Some(c);
                    name.push_str(&s[c.len_utf8()..]);
                }
            }
        }
    }
    match kind {
        Some(c) if !c.is_ascii_alphabetic() => Err(corrupt(format!(
            "entry {index} starts with {c:?}, not an nm type letter"
        ))),
        None => Err(corrupt(format!("entry {index} expands to nothing"))),
        Some(_) if name.is_empty() => Err(corrupt(format!(
            "entry {index} has a type letter but no name"
        ))),
        Some(c) => Ok((c, name)),
    }
}

/// The symbols of a layout, and whether a name used the two-byte length form.
pub(crate) struct Decoded {
    pub symbols: Vec<Symbol>,
    pub big_lengths: bool,
}

/// Decodes every symbol of a located layout, checking the markers against the names and
/// that the addresses are sorted.
pub(crate) fn decode_layout(ro: Rodata<'_>, layout: &Layout) -> Result<Decoded, KallsymsError> {
    let tokens = Tokens::parse(ro, layout.token_table.start)?;
    tokens.check_index(ro, layout.token_index.start)?;
    if let Some(at) = layout.relative_base_at {
        let stored = ro.u64(Table::RelativeBase, at)?;
        if Some(stored) != layout.encoding.relative_base() {
            return Err(KallsymsError::corrupt(
                Table::RelativeBase,
                at,
                format!("holds {stored:#x}, not the base of {}", layout.encoding),
            ));
        }
    }
    if layout.num_syms > MAX_SYMBOLS {
        return Err(KallsymsError::TooManySymbols {
            offset: layout.num_syms_at,
            count: layout.num_syms,
            max: MAX_SYMBOLS,
        });
    }
    let n = layout.num_syms as usize;
    let stored = ro.u32(Table::NumSyms, layout.num_syms_at)?;
    if stored != layout.num_syms {
        return Err(KallsymsError::corrupt(
            Table::NumSyms,
            layout.num_syms_at,
            format!("holds {stored}, not {}", layout.num_syms),
        ));
    }
    let mut symbols = Vec::with_capacity(n);
    let mut off = layout.names.start;
    let offsets = ro.bytes(Table::Offsets, layout.offsets.start, n.saturating_mul(4))?;
    let table_addr = ro.link(layout.offsets.start);
    let mut prev_addr = 0u64;
    let mut big_lengths = false;
    // `offsets` is 4n bytes: no remainder.
    for (i, &value) in offsets.as_chunks::<4>().0.iter().enumerate() {
        if i % MARKER_STRIDE == 0 {
            let at = layout.markers.start + 4 * (i / MARKER_STRIDE);
            let marker = ro.u32(Table::Markers, at)? as usize;
            if layout.names.start + marker != off {
                return Err(KallsymsError::corrupt(
                    Table::Markers,
                    at,
                    format!(
                        "marker {} is {marker:#x}, but entry {i} starts at {:#x} in kallsyms_names",
                        i / MARKER_STRIDE,
                        off - layout.names.start
                    ),
                ));
            }
        }
        let span = entry(ro, off, i)?;
        big_lengths |= span.0 - off == 2;
        let (kind, name) = expand(ro, &tokens, off, i, span)?;
        let value = u32::from_le_bytes(value);
        let addr = layout.encoding.address(table_addr, i, value);
        if addr < prev_addr {
            return Err(KallsymsError::corrupt(
                Table::Offsets,
                layout.offsets.start + 4 * i,
                format!(
                    "entry {i} decodes to {addr:#x}, below the previous symbol's {prev_addr:#x}"
                ),
            ));
        }
        prev_addr = addr;
        symbols.push(Symbol { name, addr, kind });
        off = span.0 + span.1;
    }
    if off != layout.names.end {
        return Err(KallsymsError::corrupt(
            Table::Names,
            off,
            format!(
                "the {n} entries end at {:#x}, not at the table's end {:#x}",
                off - layout.names.start,
                layout.names.end - layout.names.start
            ),
        ));
    }
    Ok(Decoded {
        symbols,
        big_lengths,
    })
}

/// Reads the address of entry `i` of `kallsyms_offsets` at `table` (for scans).
pub(crate) fn address_at(
    ro: Rodata<'_>,
    encoding: AddressEncoding,
    table: usize,
    i: usize,
) -> Option<(u64, bool)> {
    let v = ro.get_u32(table.checked_add(i.checked_mul(4)?)?)?;
    Some((
        encoding.address(ro.link(table), i, v),
        encoding.is_absolute(v),
    ))
}
