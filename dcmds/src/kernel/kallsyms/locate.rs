//! Finding the kallsyms tables in `.rodata` of an image that has no symbols.
//!
//! Each table is found by its own structure and checked against the others; nothing
//! assumes the order of the tables, which changed in 6.4 and 7.0:
//!
//! 1. `kallsyms_token_table`: the digits are single-character tokens 48..57, so the table
//!    holds `"0\0" "1\0" ... "9\0"`. From each such run, walk back 48 printable tokens to
//!    the table's start, parse 256 tokens forward, and accept it if the
//!    `kallsyms_token_index` those tokens imply (256 u16 offsets) occurs in `.rodata`.
//! 2. `kallsyms_markers`: a 4-aligned u32 run starting at 0 whose steps are plausible sizes
//!    of 256 names (512 to 131,584 bytes).
//! 3. `kallsyms_names`: the 4-aligned offset N at which every marker points at a plausible
//!    entry (a valid length and a first token starting with a type letter), confirmed by
//!    walking each group of 256 entries from one marker exactly to the next.
//! 4. `kallsyms_num_syms`: a u32 whose value gives as many markers as were confirmed and
//!    for which the last group's entries decode. Several can fit; the one next to the
//!    names or whose names end right before the markers is tried first.
//! 5. `kallsyms_offsets`: n 32-bit values that, under one of the three encodings, decode to
//!    sorted addresses within the image, with every text symbol in an executable section
//!    (checked on samples first) and, for absolute per-CPU encoding, exactly the `A`
//!    symbols absolute. `kallsyms_relative_base` is the u64 right after it (where every
//!    version with a base has put it). Where it has been (after `kallsyms_token_index`;
//!    before `kallsyms_relative_base` and `kallsyms_num_syms`) is tried first, then
//!    everywhere else.
//!
//! `kallsyms_seqs_of_names` (6.2+) is not needed to decode; it is looked for afterwards
//! (`find_seqs`) as a cross-check: a permutation of the symbols sorted by name.
//!
//! Every loop is bounded by the size of `.rodata` or by a fixed cap.

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
const MAX_START_CANDIDATES: usize = 16;
const MAX_SEARCHES: usize = 32;
const MAX_MARKER_RUNS: usize = 8;
/// The most work (entries walked, positions scanned, addresses checked) one search may
/// do: the Debian 6.1 and 6.12 kernels need 0.65 and 0.8 million; corrupt input gives up
/// after a fraction of a second.
pub(crate) const WORK_BUDGET: usize = 20_000_000;
const MAX_NUM_SYMS_TRIES: usize = 16;
/// Markers checked cheaply before walking whole groups.
const QUICK_MARKERS: usize = 16;
/// Text symbols probed for each `kallsyms_offsets` candidate.
const PROBES: usize = 16;
/// Entries sampled for sortedness before a full check.
const SAMPLES: usize = 32;
/// Most symbols start at least this far after the previous one.
const MIN_GAP: u64 = 8;

/// Finds the tables. `sections` are the image's allocated sections (empty if unknown:
/// then only sortedness checks the addresses).
pub(crate) fn locate(ro: Rodata<'_>, sections: &[SectionRange]) -> Result<Layout, KallsymsError> {
    locate_within(ro, sections, WORK_BUDGET)
}

/// [`locate`] with a given work budget.
pub(crate) fn locate_within(
    ro: Rodata<'_>,
    sections: &[SectionRange],
    budget: usize,
) -> Result<Layout, KallsymsError> {
    let candidates = token_tables(ro);
    if candidates.is_empty() {
        return Err(KallsymsError::NotFound {
            table: Table::TokenTable,
            why: "no 256 printable tokens with \"0\"..\"9\" at 48..57 and a matching \
                  kallsyms_token_index",
        });
    }
    let mut work = budget;
    let mut last = None;
    for (tokens, index_at) in &candidates {
        match locate_with_tokens(ro, sections, tokens, *index_at, &mut work) {
            Ok(layout) => {
                tracing::debug!(work = budget - work, ?layout, "kallsyms tables found");
                return Ok(layout);
            }
            Err(e) => last = Some(e),
        }
    }
    tracing::debug!(work = budget - work, "kallsyms tables not found");
    if work == 0 {
        return Err(KallsymsError::GaveUp { work: budget });
    }
    Err(last.unwrap_or(KallsymsError::NotFound {
        table: Table::TokenTable,
        why: "no candidate",
    }))
}

