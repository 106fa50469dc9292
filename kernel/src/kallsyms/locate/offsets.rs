//! Finding and checking `kallsyms_offsets` (and `kallsyms_relative_base` up to 6.19) once the
//! names are known: the encodings of each era, against what the sections allow.

use super::*;

/// What the sections say about plausible addresses.
struct Bounds<'s> {
    exec: Vec<&'s SectionRange>,
    /// The lowest and highest address of the image (allocated sections, at non-zero
    /// addresses: 6.1–6.14 link `.data..percpu` at 0).
    span: Option<(u64, u64)>,
}

impl<'s> Bounds<'s> {
    fn new(sections: &'s [SectionRange]) -> Self {
        let real: Vec<_> = sections
            .iter()
            .filter(|s| s.addr != 0 && s.size != 0)
            .collect();
        let span = real
            .iter()
            .map(|s| s.addr)
            .min()
            .zip(real.iter().map(|s| s.addr.saturating_add(s.size)).max());
        Bounds {
            exec: real.iter().copied().filter(|s| s.exec).collect(),
            span,
        }
    }

    fn in_exec(&self, a: u64) -> bool {
        self.exec.iter().any(|s| s.holds_inclusive(a))
    }

    fn in_span(&self, a: u64) -> bool {
        self.span.is_none_or(|(lo, hi)| a >= lo && a <= hi)
    }
}

/// Finds `kallsyms_offsets` for the names: where the layouts put it, under the encodings
/// those layouts used. Returns its offset, its encoding and where `kallsyms_relative_base`
/// is (for the encodings with a base).
pub(super) fn find_offsets(
    ro: Rodata<'_>,
    sections: &[SectionRange],
    tokens: &Tokens<'_>,
    names: &Names,
    token_index_end: usize,
) -> Result<(usize, AddressEncoding, Option<usize>), KallsymsError> {
    let n = names.n as usize;
    let size = 4 * n;
    let Some(kinds) = kinds(ro, tokens, names.at, n) else {
        return Err(KallsymsError::corrupt(
            Table::Names,
            names.at,
            format!("the {n} entries do not all start with a type letter"),
        ));
    };
    // (offsets, where a relative base would be): after the token index (6.4+), with the
    // base 8-aligned after the offsets (6.4-6.19) or none (7.0+, "kallsyms: Get rid of
    // kallsyms relative base"); or (up to 6.3) ending before the base, which is right
    // before the count.
    let mut candidates: Vec<(usize, Option<usize>)> = Vec::new();
    let mut add = |c| {
        if !candidates.contains(&c) {
            candidates.push(c);
        }
    };
    for a in ALIGNS {
        let at = ro.align_up(token_index_end, a);
        add((at, Some(ro.align_up(at.saturating_add(size), 8))));
        add((at, None));
    }
    if let Some(base_at) = names.num_syms_at.checked_sub(8) {
        for pad in [0, 4] {
            if let Some(at) = base_at.checked_sub(size + pad) {
                if ro.align_up(at + size, 8) == base_at {
                    add((at, Some(base_at)));
                }
            }
        }
    }
    let bounds = Bounds::new(sections);
    let mut reasons = Vec::new();
    let mut first = None;
    for (at, base_at) in candidates {
        if !ro.aligned(at, 4) || at.checked_add(size).is_none_or(|end| end > ro.len()) {
            continue;
        }
        first.get_or_insert(at);
        let encodings = match base_at {
            None => vec![AddressEncoding::PcRelative],
            Some(b) => match ro.get_u64(b) {
                Some(relative_base) if relative_base != 0 => vec![
                    AddressEncoding::AbsolutePercpu { relative_base },
                    AddressEncoding::BaseRelative { relative_base },
                ],
                _ => continue,
            },
        };
        for encoding in encodings {
            match check_offsets(ro, &bounds, &kinds, at, encoding) {
                Ok(()) => {
                    return Ok((
                        at,
                        encoding,
                        base_at.filter(|_| encoding.relative_base().is_some()),
                    ))
                }
                Err(why) => {
                    if reasons.len() < MAX_REASONS {
                        reasons.push(format!("at .rodata+{at:#x} as {encoding}: {why}"));
                    }
                }
            }
        }
    }
    Err(KallsymsError::NotFoundNear {
        table: Table::Offsets,
        offset: first.unwrap_or(token_index_end),
        why: if reasons.is_empty() {
            format!("{n} entries do not fit in .rodata where the layouts put them")
        } else {
            reasons.join("; ")
        },
    })
}

