//! Decoding synthetic tables of every variant, every error path, and corrupt input.

use super::synth::{self, Synth, Variant, RODATA};
use super::*;
use proptest::prelude::*;

fn decode_synth(s: &Synth) -> Result<Kallsyms, KallsymsError> {
    decode(&s.rodata, RODATA, &s.sections)
}

#[test]
fn every_variant_decodes_exactly() {
    for variant in Variant::ALL {
        for (n, long) in [(700, false), (2000, true)] {
            let s = synth::image(variant, n, long);
            let k = decode_synth(&s).unwrap_or_else(|e| panic!("{variant:?} n={n}: {e}"));
            assert_eq!(k.layout, s.layout, "{variant:?} n={n}");
            assert_eq!(k.symbols.len(), s.symbols.len(), "{variant:?} n={n}");
            for (got, want) in k.symbols.iter().zip(&s.symbols) {
                assert_eq!(got, want, "{variant:?} n={n}");
            }
            assert_eq!(k.layout.big_lengths, long, "{variant:?}");
        }
    }
}

#[test]
fn variants_are_told_apart() {
    let hint = |v| decode_synth(&synth::image(v, 700, false)).unwrap().layout;
    let l = hint(Variant::V6_1);
    assert!(matches!(l.encoding, AddressEncoding::AbsolutePercpu { .. }));
    assert!(l.seqs_of_names.is_none() && l.offsets.start < l.names.start);
    assert_eq!(l.version_hint(), "6.1 (or older)");
    let l = hint(Variant::V6_2);
    assert_eq!(l.seqs_of_names.as_ref().map(|s| s.1), Some(3));
    assert!(l.version_hint().starts_with("6.2-6.3"));
    assert_eq!(hint(Variant::V6_4).version_hint(), "6.4-6.14");
    let l = hint(Variant::V6_15);
    assert!(matches!(l.encoding, AddressEncoding::BaseRelative { .. }));
    assert!(l.version_hint().starts_with("6.15-6.19"));
    let l = hint(Variant::V7_0);
    assert_eq!(l.encoding, AddressEncoding::PcRelative);
    assert_eq!(l.relative_base_at, None);
    assert_eq!(l.version_hint(), "7.0 or later");
}

#[test]
fn per_cpu_symbols_stay_absolute_on_absolute_percpu_kernels() {
    let k = decode_synth(&synth::image(Variant::V6_4, 700, false)).unwrap();
    let rq = k.symbols.iter().find(|s| s.name == "runqueues").unwrap();
    assert_eq!(rq.kind, 'A');
    assert!(rq.addr < synth::PERCPU_SIZE);
    let k = decode_synth(&synth::image(Variant::V6_15, 700, false)).unwrap();
    let rq = k.symbols.iter().find(|s| s.name == "runqueues").unwrap();
    assert!(rq.addr >= synth::PERCPU);
}

#[test]
fn tables_are_found_without_section_information() {
    for variant in Variant::ALL {
        let s = synth::image(variant, 700, false);
        let k = decode(&s.rodata, RODATA, &[]).unwrap_or_else(|e| panic!("{variant:?}: {e}"));
        assert_eq!(k.layout, s.layout, "{variant:?}");
    }
}

#[test]
fn offsets_away_from_where_the_layout_puts_them_are_reported_there() {
    // Move kallsyms_offsets + relative_base of a 6.4 layout to the end: the locator looks
    // where scripts/kallsyms puts them and says so, with the offset.
    let mut s = synth::image(Variant::V6_4, 700, false);
    let from = s.layout.offsets.start;
    let base_end = s.layout.relative_base_at.unwrap() + 8;
    let moved = s.rodata[from..base_end].to_vec();
    s.rodata[from..base_end].fill(0xee);
    s.rodata.extend_from_slice(&moved);
    s.sections = synth::sections(Variant::V6_4, s.rodata.len());
    match decode_synth(&s) {
        Err(
            e @ KallsymsError::NotFoundNear {
                table: Table::Offsets,
                offset,
                ..
            },
        ) => {
            assert_eq!(offset, from);
            let msg = e.to_string();
            assert!(msg.contains(&format!("near .rodata+{from:#x}")), "{msg}");
        }
        other => panic!("{:?}", other.map(|k| k.layout)),
    }
}