/// The token tables in `.rodata`, each with the offset of its `kallsyms_token_index`.
///
/// The index is looked for right after the table (where every version has put it) for
/// each possible start, and anywhere in `.rodata` for the most likely start only, at most
/// [`MAX_SEARCHES`] times in all.
fn token_tables(ro: Rodata<'_>) -> Vec<(Tokens<'_>, usize)> {
    let mut out = Vec::new();
    let mut searches = 0;
    for hit in memchr::memmem::find_iter(ro.data, DIGITS).take(MAX_DIGIT_HITS) {
        for (k, start) in table_starts(ro, hit).into_iter().enumerate() {
            let Ok(tokens) = Tokens::parse(ro, start) else {
                continue;
            };
            if !tokens.has_digit_tokens() {
                continue;
            }
            let Some(index) = tokens.index_bytes() else {
                continue;
            };
            let near = (tokens.end..tokens.end + 8)
                .filter(|&p| ro.aligned(p, 2))
                .find(|&p| ro.get_bytes(p, index.len()) == Some(index.as_slice()));
            let at = near.or_else(|| {
                if k > 0 || searches == MAX_SEARCHES {
                    return None;
                }
                searches += 1;
                memchr::memmem::find_iter(ro.data, &index).find(|&p| ro.aligned(p, 2))
            });
            if let Some(at) = at {
                out.push((tokens, at));
                break;
            }
        }
    }
    out
}

