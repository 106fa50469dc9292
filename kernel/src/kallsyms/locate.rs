//! Finding the kallsyms tables in `.rodata` of an image that has no symbols, by how
//! scripts/kallsyms lays them out (see `layout.rs` for the tables and their history).
//!
//! Every era writes the tables as one block, each behind a label aligned to 8 (64-bit
//! kernels up to 6.19) or 4 (7.0+), in one of three orders:
//!
//! | era | order |
//! |---|---|
//! | up to 6.3 | offsets, relative_base, num_syms, names, markers, (seqs_of_names: 6.2+ and 6.1.y), token_table, token_index |
//! | 6.4–6.19 | num_syms, names, markers, token_table, token_index, offsets, relative_base, seqs_of_names |
//! | 7.0+ | num_syms, names, markers, token_table, token_index, offsets, seqs_of_names (no relative_base) |
//!
//! So the search anchors on the one table that can be recognised on its own and walks
//! outward from it:
//!
//! 1. `kallsyms_token_table`: 256 printable NUL-terminated tokens whose 48..57 are the
//!    digits (every character used in a name is its own token), starting 4-aligned, with
//!    `kallsyms_token_index` (the 256 u16 offsets those tokens imply) at the next 4- or
//!    8-aligned offset after it. Found from each `"0\0" .. "9\0"` run by walking back 48
//!    tokens; the candidate starts differ only in where token 0 starts, so the tokens are
//!    parsed once and entry 1 of the index (the offset of token 1) says which start it is.
//! 2. `kallsyms_markers`: a u32 run rising from 0 by plausible sizes of 256 names (512 to
//!    131,584 bytes) that ends right before the token table, or (6.2–6.3) before a
//!    `kallsyms_seqs_of_names` of matching size. Found by walking back from the token table.
//! 3. `kallsyms_names` and `kallsyms_num_syms`: names end right before the markers and the
//!    count sits right before the names, so each 4-aligned start N below the markers is tried:
//!    the u32 before N must be a count the markers allow, the last group (from the last
//!    marker) must end exactly at the markers, and every group of 256 entries must run
//!    exactly from its marker to the next.
//! 4. `kallsyms_offsets`: n 32-bit values after the token index (6.4+) or before
//!    `kallsyms_relative_base` and the count (up to 6.3), under the encodings that era
//!    used. An encoding with a base must meet the base as scripts/kallsyms chooses it (the
//!    first symbol is at offset 0 in 6.15+; the first non-per-CPU symbol at -1 with absolute
//!    per-CPU symbols); every encoding must give sorted addresses, and (of about 64 symbols
//!    sampled) most text symbols in executable sections and most addresses inside the
//!    image, if sections are known. (Most, not all: 7.2 types `__end_rodata` `T` although it
//!    lies past the end of `.rodata`.)
//!
//! `kallsyms_seqs_of_names` (6.2+) is not needed to decode; it is looked for afterwards
//! (`find_seqs`) as a cross-check: a permutation of the symbols sorted by name.
//!
//! The work is bounded, and about linear for real images: one pass for the digit runs; from
//! each of at most [`MAX_ANCHORS`] token tables one backward pass (no farther than the
//! largest seqs_of_names) yielding at most [`MAX_MARKER_RUNS`] marker runs; for each run at
//! most 33k candidate name starts (the largest last group), nearly all rejected by one read
//! (the count); then a constant number of passes over the n symbols.

use super::decode::{address_at, entry_at, entry_kind, token_byte, walk, Tokens};
use super::layout::{
    AddressEncoding, KallsymsError, Layout, SectionRange, Table, KSYM_NAME_LEN, MARKER_STRIDE,
    MAX_GROUP_BYTES, MAX_SYMBOLS, MIN_GROUP_BYTES, TOKENS,
};
use super::reader::Rodata;
use std::ops::Range;

/// The digit tokens, "0" to "9", as they sit in the token table.
const DIGITS: &[u8] = b"0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00";
/// Caps on candidates tried at each step.
const MAX_DIGIT_HITS: usize = 64;
/// Token tables (with a matching index) walked out from; real images have one.
const MAX_ANCHORS: usize = 4;
const MAX_MARKER_RUNS: usize = 8;
/// How far a marker run may extend past the real markers (into a following
/// `kallsyms_seqs_of_names` whose first words happen to continue it).
const MAX_MARKER_TRIM: usize = 2;
/// The alignments of the table labels: `.balign 4` (7.0+, and 32-bit kernels) or
/// `.balign 8` (64-bit kernels up to 6.19).
const ALIGNS: [u64; 2] = [4, 8];
/// Symbols whose addresses are checked against the sections, per candidate table.
const SAMPLES: usize = 64;
/// Most symbols start at least this far after the previous one.
const MIN_GAP: u64 = 8;
/// Reasons kept for the error when no `kallsyms_offsets` candidate decodes.
const MAX_REASONS: usize = 3;