fn not_found(r: Result<Kallsyms, KallsymsError>) -> Table {
    match r {
        Err(KallsymsError::NotFound { table, .. } | KallsymsError::NotFoundNear { table, .. }) => {
            table
        }
        other => panic!("expected NotFound, got {:?}", other.map(|k| k.layout)),
    }
}

#[test]
fn missing_tables_are_named() {
    assert_eq!(not_found(decode(&[], RODATA, &[])), Table::TokenTable);
    assert_eq!(
        not_found(decode(&[0; 4096], RODATA, &[])),
        Table::TokenTable
    );

    // A token index that does not match the token table.
    let mut s = synth::image(Variant::V6_4, 700, false);
    s.rodata[s.layout.token_index.start + 100] ^= 1;
    assert_eq!(not_found(decode_synth(&s)), Table::TokenTable);

    // Markers broken at the second entry: no run, or only the decoy.
    let mut s = synth::image(Variant::V6_4, 700, false);
    let m = s.layout.markers.start + 4;
    s.rodata[m..m + 4].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        not_found(decode_synth(&s)),
        Table::Markers | Table::Names
    ));

    // No symbol count: nothing before the names says how many there are.
    let mut s = synth::image(Variant::V6_1, 700, false);
    let at = s.layout.num_syms_at;
    s.rodata[at..at + 4].fill(0);
    assert_eq!(not_found(decode_synth(&s)), Table::Names);

    // Addresses out of order.
    for variant in Variant::ALL {
        let mut s = synth::image(variant, 700, false);
        let o = s.layout.offsets.start + 4 * 300;
        let (a, b) = (o, o + 4);
        for k in 0..4 {
            s.rodata.swap(a + k, b + k);
        }
        assert_eq!(not_found(decode_synth(&s)), Table::Offsets, "{variant:?}");
    }
}

#[test]
fn missing_seqs_of_names_is_not_an_error() {
    let mut s = synth::image(Variant::V6_4, 700, false);
    let (r, _) = s.layout.seqs_of_names.clone().unwrap();
    s.rodata[r.start..r.start + 6].fill(0xff);
    let k = decode_synth(&s).unwrap();
    assert_eq!(k.layout.seqs_of_names, None);
    assert_eq!(k.symbols, s.symbols);
}