/// Where a token table holding "0" at `hit` can start: 48 tokens back, token 0 being any
/// printable run before its NUL (longest first, as real tables follow padding or binary).
fn table_starts(ro: Rodata<'_>, hit: usize) -> Vec<usize> {
    // Walk back over tokens 47..0: 48 NULs, the first (at hit-1) ending token 47, the last
    // ending token 0.
    let mut q = hit;
    let mut nuls = 0;
    let mut token_len = 0;
    while nuls < 48 {
        if q == 0 {
            return Vec::new();
        }
        q -= 1;
        match ro.get_u8(q) {
            Some(0) => {
                nuls += 1;
                token_len = 0;
            }
            Some(b) if token_byte(b) && token_len < KSYM_NAME_LEN => token_len += 1,
            _ => return Vec::new(),
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
    (start..=end0).take(MAX_START_CANDIDATES).collect()
}

/// Whether `r` overlaps any of `taken`.
fn overlaps(r: &Range<usize>, taken: &[Range<usize>]) -> bool {
    taken.iter().any(|t| r.start < t.end && t.start < r.end)
}

fn locate_with_tokens(
    ro: Rodata<'_>,
    sections: &[SectionRange],
    tokens: &Tokens<'_>,
    index_at: usize,
    work: &mut usize,
) -> Result<Layout, KallsymsError> {
    let token_table = tokens.start..tokens.end;
    let token_index = index_at..index_at + 2 * TOKENS;
    let taken = [token_table.clone(), token_index.clone()];
    let runs = marker_runs(ro, &taken);
    if runs.is_empty() {
        return Err(KallsymsError::NotFound {
            table: Table::Markers,
            why: "no u32 run from 0 rising by plausible sizes of 256 names",
        });
    }
    let mut last = KallsymsError::NotFound {
        table: Table::Names,
        why: "no offset in .rodata at which every kallsyms_markers entry starts a name",
    };
    for run in &runs {
        let Some(names) = find_names(ro, tokens, run, work) else {
            continue;
        };
        let mut taken = taken.to_vec();
        taken.push(run.at..run.at + 4 * names.markers);
        let ctx = Ctx {
            ro,
            sections,
            tokens,
            token_index_end: token_index.end,
        };
        match after_names(&ctx, run, &names, &taken, work) {
            Ok(mut layout) => {
                layout.token_table = token_table;
                layout.token_index = token_index;
                return Ok(layout);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A candidate `kallsyms_markers`: where, and its values.
struct MarkerRun {
    at: usize,
    values: Vec<u32>,
}

/// All runs of 4-aligned u32s that start at 0 and rise by plausible group sizes, longest
/// first.
fn marker_runs(ro: Rodata<'_>, taken: &[Range<usize>]) -> Vec<MarkerRun> {
    let max_markers = (MAX_SYMBOLS as usize).div_ceil(MARKER_STRIDE);
    let step_ok =
        |prev: u32, v: u32| v > prev && (MIN_GROUP_BYTES..=MAX_GROUP_BYTES).contains(&(v - prev));
    let mut runs = Vec::new();
    let mut p = ro.align_up(0, 4);
    while p.saturating_add(8) <= ro.len() {
        if ro.get_u32(p) == Some(0) && ro.get_u32(p + 4).is_some_and(|v| step_ok(0, v)) {
            let mut values = vec![0];
            let mut q = p + 4;
            while values.len() < max_markers {
                match ro.get_u32(q) {
                    Some(v) if step_ok(values[values.len() - 1], v) => {
                        values.push(v);
                        q += 4;
                    }
                    _ => break,
                }
            }
            if !overlaps(&(p..q), taken) {
                runs.push(MarkerRun { at: p, values });
            }
            p = q;
        } else {
            p += 4;
        }
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.values.len()));
    runs.truncate(MAX_MARKER_RUNS);
    runs
}

/// Where `kallsyms_names` is for a marker run, and how many markers it confirms.
struct Names {
    at: usize,
    markers: usize,
}

/// Finds the offset N at which the markers of `run` all point at name entries.
fn find_names(
    ro: Rodata<'_>,
    tokens: &Tokens<'_>,
    run: &MarkerRun,
    work: &mut usize,
) -> Option<Names> {
    let mk = &run.values;
    // The run may extend past the real markers; the last value is not trusted for the
    // quick check.
    let quick = &mk[..mk.len().saturating_sub(1).clamp(1, QUICK_MARKERS)];
    let plausible = |n: usize, m: u32| {
        n.checked_add(m as usize)
            .and_then(|e| entry_at(ro, e))
            .is_some_and(|(start, _)| entry_kind(ro, tokens, start).is_some())
    };
    let last_quick = *quick.last()? as usize;
    let mut best: Option<Names> = None;
    let mut n = ro.align_up(0, 4);
    while n.saturating_add(last_quick) < ro.len() {
        *work = work.saturating_sub(1);
        if *work == 0 {
            return best;
        }
        if quick.iter().all(|&m| plausible(n, m)) {
            // Confirm group by group.
            let mut confirmed = 0;
            for k in 0..mk.len() - 1 {
                // Out of budget: what was confirmed so far is the answer.
                let Some(left) = work.checked_sub(MARKER_STRIDE) else {
                    *work = 0;
                    return best;
                };
                *work = left;
                let from = n + mk[k] as usize;
                if walk(ro, from, MARKER_STRIDE) == Some(n + mk[k + 1] as usize) {
                    confirmed += 1;
                } else {
                    break;
                }
            }
            let markers = confirmed + 1;
            if confirmed > 0 && best.as_ref().is_none_or(|b| markers > b.markers) {
                best = Some(Names { at: n, markers });
                if markers == mk.len() {
                    break;
                }
            }
        }
        n += 4;
    }
    best
}

/// What steps 4 and 5 need from the earlier ones.
struct Ctx<'a, 't> {
    ro: Rodata<'a>,
    sections: &'t [SectionRange],
    tokens: &'t Tokens<'a>,
    token_index_end: usize,
}

/// Steps 4 and 5, once names and markers are known.
fn after_names(
    ctx: &Ctx<'_, '_>,
    run: &MarkerRun,
    names: &Names,
    taken: &[Range<usize>],
    work: &mut usize,
) -> Result<Layout, KallsymsError> {
    let Ctx {
        ro,
        sections,
        tokens,
        token_index_end,
    } = *ctx;
    let groups = names.markers - 1;
    let last_group = names.at + run.values[groups] as usize;
    // Ends of the last group's entries: ends[j] is the end after j+1 entries.
    let mut ends = Vec::with_capacity(MARKER_STRIDE);
    let mut off = last_group;
    while ends.len() < MARKER_STRIDE {
        match entry_at(ro, off) {
            Some((start, len)) if entry_kind(ro, tokens, start).is_some() => {
                off = start + len;
                ends.push(off);
            }
            _ => break,
        }
    }
    if ends.is_empty() {
        return Err(KallsymsError::corrupt(
            Table::Names,
            last_group,
            "the last group of names does not start with a valid entry",
        ));
    }
    let lo = (groups * MARKER_STRIDE + 1) as u32;
    let hi = (groups * MARKER_STRIDE + ends.len()) as u32;
    let markers_at = run.at;
    let names_end = |n: u32| ends[(n - lo) as usize];
    // Candidates for kallsyms_num_syms, ranked by placement: every version so far put it
    // right before the names, which run right up to the markers; a count elsewhere is
    // tried last.
    let mut found: Vec<(u8, usize, u32)> = Vec::new();
    let mut p = ro.align_up(0, 4);
    while p.saturating_add(4) <= ro.len() {
        if let Some(v) = ro.get_u32(p) {
            if (lo..=hi).contains(&v) && !overlaps(&(p..p + 4), taken) {
                let names_range = names.at..names_end(v);
                if !overlaps(&(p..p + 4), std::slice::from_ref(&names_range)) {
                    let before_names = p + 4 <= names.at && names.at - (p + 4) < 8;
                    let end = names_end(v);
                    let markers_follow = end <= markers_at && markers_at - end < 8;
                    let rank = match (before_names, markers_follow) {
                        (true, true) => 0,
                        (false, true) => 1,
                        (true, false) => 2,
                        (false, false) => 3,
                    };
                    found.push((rank, p, v));
                }
            }
        }
        p += 4;
    }
    if found.is_empty() {
        return Err(KallsymsError::NotFound {
            table: Table::NumSyms,
            why: "no u32 holds a symbol count that fits the markers and names",
        });
    }
    found.sort();
    let mut tried = Vec::new();
    // Without a count next to the names or the markers, a failure is blamed on the count.
    let failed = if found[0].0 < 3 {
        KallsymsError::NotFound {
            table: Table::Offsets,
            why: "no 32-bit array decodes to sorted addresses in the image's sections",
        }
    } else {
        KallsymsError::NotFound {
            table: Table::NumSyms,
            why: "no symbol count next to kallsyms_names or kallsyms_markers, and no other \
                  candidate count has a kallsyms_offsets",
        }
    };
    for &(_, at, n) in &found {
        if tried.contains(&n) {
            continue;
        }
        if tried.len() == MAX_NUM_SYMS_TRIES {
            break;
        }
        tried.push(n);
        if n > MAX_SYMBOLS {
            return Err(KallsymsError::TooManySymbols {
                offset: at,
                count: n,
                max: MAX_SYMBOLS,
            });
        }
        let names_range = names.at..names_end(n);
        let markers = markers_at..markers_at + 4 * (n as usize).div_ceil(MARKER_STRIDE);
        let mut taken = taken.to_vec();
        taken.push(names_range.clone());
        taken.push(markers.clone());
        taken.push(at..at + 4);
        *work = work.saturating_sub(n as usize);
        let Some(kinds) = kinds(ro, tokens, names.at, n as usize) else {
            continue;
        };
        // Where kallsyms_offsets has been: after kallsyms_token_index (6.4+), or before
        // kallsyms_relative_base and kallsyms_num_syms (up to 6.3). Tried first; any
        // other place is found by the scan.
        let size = 4 * n as usize;
        let mut hints = vec![
            ro.align_up(token_index_end, 4),
            ro.align_up(token_index_end, 8),
        ];
        for pad in [0, 4] {
            if let Some(x) = at.checked_sub(size + 8 + pad) {
                hints.push(x);
            }
        }
        if let Some((offsets_at, encoding)) =
            find_offsets(ro, sections, &kinds, &taken, &hints, work)
        {
            let offsets = offsets_at..offsets_at + size;
            let relative_base_at = encoding
                .relative_base()
                .map(|_| ro.align_up(offsets.end, 8));
            return Ok(Layout {
                rodata_addr: ro.addr,
                num_syms: n,
                num_syms_at: at,
                names: names_range,
                markers,
                token_table: 0..0,
                token_index: 0..0,
                offsets,
                encoding,
                relative_base_at,
                seqs_of_names: None,
                big_lengths: false,
            });
        }
    }
    Err(failed)
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

/// Finds `kallsyms_offsets` (and its encoding) for symbols of the given type letters.
fn find_offsets(
    ro: Rodata<'_>,
    sections: &[SectionRange],
    kinds: &[u8],
    taken: &[Range<usize>],
    hints: &[usize],
    work: &mut usize,
) -> Option<(usize, AddressEncoding)> {
    let n = kinds.len();
    let bounds = Bounds::new(sections);
    let text: Vec<usize> = if bounds.exec.is_empty() {
        Vec::new()
    } else {
        (0..n)
            .filter(|&i| matches!(kinds[i], b't' | b'T'))
            .collect()
    };
    let probes: Vec<usize> = if text.is_empty() {
        Vec::new()
    } else {
        (0..PROBES)
            .map(|k| text[k * (text.len() - 1) / (PROBES - 1).max(1)])
            .collect()
    };
    let size = n.checked_mul(4)?;
    for &x in hints {
        let fits = x.checked_add(size).is_some_and(|end| end <= ro.len());
        if !fits || !ro.aligned(x, 4) || overlaps(&(x..x + size), taken) {
            continue;
        }
        for encoding in encodings(ro, x + size, &bounds).into_iter().flatten() {
            if check_offsets(ro, &bounds, kinds, &probes, x, encoding, work)? {
                return Some((x, encoding));
            }
        }
    }
    let mut x = ro.align_up(0, 4);
    while x.checked_add(size)? <= ro.len() {
        let range = x..x + size;
        if let Some(t) = taken
            .iter()
            .find(|t| range.start < t.end && t.start < range.end)
        {
            x = ro.align_up(t.end, 4);
            continue;
        }
        *work = work.checked_sub(1)?;
        for encoding in encodings(ro, x + size, &bounds).into_iter().flatten() {
            if check_offsets(ro, &bounds, kinds, &probes, x, encoding, work)? {
                return Some((x, encoding));
            }
        }
        x += 4;
    }
    None
}

/// The encodings to try for a table ending at `end`: the two with a base if the u64 after
/// the table looks like an address in the image, then place-relative. (Without section
/// information a base-relative table also reads as sorted place-relative addresses, so the
/// encodings with a base go first; a place-relative table does not read as sorted under
/// them, having symbols on both sides of itself.)
fn encodings(ro: Rodata<'_>, end: usize, bounds: &Bounds<'_>) -> [Option<AddressEncoding>; 3] {
    let base = ro
        .get_u64(ro.align_up(end, 8))
        .filter(|&b| b != 0 && bounds.in_span(b));
    [
        base.map(|relative_base| AddressEncoding::AbsolutePercpu { relative_base }),
        base.map(|relative_base| AddressEncoding::BaseRelative { relative_base }),
        Some(AddressEncoding::PcRelative),
    ]
}

/// Whether the n values at `x` decode, under `encoding`, to a plausible symbol table;
/// `None` once the work budget runs out.
fn check_offsets(
    ro: Rodata<'_>,
    bounds: &Bounds<'_>,
    kinds: &[u8],
    probes: &[usize],
    x: usize,
    encoding: AddressEncoding,
    work: &mut usize,
) -> Option<bool> {
    let n = kinds.len();
    let addr = |i: usize| address_at(ro, encoding, x, i);
    // With absolute per-CPU symbols, scripts/kallsyms types exactly those `A`.
    let percpu = matches!(encoding, AddressEncoding::AbsolutePercpu { .. });
    let kind_ok = |kind: u8, abs: bool| !percpu || abs == matches!(kind, b'A' | b'a');
    // Sample text symbols must be in executable sections.
    for &i in probes {
        match addr(i) {
            Some((a, false)) if bounds.in_exec(a) => {}
            _ => return Some(false),
        }
    }
    // Sampled sortedness.
    let mut prev = 0u64;
    for k in 0..=SAMPLES {
        let i = k * n.saturating_sub(1) / SAMPLES;
        match addr(i) {
            Some((a, abs)) if a >= prev && (abs || bounds.in_span(a)) && kind_ok(kinds[i], abs) => {
                prev = a
            }
            _ => return Some(false),
        }
    }
    // Everything.
    let mut prev = 0u64;
    let mut prev_addr: Option<u64> = None;
    let (mut addresses, mut wide, mut narrow) = (0usize, 0usize, 0usize);
    for (i, &kind) in kinds.iter().enumerate() {
        *work = work.checked_sub(1)?;
        let Some((a, abs)) = addr(i) else {
            return Some(false);
        };
        if a < prev || (!abs && !bounds.in_span(a)) || !kind_ok(kind, abs) {
            return Some(false);
        }
        if !bounds.exec.is_empty() && matches!(kind, b't' | b'T') && (abs || !bounds.in_exec(a)) {
            return Some(false);
        }
        if !abs {
            addresses += 1;
            match prev_addr {
                Some(p) if a - p >= MIN_GAP => wide += 1,
                Some(_) => {
                    narrow += 1;
                    if narrow > n / 2 {
                        return Some(false);
                    }
                }
                None => {}
            }
            prev_addr = Some(a);
        }
        prev = a;
    }
    // A kernel's symbols are spread out: 95% of them start at least 8 bytes after the
    // previous one. This turns away constant arrays, which decode to one address or
    // (place-relative) to addresses 4 bytes apart, when no sections rule them out.
    Some(wide >= addresses / 2)
}

/// Looks for `kallsyms_seqs_of_names` (6.2+): the symbol indices in name order, as 3-byte
/// big-endian numbers (4-byte little-endian in 6.2 release candidates). Returns its range
/// and entry width. `names` are the decoded names and addresses in table order; `hints`
/// are offsets to try before searching (after the tables it has followed).
pub(crate) fn find_seqs(
    ro: Rodata<'_>,
    names: &[(&str, u64)],
    taken: &[Range<usize>],
    hints: &[usize],
) -> Option<(Range<usize>, usize)> {
    let n = names.len();
    if n == 0 {
        return None;
    }
    // scripts/kallsyms sorts by name, then address, then index; with Clang LTO some
    // versions compared names cut at the first '.'.
    for search in [false, true] {
        for cut in [false, true] {
            let key = |i: usize| sort_key(names[i].0, cut);
            let cmp = |a: usize, b: usize| {
                key(a)
                    .cmp(key(b))
                    .then(names[a].1.cmp(&names[b].1))
                    .then(a.cmp(&b))
            };
            for width in [3usize, 4] {
                let found = if search {
                    let pattern = first_seqs(n, &cmp, width);
                    memchr::memmem::find_iter(ro.data, &pattern)
                        .take(16)
                        .find_map(|at| try_seqs(ro, at, width, n, &cmp, taken))
                } else {
                    hints
                        .iter()
                        .find_map(|&at| try_seqs(ro, at, width, n, &cmp, taken))
                };
                if found.is_some() {
                    return found;
                }
            }
        }
    }
    None
}

/// The first four entries `kallsyms_seqs_of_names` would hold, encoded.
fn first_seqs(n: usize, cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering, width: usize) -> Vec<u8> {
    let mut first: Vec<usize> = Vec::with_capacity(5);
    for i in 0..n {
        if first.len() == 4 && cmp(first[3], i).is_lt() {
            continue;
        }
        let pos = first.partition_point(|&f| cmp(f, i).is_lt());
        first.insert(pos, i);
        first.truncate(4);
    }
    let mut pattern = Vec::with_capacity(4 * width);
    for &i in &first {
        if width == 3 {
            pattern.extend_from_slice(&(i as u32).to_be_bytes()[1..]);
        } else {
            pattern.extend_from_slice(&(i as u32).to_le_bytes());
        }
    }
    pattern
}

/// `kallsyms_seqs_of_names` at `at`, if it is one.
fn try_seqs(
    ro: Rodata<'_>,
    at: usize,
    width: usize,
    n: usize,
    cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering,
    taken: &[Range<usize>],
) -> Option<(Range<usize>, usize)> {
    let range = at..at.checked_add(n.checked_mul(width)?)?;
    if overlaps(&range, taken) {
        return None;
    }
    let bytes = ro.get_bytes(at, range.len())?;
    seqs_valid(bytes, width, n, cmp).then_some((range, width))
}

/// The part of a name scripts/kallsyms sorts by.
fn sort_key(name: &str, cut: bool) -> &[u8] {
    let s = name.as_bytes();
    if cut {
        &s[..s.iter().position(|&b| b == b'.').unwrap_or(s.len())]
    } else {
        s
    }
}

/// Whether `bytes` is a permutation of 0..n sorted by `cmp`.
fn seqs_valid(
    bytes: &[u8],
    width: usize,
    n: usize,
    cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering,
) -> bool {
    let mut seen = vec![false; n];
    let mut prev: Option<usize> = None;
    for e in bytes.chunks_exact(width) {
        let i = if width == 3 {
            (usize::from(e[0]) << 16) | (usize::from(e[1]) << 8) | usize::from(e[2])
        } else {
            u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as usize
        };
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            _ => return false,
        }
        if prev.is_some_and(|p| cmp(p, i).is_gt()) {
            return false;
        }
        prev = Some(i);
    }
    true
}
