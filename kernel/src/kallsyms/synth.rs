//! Synthetic kallsyms tables for tests: every variant between 6.1 and 7.x, laid out as
//! scripts/kallsyms of that version lays them out (order, alignment, encodings, as
//! described in `layout.rs`), surrounded by decoys (a digit run that is not a token table,
//! a run that looks like markers, zero fill, noise).

use super::layout::{AddressEncoding, Layout, SectionRange, MARKER_STRIDE, TOKENS};
use crate::symbol::Symbol;

pub const RODATA: u64 = 0xffff_ffff_8200_0000;
pub const TEXT: u64 = 0xffff_ffff_8100_0000;
pub const TEXT_SIZE: u64 = 0x00e0_1ef2;
pub const DATA: u64 = 0xffff_ffff_82a0_0000;
pub const DATA_SIZE: u64 = 0x0024_5e00;
pub const PERCPU: u64 = 0xffff_ffff_82e0_0000;
pub const PERCPU_SIZE: u64 = 0x0003_4000;
pub const INIT_TEXT: u64 = 0xffff_ffff_8304_e000;
pub const INIT_TEXT_SIZE: u64 = 0x0006_3850;
pub const BSS: u64 = 0xffff_ffff_832b_1000;
pub const BSS_SIZE: u64 = 0x0054_f000;

/// The table layouts and encodings qmdb must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Old order, absolute per-CPU symbols, no `kallsyms_seqs_of_names`.
    V6_1,
    /// Old order with `kallsyms_seqs_of_names` after the markers.
    V6_2,
    /// New order (offsets, base, seqs after the token index), absolute per-CPU.
    V6_4,
    /// New order, plain base-relative.
    V6_15,
    /// New order, place-relative, no base, 4-byte alignment.
    V7_0,
}

impl Variant {
    pub const ALL: [Variant; 5] = [
        Variant::V6_1,
        Variant::V6_2,
        Variant::V6_4,
        Variant::V6_15,
        Variant::V7_0,
    ];

    fn absolute_percpu(self) -> bool {
        matches!(self, Variant::V6_1 | Variant::V6_2 | Variant::V6_4)
    }

    fn new_order(self) -> bool {
        !matches!(self, Variant::V6_1 | Variant::V6_2)
    }

    fn align(self) -> usize {
        if self == Variant::V7_0 {
            4
        } else {
            8
        }
    }
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "sched", "task", "init", "cpu", "irq", "page", "mm", "fs", "net", "dev", "read", "write",
    "lock", "x86", "pci", "acpi", "bpf", "trace", "event", "kmalloc", "vfs", "do", "sys", "get",
    "put", "set", "alloc", "free", "rcu", "work", "timer", "hrtimer", "ext4", "tcp", "sock",
];