/// Why a candidate `kallsyms_offsets` is not the table scripts/kallsyms wrote (entry
/// indices count from the candidate's start).
#[derive(Debug, thiserror::Error)]
enum Mismatch {
    #[error("the first entry is {0:#x}, not 0 (the base is the first symbol)")]
    FirstNotZero(u32),
    #[error(
        "the first relative entry is {0:#x}, not -1 (the base is the first symbol that is \
         not per-CPU)"
    )]
    FirstRelativeNotMinusOne(u32),
    #[error("no entry is relative")]
    NoRelative,
    #[error("entry {index} is past the end of .rodata")]
    PastEnd { index: usize },
    #[error("entry {index} decodes to {addr:#x}, below the previous symbol's {prev:#x}")]
    Unsorted { index: usize, addr: u64, prev: u64 },
    #[error("entry {index} is absolute ({addr:#x}) but typed {kind:?}, not 'A'")]
    AbsoluteNotA { index: usize, addr: u64, kind: char },
    #[error("{outside} of {sampled} sampled addresses lie outside the image")]
    OutsideImage { outside: usize, sampled: usize },
    #[error("{outside} of {text} sampled text symbols lie outside executable sections")]
    TextOutsideExec { outside: usize, text: usize },
    #[error("only {wide} of {addresses} symbols are 8 bytes or more past the previous one")]
    Crowded { wide: usize, addresses: usize },
}

/// Whether the n values at `x` decode, under `encoding`, to the symbol table
/// scripts/kallsyms would have written; if not, why.
fn check_offsets(
    ro: Rodata<'_>,
    bounds: &Bounds<'_>,
    kinds: &[u8],
    x: usize,
    encoding: AddressEncoding,
) -> Result<(), Mismatch> {
    let value = |i: usize| ro.get_u32(x + 4 * i).unwrap_or(0);
    // The base is chosen so that the first symbol (6.15+), or the first symbol that is not
    // an absolute per-CPU one (up to 6.14), is at offset 0 (encoded as -1 in the latter).
    match encoding {
        AddressEncoding::BaseRelative { .. } if value(0) != 0 => {
            return Err(Mismatch::FirstNotZero(value(0)))
        }
        AddressEncoding::AbsolutePercpu { .. } => {
            match (0..kinds.len()).map(value).find(|&v| (v as i32) < 0) {
                Some(u32::MAX) => {}
                Some(v) => return Err(Mismatch::FirstRelativeNotMinusOne(v)),
                None => return Err(Mismatch::NoRelative),
            }
        }
        _ => {}
    }
    let percpu = matches!(encoding, AddressEncoding::AbsolutePercpu { .. });
    // Sections are checked on about SAMPLES symbols spread over the table.
    let stride = (kinds.len() / SAMPLES).max(1);
    let mut prev = 0u64;
    let mut prev_addr: Option<u64> = None;
    let (mut addresses, mut wide) = (0usize, 0usize);
    let (mut sampled, mut outside) = (0usize, 0usize);
    let (mut text, mut text_outside) = (0usize, 0usize);
    for (i, &kind) in kinds.iter().enumerate() {
        let Some((a, abs)) = address_at(ro, encoding, x, i) else {
            return Err(Mismatch::PastEnd { index: i });
        };
        if a < prev {
            return Err(Mismatch::Unsorted {
                index: i,
                addr: a,
                prev,
            });
        }
        // With absolute per-CPU symbols, scripts/kallsyms types those `A`.
        if percpu && abs && !matches!(kind, b'A' | b'a') {
            return Err(Mismatch::AbsoluteNotA {
                index: i,
                addr: a,
                kind: char::from(kind),
            });
        }
        if !abs {
            addresses += 1;
            if i % stride == 0 {
                sampled += 1;
                outside += usize::from(!bounds.in_span(a));
                if matches!(kind, b't' | b'T') && !bounds.exec.is_empty() {
                    text += 1;
                    text_outside += usize::from(!bounds.in_exec(a));
                }
            }
            if prev_addr.is_some_and(|p| a - p >= MIN_GAP) {
                wide += 1;
            }
            prev_addr = Some(a);
        }
        prev = a;
    }
    // A few odd symbols are allowed (7.2 types `__end_rodata` 'T' past .rodata's end), a
    // table of some other data is not.
    if outside > sampled / 4 {
        return Err(Mismatch::OutsideImage { outside, sampled });
    }
    if text_outside > text / 4 {
        return Err(Mismatch::TextOutsideExec {
            outside: text_outside,
            text,
        });
    }
    // A kernel's symbols are spread out: 95% of them start at least 8 bytes after the
    // previous one. This turns away constant arrays, which decode to one address or
    // (place-relative) to addresses 4 bytes apart, when no sections rule them out.
    if wide < addresses / 2 {
        return Err(Mismatch::Crowded { wide, addresses });
    }
    Ok(())
}
