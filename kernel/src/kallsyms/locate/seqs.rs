//! `kallsyms_seqs_of_names` (6.2+), looked for after the tables are found, as a cross-check.

use super::*;

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
            // By name, then address, then index (indices are below `n`).
            let key = |i: usize| {
                names
                    .get(i)
                    .map(|&(name, addr)| (sort_key(name, cut), addr))
            };
            let cmp = |a: usize, b: usize| key(a).cmp(&key(b)).then(a.cmp(&b));
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
        if first.get(3).is_some_and(|&last| cmp(last, i).is_lt()) {
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
        s.split(|&b| b == b'.').next().unwrap_or(s)
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
        let i = match *e {
            [a, b, c] => (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c),
            [a, b, c, d] => u32::from_le_bytes([a, b, c, d]) as usize,
            _ => return false,
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