/// Finds the tables. `sections` are the image's allocated sections (empty if unknown:
/// then only the tables' own consistency checks the addresses).
pub(crate) fn locate(ro: Rodata<'_>, sections: &[SectionRange]) -> Result<Layout, KallsymsError> {
    let anchors = token_tables(ro);
    if anchors.is_empty() {
        return Err(KallsymsError::NotFound {
            table: Table::TokenTable,
            why: "no 256 printable tokens with \"0\"..\"9\" at 48..57 followed by a matching \
                  kallsyms_token_index",
        });
    }
    let mut last = None;
    for (tokens, index_at) in &anchors {
        match from_anchor(ro, sections, tokens, *index_at) {
            Ok(layout) => {
                tracing::debug!(?layout, "kallsyms tables found");
                return Ok(layout);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(KallsymsError::NotFound {
        table: Table::TokenTable,
        why: "no candidate",
    }))
}

/// The token tables in `.rodata`, each with the offset of its `kallsyms_token_index`.
///
/// The candidate starts for one digit run differ only in where token 0 starts, so the
/// tokens are parsed once, from the earliest start, and the index tells which start it
/// is: its entry 1 is the offset of token 1 from the table's start.
fn token_tables(ro: Rodata<'_>) -> Vec<(Tokens<'_>, usize)> {
    let mut out = Vec::new();
    for hit in memchr::memmem::find_iter(ro.data, DIGITS).take(MAX_DIGIT_HITS) {
        let starts = table_starts(ro, hit);
        if starts.is_empty() {
            continue;
        }
        let Ok(longest) = Tokens::parse(ro, starts.start) else {
            continue;
        };
        let Some(token1) = longest.token_at(1) else {
            continue;
        };
        for a in ALIGNS {
            let index_at = ro.align_up(longest.end, a);
            let Some(start) = ro
                .get_u16(index_at + 2)
                .and_then(|v| token1.checked_sub(usize::from(v)))
                .filter(|s| starts.contains(s) && ro.aligned(*s, 4))
            else {
                continue;
            };
            let Ok(tokens) = Tokens::parse(ro, start) else {
                continue;
            };
            if !tokens.has_digit_tokens() {
                continue;
            }
            let Some(index) = tokens.index_bytes() else {
                continue;
            };
            if ro.get_bytes(index_at, index.len()) == Some(index.as_slice()) {
                out.push((tokens, index_at));
                if out.len() == MAX_ANCHORS {
                    return out;
                }
                break;
            }
        }
    }
    out
}

/// Where a token table holding "0" at `hit` can start: 48 tokens back, token 0 being any
/// printable run before its NUL (real tables follow padding or binary). Empty if there
/// are not 48 printable tokens before `hit`.
fn table_starts(ro: Rodata<'_>, hit: usize) -> Range<usize> {
    // Walk back over tokens 47..0: 48 NULs, the first (at hit-1) ending token 47, the last
    // ending token 0.
    let mut q = hit;
    let mut nuls = 0;
    let mut token_len = 0;
    while nuls < 48 {
        if q == 0 {
            return 0..0;
        }
        q -= 1;
        match ro.get_u8(q) {
            Some(0) => {
                nuls += 1;
                token_len = 0;
            }
            Some(b) if token_byte(b) && token_len < KSYM_NAME_LEN => token_len += 1,
            _ => return 0..0,
        }
    }
    // q is the NUL ending token 0; token 0 is a printable run ending at q.
    let end0 = q;
    let mut start = end0;
    while start > 0 && end0 - start < KSYM_NAME_LEN {
        match ro.get_u8(start - 1) {
            Some(b) if token_byte(b) => start -= 1,
            _ => break,
        }
    }
    start..end0 + 1
}

/// Whether `r` overlaps any of `taken`.
fn overlaps(r: &Range<usize>, taken: &[Range<usize>]) -> bool {
    taken.iter().any(|t| r.start < t.end && t.start < r.end)
}

/// Walks outward from a token table whose index is at `index_at`.
fn from_anchor(
    ro: Rodata<'_>,
    sections: &[SectionRange],
    tokens: &Tokens<'_>,
    index_at: usize,
) -> Result<Layout, KallsymsError> {
    let token_table = tokens.start..tokens.end;
    let token_index = index_at..index_at + 2 * TOKENS;
    let mut runs = MarkerRuns::new(ro, token_table.start).peekable();
    if runs.peek().is_none() {
        return Err(KallsymsError::NotFoundNear {
            table: Table::Markers,
            offset: token_table.start,
            why: "no u32 run rising from 0 by 512..=131584 ends right before \
                  kallsyms_token_table (or before a kallsyms_seqs_of_names there)"
                .into(),
        });
    }
    let mut last = None;
    for run in runs {
        let Some(names) = find_names(ro, tokens, &run, token_table.start) else {
            continue;
        };
        match find_offsets(ro, sections, tokens, &names, token_index.end) {
            Ok((offsets_at, encoding, relative_base_at)) => {
                let n = names.n as usize;
                return Ok(Layout {
                    rodata_addr: ro.addr,
                    num_syms: names.n,
                    num_syms_at: names.num_syms_at,
                    names: names.at..names.end,
                    markers: run.at..run.end,
                    token_table,
                    token_index,
                    offsets: offsets_at..offsets_at + 4 * n,
                    encoding,
                    relative_base_at,
                    seqs_of_names: None,
                    big_lengths: false,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(KallsymsError::NotFoundNear {
        table: Table::Names,
        offset: token_table.start,
        why: "no kallsyms_num_syms and kallsyms_names fit the markers before \
              kallsyms_token_table"
            .into(),
    }))
}

/// A candidate `kallsyms_markers`: where, and its values.
#[derive(Debug)]
struct MarkerRun {
    at: usize,
    end: usize,
    values: Vec<u32>,
}

/// The candidate marker runs that end before a token table at `tt_start`, nearest first:
/// right before it (with alignment padding), or before a gap that a
/// `kallsyms_seqs_of_names` of the run's size fills (6.2–6.3). At most
/// [`MAX_MARKER_RUNS`]; each u32 below the table is read about once.
struct MarkerRuns<'a> {
    ro: Rodata<'a>,
    tt_start: usize,
    /// The next run to try ends here (its last value is the u32 before it).
    end: usize,
    /// Nothing ends below this.
    lowest: usize,
    pending: Vec<MarkerRun>,
    yielded: usize,
}

impl<'a> MarkerRuns<'a> {
    fn new(ro: Rodata<'a>, tt_start: usize) -> Self {
        // The largest seqs_of_names (4-byte entries in 6.2-rc kernels) and its padding.
        let max_gap = 4 * MAX_SYMBOLS as usize + 16;
        // 4-aligned as a link address, at or below the token table.
        let mis = (ro.link(tt_start) & 3) as usize;
        MarkerRuns {
            ro,
            tt_start,
            end: tt_start.saturating_sub(mis),
            lowest: tt_start.saturating_sub(max_gap),
            pending: Vec::new(),
            yielded: 0,
        }
    }

    /// Whether markers ending `gap` bytes before the token table, `m` of them, fit the
    /// layouts: adjacent but for padding, or with a seqs_of_names of 3 or 4 bytes per
    /// symbol between them.
    fn gap_fits(m: usize, gap: usize) -> bool {
        let fewest = (m - 1) * MARKER_STRIDE + 1;
        let most = m * MARKER_STRIDE;
        gap < 8 || (3 * fewest..=4 * most + 14).contains(&gap)
    }

    /// Walks back from `self.end`: the chain of u32s that rise to the one before it. Returns
    /// the lowest offset the chain covers and, if it starts at 0, its values. Allocates only
    /// for a chain that starts at 0.
    fn walk_back(&self) -> (usize, Option<Vec<u32>>) {
        let ro = self.ro;
        let max_markers = (MAX_SYMBOLS as usize).div_ceil(MARKER_STRIDE);
        let step_ok = |lower: u32, upper: u32| {
            upper > lower && (MIN_GROUP_BYTES..=MAX_GROUP_BYTES).contains(&(upper - lower))
        };
        let mut above: Option<u32> = None;
        let mut count = 0;
        let mut p = self.end;
        while let Some(q) = p.checked_sub(4) {
            let Some(v) = ro.get_u32(q) else { break };
            if above.is_some_and(|a| !step_ok(v, a)) {
                break;
            }
            above = Some(v);
            count += 1;
            p = q;
            if v == 0 {
                let values = (0..count).filter_map(|k| ro.get_u32(p + 4 * k)).collect();
                return (p, Some(values));
            }
            if count == max_markers {
                break;
            }
        }
        (p, None)
    }
}

impl Iterator for MarkerRuns<'_> {
    type Item = MarkerRun;

    fn next(&mut self) -> Option<MarkerRun> {
        loop {
            if let Some(run) = self.pending.pop() {
                self.yielded += 1;
                return Some(run);
            }
            if self.yielded >= MAX_MARKER_RUNS || self.end < self.lowest.saturating_add(4) {
                return None;
            }
            let (low, values) = self.walk_back();
            if let Some(values) = values {
                // The run, and the same run without its last one or two values (which may
                // belong to the next table), farthest last.
                let mut found = Vec::new();
                for trim in 0..=MAX_MARKER_TRIM.min(values.len() - 1) {
                    let m = values.len() - trim;
                    let end = low + 4 * m;
                    if Self::gap_fits(m, self.tt_start - end) {
                        found.push(MarkerRun {
                            at: low,
                            end,
                            values: values.iter().take(m).copied().collect(),
                        });
                    }
                }
                found.reverse();
                self.pending = found;
            }
            // Every run ending between `low` and `end` is part of this chain: go below it.
            self.end = low.min(self.end - 4);
        }
    }
}

/// Where `kallsyms_names` and `kallsyms_num_syms` are for a marker run.
struct Names {
    at: usize,
    end: usize,
    num_syms_at: usize,
    n: u32,
}

/// Finds the names that end right before the markers of `run` and the count right before
/// them; see step 3 of the module comment.
fn find_names(
    ro: Rodata<'_>,
    tokens: &Tokens<'_>,
    run: &MarkerRun,
    tt_start: usize,
) -> Option<Names> {
    let mk = &run.values;
    let m = mk.len();
    let last = *mk.last()? as usize;
    let fewest = ((m - 1) * MARKER_STRIDE + 1) as u32;
    let most = (m * MARKER_STRIDE) as u32;
    // The last group takes 2 (one entry of one token) to MAX_GROUP_BYTES bytes.
    let top = run.at.checked_sub(last + 2)?;
    let bottom = run
        .at
        .saturating_sub(last + MAX_GROUP_BYTES as usize + 8)
        .max(4);
    let mut at = top.checked_sub((ro.link(top) & 3) as usize)?;
    while at >= bottom {
        // The count is in the aligned slot before the names: 4 bytes before them, or 8 with
        // 4 bytes of padding when the labels are 8-aligned.
        let padded = at >= 8 && ro.aligned(at, 8) && ro.get_u32(at - 4) == Some(0);
        let slots = [Some(at - 4), padded.then(|| at - 8)];
        for count_at in slots.into_iter().flatten() {
            let Some(n) = ro.get_u32(count_at).filter(|n| (fewest..=most).contains(n)) else {
                continue;
            };
            let in_last = n as usize - (m - 1) * MARKER_STRIDE;
            let Some(end) = walk(ro, at + last, in_last) else {
                continue;
            };
            // Names end at the markers, but for alignment padding.
            if end > run.at || run.at - end >= 8 {
                continue;
            }
            if groups_fit(ro, tokens, at, mk) && seqs_gap_fits(ro, run.end, tt_start, n) {
                return Some(Names {
                    at,
                    end,
                    num_syms_at: count_at,
                    n,
                });
            }
        }
        at -= 4;
    }
    None
}

/// Whether every group of 256 names runs exactly from its marker to the next, each
/// starting with a type letter.
fn groups_fit(ro: Rodata<'_>, tokens: &Tokens<'_>, names_at: usize, markers: &[u32]) -> bool {
    markers.iter().zip(markers.iter().skip(1)).all(|(&a, &b)| {
        let from = names_at + a as usize;
        entry_at(ro, from).is_some_and(|(start, _)| entry_kind(ro, tokens, start).is_some())
            && walk(ro, from, MARKER_STRIDE) == Some(names_at + b as usize)
    })
}

/// Whether what lies between the markers (ending at `markers_end`) and the token table is
/// alignment padding, or a seqs_of_names of `n` entries of 3 (or, in 6.2 release
/// candidates, 4) bytes and its padding.
fn seqs_gap_fits(ro: Rodata<'_>, markers_end: usize, tt_start: usize, n: u32) -> bool {
    let gap = tt_start - markers_end;
    gap < 8
        || ALIGNS.iter().any(|&a| {
            [3, 4].iter().any(|&width| {
                let seqs = ro.align_up(markers_end, a);
                ro.align_up(seqs + width * n as usize, a) == tt_start
            })
        })
}

/// The type letters of `n` entries from `at`, or `None` if one is not a valid entry.
fn kinds(ro: Rodata<'_>, tokens: &Tokens<'_>, at: usize, n: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut off = at;
    for _ in 0..n {
        let (start, len) = entry_at(ro, off)?;
        out.push(entry_kind(ro, tokens, start)?);
        off = start + len;
    }
    Some(out)
}

mod offsets;
mod seqs;

use offsets::find_offsets;
pub(crate) use seqs::find_seqs;