fn name(rng: &mut Rng, i: usize) -> String {
    let mut s = String::new();
    if rng.below(4) == 0 {
        s.push_str("__");
    }
    for k in 0..1 + rng.below(3) {
        if k > 0 {
            s.push('_');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    // Unique, and every digit is used somewhere.
    s.push_str(&format!("_{i}"));
    if rng.below(10) == 0 {
        s.push_str(".isra.0");
    }
    s
}

/// A symbol set shaped like a kernel's, in kallsyms order: per-CPU symbols (absolute, at
/// 0, when `variant` uses absolute per-CPU symbols), text with `_text`/`_stext`/`startup_64`
/// aliases, data, per-CPU (when not absolute), init text, bss. `long` adds a name long
/// enough to need a two-byte length. About `n` symbols.
pub fn symbols(variant: Variant, n: usize, long: bool, seed: u64) -> Vec<Symbol> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let sym = |name: &str, addr: u64, kind: char| Symbol {
        name: name.to_string(),
        addr,
        kind,
    };
    let percpu = |out: &mut Vec<Symbol>, rng: &mut Rng, base: u64, kind: char| {
        out.push(sym("__per_cpu_start", base, kind));
        let mut a = base + 0x1000;
        for v in ["current_task", "runqueues", "cpu_number", "irq_stat"] {
            out.push(sym(v, a, kind));
            a += 0x100 + 8 * rng.below(0x200);
        }
        out.push(sym("__per_cpu_end", base + PERCPU_SIZE, kind));
    };
    if variant.absolute_percpu() {
        percpu(&mut out, &mut rng, 0, 'A');
    }
    let text_n = n * 6 / 10;
    out.push(sym("startup_64", TEXT, 'T'));
    out.push(sym("_stext", TEXT, 'T'));
    out.push(sym("_text", TEXT, 'T'));
    let mut a = TEXT;
    for i in 0..text_n {
        a += 16 * (1 + rng.below(64));
        let kind = if rng.below(3) == 0 { 'T' } else { 't' };
        out.push(sym(&name(&mut rng, i), a, kind));
        if i == text_n / 2 {
            out.push(sym("schedule", a + 0x10, 'T'));
            a += 0x10;
        }
        if long && i == text_n / 3 {
            // A mangled-looking name: poorly compressible, over 127 tokens.
            let mut s = String::from("_RNvMs0_NtCs");
            for _ in 0..330 {
                s.push(char::from(b'a' + rng.below(26) as u8));
            }
            a += 16;
            out.push(sym(&s, a, 't'));
        }
    }
    out.push(sym("_etext", TEXT + TEXT_SIZE, 'T'));
    out.push(sym("linux_banner", RODATA + 0x1_1ffe0, 'D'));
    let mut a = DATA;
    for i in 0..n / 10 {
        a += 8 * (1 + rng.below(64));
        let kind = ['d', 'D', 'b'][rng.below(2) as usize];
        out.push(sym(&name(&mut rng, text_n + i), a, kind));
        if i == 3 {
            out.push(sym("init_task", a + 8, 'D'));
            a += 8;
        }
    }
    // Same-name locals, as `__key.0` in real kernels.
    for k in 0..3 {
        a += 0x40;
        out.push(sym("__key.0", a, 'd'));
        if k == 1 {
            a += 0x40;
            out.push(sym("dup_fn", a, 'd'));
        }
    }
    if !variant.absolute_percpu() {
        percpu(&mut out, &mut rng, PERCPU, 'D');
    }
    out.push(sym("_sinittext", INIT_TEXT, 'T'));
    let mut a = INIT_TEXT;
    for i in 0..n / 10 {
        a += 16 * (1 + rng.below(16));
        out.push(sym(&name(&mut rng, 2 * n + i), a, 't'));
    }
    out.push(sym("_einittext", INIT_TEXT + INIT_TEXT_SIZE, 'T'));
    out.push(sym("__bss_start", BSS, 'B'));
    let mut a = BSS;
    for i in 0..n / 10 {
        a += 8 * (1 + rng.below(128));
        out.push(sym(&name(&mut rng, 3 * n + i), a, 'b'));
    }
    out.push(sym("_end", BSS + BSS_SIZE, 'B'));
    out
}

/// The image's allocated sections for `variant`.
pub fn sections(variant: Variant, rodata_len: usize) -> Vec<SectionRange> {
    let s = |addr, size, exec| SectionRange { addr, size, exec };
    vec![
        s(TEXT, TEXT_SIZE, true),
        s(RODATA, rodata_len as u64, false),
        s(DATA, DATA_SIZE, false),
        if variant.absolute_percpu() {
            s(0, PERCPU_SIZE, false)
        } else {
            s(PERCPU, PERCPU_SIZE, false)
        },
        s(INIT_TEXT, INIT_TEXT_SIZE, true),
        s(BSS, BSS_SIZE, false),
    ]
}

/// Tokens for `strings` (type letter + name): every used character as itself, the free
/// codes given to frequent pairs and a few longer runs.
fn token_table(strings: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut used = [false; TOKENS];
    let mut pairs = std::collections::HashMap::<[u8; 2], usize>::new();
    for s in strings {
        for &b in s {
            used[usize::from(b)] = true;
        }
        for w in s.windows(2) {
            *pairs.entry([w[0], w[1]]).or_default() += 1;
        }
    }
    let mut ranked: Vec<([u8; 2], usize)> = pairs.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut candidates: Vec<Vec<u8>> = ["sched_", "_init", "task", "kmalloc", "_isra."]
        .iter()
        .map(|w| w.as_bytes().to_vec())
        .collect();
    candidates.extend(ranked.into_iter().map(|(p, _)| p.to_vec()));
    let mut candidates = candidates.into_iter();
    let mut filler = 0;
    (0..TOKENS)
        .map(|c| {
            if used[c] {
                vec![c as u8]
            } else if let Some(t) = candidates.next() {
                t
            } else {
                filler += 1;
                format!("~{filler}").into_bytes()
            }
        })
        .collect()
}

/// Greedy longest-match encoding of `s` with `tokens`.
fn encode(s: &[u8], tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < s.len() {
        let best = (0..TOKENS)
            .filter(|&t| tokens[t].len() > 1 && s[p..].starts_with(&tokens[t]))
            .max_by_key(|&t| tokens[t].len());
        match best {
            Some(t) => {
                out.push(t as u8);
                p += tokens[t].len();
            }
            None => {
                out.push(s[p]);
                p += 1;
            }
        }
    }
    out
}

/// A synthetic `.rodata` and what decoding it must give.
pub struct Synth {
    pub rodata: Vec<u8>,
    pub sections: Vec<SectionRange>,
    pub symbols: Vec<Symbol>,
    pub layout: Layout,
}

struct Out {
    bytes: Vec<u8>,
}

impl Out {
    fn align(&mut self, a: usize) -> usize {
        while !self.bytes.len().is_multiple_of(a) {
            self.bytes.push(0);
        }
        self.bytes.len()
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
}

/// Builds `.rodata` holding the tables of `symbols` as `variant` lays them out.
pub fn build(variant: Variant, symbols: Vec<Symbol>, seed: u64) -> Synth {
    build_with(variant, symbols, seed, true)
}

/// [`build`], with (`filler`) or without the noise and zero fill around the tables (the
/// decoys stay): small images for fuzz seeds.
pub fn build_with(variant: Variant, symbols: Vec<Symbol>, seed: u64, filler: bool) -> Synth {
    let mut rng = Rng::new(seed ^ 0x5eed);
    let strings: Vec<Vec<u8>> = symbols
        .iter()
        .map(|s| {
            let mut v = vec![s.kind as u8];
            v.extend_from_slice(s.name.as_bytes());
            v
        })
        .collect();
    let tokens = token_table(&strings);
    let encoded: Vec<Vec<u8>> = strings.iter().map(|s| encode(s, &tokens)).collect();
    let n = symbols.len();
    let align = variant.align();
    let mut o = Out { bytes: Vec::new() };

    // Decoys first: noise, a digit run between unprintable bytes, a marker-like run, zeros.
    for _ in 0..if filler { 0x300 } else { 0 } {
        o.bytes.push(rng.below(256) as u8);
    }
    o.bytes.extend_from_slice(
        b"\x01\x02\x03\x00\x7f0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00\x05",
    );
    o.align(4);
    for v in [0u32, 600, 1300, 2100, 0xdead_beef] {
        o.u32(v);
    }
    o.bytes
        .extend(std::iter::repeat_n(0u8, if filler { 0x400 } else { 8 }));
    o.bytes
        .extend_from_slice(b"Linux version 6.x (synthetic)\n\0");

    let abs = variant.absolute_percpu();
    let relative_base = if abs {
        symbols
            .iter()
            .filter(|s| !s.is_absolute())
            .map(|s| s.addr)
            .min()
            .unwrap_or(TEXT)
    } else {
        symbols.first().map_or(TEXT, |s| s.addr)
    };

    let mut offsets_at = 0;
    let mut relative_base_at = None;
    let mut emit_offsets = |o: &mut Out| {
        offsets_at = o.align(align);
        for (i, s) in symbols.iter().enumerate() {
            let v: i64 = match variant {
                Variant::V7_0 => {
                    let place = RODATA + (offsets_at + 4 * i) as u64;
                    s.addr.wrapping_sub(place) as i64
                }
                Variant::V6_15 => (s.addr - relative_base) as i64,
                _ if s.is_absolute() => s.addr as i64,
                _ => relative_base.wrapping_sub(s.addr).wrapping_sub(1) as i64,
            };
            o.u32(v as u32);
        }
        if variant != Variant::V7_0 {
            let at = o.align(8);
            relative_base_at = Some(at);
            o.bytes.extend_from_slice(&relative_base.to_le_bytes());
        }
    };

    let mut seqs = None;
    let emit_seqs = |o: &mut Out, seqs: &mut Option<(std::ops::Range<usize>, usize)>| {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            symbols[a]
                .name
                .cmp(&symbols[b].name)
                .then(symbols[a].addr.cmp(&symbols[b].addr))
                .then(a.cmp(&b))
        });
        let at = o.align(align);
        for i in order {
            o.bytes.extend_from_slice(&(i as u32).to_be_bytes()[1..]);
        }
        *seqs = Some((at..o.bytes.len(), 3));
    };

    if !variant.new_order() {
        emit_offsets(&mut o);
    }
    let num_syms_at = o.align(align);
    o.u32(n as u32);
    let names_start = o.align(align);
    let mut markers = Vec::new();
    let mut big_lengths = false;
    for (i, e) in encoded.iter().enumerate() {
        if i % MARKER_STRIDE == 0 {
            markers.push((o.bytes.len() - names_start) as u32);
        }
        if e.len() <= 0x7f {
            o.bytes.push(e.len() as u8);
        } else {
            big_lengths = true;
            o.bytes.push((e.len() & 0x7f) as u8 | 0x80);
            o.bytes.push((e.len() >> 7) as u8);
        }
        o.bytes.extend_from_slice(e);
    }
    let names = names_start..o.bytes.len();
    let markers_at = o.align(align);
    for m in &markers {
        o.u32(*m);
    }
    let markers_range = markers_at..o.bytes.len();
    if variant == Variant::V6_2 {
        emit_seqs(&mut o, &mut seqs);
    }
    let tt = o.align(align);
    let mut starts = Vec::new();
    for t in &tokens {
        starts.push(o.bytes.len() - tt);
        o.bytes.extend_from_slice(t);
        o.bytes.push(0);
    }
    let token_table = tt..o.bytes.len();
    let ti = o.align(align);
    for s in starts {
        o.bytes.extend_from_slice(&(s as u16).to_le_bytes());
    }
    let token_index = ti..o.bytes.len();
    if variant.new_order() {
        emit_offsets(&mut o);
        emit_seqs(&mut o, &mut seqs);
    }
    // Trailing noise.
    o.align(8);
    for _ in 0..if filler { 0x200 } else { 0 } {
        o.bytes.push(rng.below(256) as u8);
    }

    let encoding = match variant {
        Variant::V7_0 => AddressEncoding::PcRelative,
        Variant::V6_15 => AddressEncoding::BaseRelative { relative_base },
        _ => AddressEncoding::AbsolutePercpu { relative_base },
    };
    let layout = Layout {
        rodata_addr: RODATA,
        num_syms: n as u32,
        num_syms_at,
        names,
        markers: markers_range,
        token_table,
        token_index,
        offsets: offsets_at..offsets_at + 4 * n,
        encoding,
        relative_base_at,
        seqs_of_names: seqs,
        big_lengths,
    };
    let sections = sections(variant, o.bytes.len());
    Synth {
        rodata: o.bytes,
        sections,
        symbols,
        layout,
    }
}

/// A ready synthetic image of `variant`.
pub fn image(variant: Variant, n: usize, long: bool) -> Synth {
    build(variant, symbols(variant, n, long, 42), 42)
}