fn corrupt(r: Result<Vec<Symbol>, KallsymsError>) -> (Table, usize, String) {
    match r {
        Err(KallsymsError::Corrupt {
            table,
            offset,
            reason,
        }) => (table, offset, reason),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn decoding_a_known_layout_checks_everything() {
    let s = synth::image(Variant::V6_4, 700, true);
    let l = &s.layout;
    assert_eq!(decode_with_layout(&s.rodata, l).unwrap(), s.symbols);

    // A zero-length name.
    let mut ro = s.rodata.clone();
    ro[l.names.start] = 0;
    let (t, off, why) = corrupt(decode_with_layout(&ro, l));
    assert_eq!((t, off), (Table::Names, l.names.start));
    assert!(why.contains("entry 0 has length 0"), "{why}");

    // A marker that points elsewhere.
    let mut ro = s.rodata.clone();
    ro[l.markers.start + 4] ^= 1;
    let (t, off, _) = corrupt(decode_with_layout(&ro, l));
    assert_eq!((t, off), (Table::Markers, l.markers.start + 4));

    // A type "letter" that is a digit: entry 0's first token becomes "7".
    let mut ro = s.rodata.clone();
    let first = if ro[l.names.start] & 0x80 == 0 { 1 } else { 2 };
    ro[l.names.start + first] = b'7';
    let (t, _, why) = corrupt(decode_with_layout(&ro, l));
    assert_eq!(t, Table::Names);
    assert!(why.contains("not an nm type letter"), "{why}");

    // An unprintable token.
    let mut ro = s.rodata.clone();
    ro[l.token_table.start] = 0x07;
    let (t, off, _) = corrupt(decode_with_layout(&ro, l));
    assert_eq!((t, off), (Table::TokenTable, l.token_table.start));

    // A relative base that differs from the layout's.
    let mut ro = s.rodata.clone();
    ro[l.relative_base_at.unwrap()] ^= 0x10;
    let (t, _, _) = corrupt(decode_with_layout(&ro, l));
    assert_eq!(t, Table::RelativeBase);

    // A count that differs from the stored one.
    let mut l2 = l.clone();
    l2.num_syms -= 1;
    let (t, _, _) = corrupt(decode_with_layout(&s.rodata, &l2));
    assert_eq!(t, Table::NumSyms);

    // Too many symbols.
    let mut l2 = l.clone();
    l2.num_syms = MAX_SYMBOLS + 1;
    assert!(matches!(
        decode_with_layout(&s.rodata, &l2),
        Err(KallsymsError::TooManySymbols { .. })
    ));

    // Truncated .rodata.
    let cut = &s.rodata[..l.offsets.start + 16];
    assert!(matches!(
        decode_with_layout(cut, l),
        Err(KallsymsError::Truncated { .. })
    ));

    // Names that end before the table's end.
    let mut l2 = l.clone();
    l2.names.end += 1;
    let (t, _, why) = corrupt(decode_with_layout(&s.rodata, &l2));
    assert_eq!(t, Table::Names);
    assert!(why.contains("entries end at"), "{why}");
}

#[test]
fn errors_say_what_and_where() {
    let e = KallsymsError::Corrupt {
        table: Table::Markers,
        offset: 0x2c8004,
        reason: "marker 1 is 0x1, but entry 256 starts at 0x1f3a in kallsyms_names".into(),
    };
    assert_eq!(
        e.to_string(),
        "kallsyms_markers at .rodata+0x2c8004: marker 1 is 0x1, but entry 256 starts at 0x1f3a \
         in kallsyms_names"
    );
    let e = KallsymsError::Truncated {
        table: Table::Offsets,
        offset: 0x10,
        len: 4,
    };
    assert_eq!(
        e.to_string(),
        "kallsyms_offsets truncated: 4 bytes at .rodata+0x10 run past the end of .rodata"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = decode(&data, RODATA, &[]);
        let s = synth::sections(Variant::V6_4, data.len());
        let _ = decode(&data, RODATA, &s);
    }

    #[test]
    fn corrupt_tables_never_panic(
        variant in prop::sample::select(Variant::ALL.to_vec()),
        writes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let s = synth::image(variant, 300, false);
        let mut ro = s.rodata.clone();
        for (at, v) in &writes {
            let i = at.index(ro.len());
            ro[i] = *v;
        }
        if truncate {
            ro.truncate(cut.index(ro.len()));
        }
        if let Ok(k) = decode(&ro, RODATA, &s.sections) {
            prop_assert_eq!(k.symbols.len(), k.layout.num_syms as usize);
            prop_assert!(k.symbols.windows(2).all(|w| w[0].addr <= w[1].addr));
        }
        let _ = decode_with_layout(&ro, &s.layout);
    }
}

#[test]
fn hopeless_searches_end_quickly() {
    // Valid names and tokens, no offsets, and megabytes of zeros that read as sorted
    // place-relative addresses when there are no sections to say otherwise: the locator
    // looks where the layouts put the offsets, nowhere else.
    let mut s = synth::image(Variant::V6_4, 2000, false);
    let r = s.layout.offsets.clone();
    s.rodata[r.clone()].fill(0xff);
    s.rodata.extend(std::iter::repeat_n(0u8, 2 << 20));
    let t = std::time::Instant::now();
    for sections in [vec![], synth::sections(Variant::V6_4, s.rodata.len())] {
        let e = decode(&s.rodata, RODATA, &sections).unwrap_err();
        assert!(
            matches!(e, KallsymsError::NotFoundNear { table: Table::Offsets, offset, .. } if offset == r.start),
            "{e}"
        );
    }
    // Linear, bounded work (the locator's own limits): well under a second in a debug build.
    eprintln!("hopeless searches took {:?}", t.elapsed());
}

/// 7.x symbols with one text symbol outside the executable sections, as 7.2 has
/// (`T __end_rodata`, past the end of .rodata): the tables must still be found.
#[test]
fn a_few_odd_symbols_do_not_hide_the_tables() {
    let mut symbols = synth::symbols(Variant::V7_0, 2000, false, 7);
    let banner = symbols
        .iter()
        .position(|s| s.name == "linux_banner")
        .unwrap();
    let addr = symbols[banner].addr + 0x20;
    symbols.insert(
        banner + 1,
        Symbol {
            name: "__end_rodata".into(),
            addr,
            kind: 'T',
        },
    );
    let s = synth::build(Variant::V7_0, symbols, 7);
    let k = decode_synth(&s).unwrap();
    assert_eq!(k.layout, s.layout);
    assert_eq!(k.symbols, s.symbols);
    assert_eq!(k.layout.version_hint(), "7.0 or later");
}

/// Every variant at several sizes (one to eight markers; 6.2 with seqs_of_names between
/// the markers and the token table).
#[test]
fn every_variant_at_several_sizes() {
    for variant in Variant::ALL {
        for n in [300, 700, 2000] {
            let s = synth::image(variant, n, false);
            let k = decode_synth(&s).unwrap_or_else(|e| panic!("{variant:?} n={n}: {e}"));
            assert_eq!(k.layout, s.layout, "{variant:?} n={n}");
        }
    }
}

/// The Debian sid kernel 7.2.13+deb14-cloud-amd64 (place-relative offsets, no relative
/// base, 4-aligned tables): too big to commit, so read from the fixture's cache
/// (`scripts/guest setup --kernel newest` while sid shipped 7.2.13), or from
/// `QMDB_KERNEL_7_2`. Fails, naming the path, if it is missing.
#[test]
#[ignore = "needs the Debian 7.2 vmlinuz (QMDB_KERNEL_7_2)"]
fn kallsyms_of_debian_7_2() {
    let path = std::env::var_os("QMDB_KERNEL_7_2").map_or_else(
        || {
            let cache = std::env::var_os("QMDB_CACHE").map_or_else(
                || {
                    std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/qmdb")
                },
                std::path::PathBuf::from,
            );
            cache.join("kernels/7.2.13+deb14-cloud-amd64/vmlinuz")
        },
        std::path::PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: unpack linux-image-7.2.13+deb14-cloud-amd64 or set QMDB_KERNEL_7_2",
        path.display()
    );
    let image = crate::KernelImage::open(&path).unwrap();
    let t = std::time::Instant::now();
    let k = decode_image(&image).unwrap();
    eprintln!(
        "7.2: {} symbols in {:.1} ms; {}",
        k.symbols.len(),
        t.elapsed().as_secs_f64() * 1e3,
        k.layout.encoding
    );
    let l = &k.layout;
    assert_eq!(l.encoding, AddressEncoding::PcRelative);
    assert_eq!(l.relative_base_at, None);
    assert_eq!(l.version_hint(), "7.0 or later");
    assert_eq!(l.seqs_of_names.as_ref().map(|s| s.1), Some(3));
    assert_eq!(
        l.seqs_of_names.as_ref().map(|s| s.0.start),
        Some(l.offsets.end)
    );
    // 7.0+ order: num_syms, names, markers, token_table, token_index, offsets, seqs.
    let order: Vec<Table> = l.tables().into_iter().map(|(t, _)| t).collect();
    use Table::*;
    assert_eq!(
        order,
        [
            NumSyms,
            Names,
            Markers,
            TokenTable,
            TokenIndex,
            Offsets,
            SeqsOfNames
        ]
    );
    assert_eq!(k.symbols.len(), 186_798);
    assert!(k.symbols.windows(2).all(|w| w[0].addr <= w[1].addr));
    let find = |name: &str| {
        k.symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let rodata = image.section(".rodata").unwrap();
    let text = image.section(".text").unwrap();
    let banner = find("linux_banner");
    assert_eq!(banner.kind, 'D');
    let at = usize::try_from(banner.addr - rodata.addr).unwrap();
    assert!(rodata.data[at..].starts_with(b"Linux version 7.2.13+deb14-cloud-amd64 "));
    assert_eq!(find("_text").addr, 0xffff_ffff_8100_0000);
    assert_eq!(find("_stext").addr, 0xffff_ffff_8100_0000);
    assert_eq!(find("_etext").addr, text.addr + text.data.len() as u64);
    let in_text = |a: u64| a >= text.addr && a < text.addr + text.data.len() as u64;
    for name in ["__schedule", "schedule", "do_syscall_64"] {
        let s = find(name);
        assert!(
            s.kind.eq_ignore_ascii_case(&'t') && in_text(s.addr),
            "{s:?}"
        );
    }
    let data = image.section(".data").unwrap();
    let init_task = find("init_task");
    // This kernel's .data is flagged writable and executable (WAX), so nm types what is in
    // it 'T'.
    assert_eq!(init_task.kind, 'T');
    assert!(init_task.addr >= data.addr && init_task.addr < data.addr + data.data.len() as u64);
    // No absolute per-CPU symbols since 6.15: runqueues is inside .data..percpu.
    let percpu = image.section(".data..percpu").unwrap();
    let rq = find("runqueues");
    assert!(rq.addr >= percpu.addr && rq.addr < percpu.addr + percpu.data.len() as u64);
}

/// Writes one small synthetic image of each layout era to fuzz/seeds/kallsyms (run with
/// `QMDB_WRITE_FUZZ_SEEDS=1 cargo test -p qmdb-kernel --lib write_fuzz_seeds -- --ignored`).
/// Their lengths are even, so the fuzz target checks them with sections.
#[test]
#[ignore = "writes fuzz/seeds/kallsyms"]
fn write_fuzz_seeds() {
    if std::env::var_os("QMDB_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/kallsyms");
    for variant in Variant::ALL {
        // Two groups of names, the second short; V7_0 with a two-byte name length.
        let symbols = synth::symbols(variant, 260, variant == Variant::V7_0, 42);
        let mut s = synth::build_with(variant, symbols, 42, false);
        if s.rodata.len() % 2 == 1 {
            s.rodata.push(0);
        }
        // The sections fuzz/fuzz_targets/kallsyms.rs gives even-length inputs.
        let sections = [
            SectionRange {
                addr: synth::TEXT,
                size: synth::TEXT_SIZE,
                exec: true,
            },
            SectionRange {
                addr: synth::INIT_TEXT,
                size: synth::INIT_TEXT_SIZE,
                exec: true,
            },
            SectionRange {
                addr: synth::TEXT,
                size: synth::BSS + synth::BSS_SIZE - synth::TEXT,
                exec: false,
            },
        ];
        assert_eq!(sections[2].size, 0x0280_0000);
        let k = decode(&s.rodata, RODATA, &sections).unwrap();
        assert_eq!(k.symbols, s.symbols);
        let name = format!("synth-{variant:?}").to_lowercase();
        std::fs::write(dir.join(name), &s.rodata).unwrap();
    }
}
