//! `/fmt` and `=fmt` against the mock target.

use super::*;

fn target() -> MockTarget {
    MockTarget::new()
        .with_u64s(0x1000, &[0x1122334455667788, 0xffffffff81000010, 3, 4])
        .with_bytes(0x2000, b"Linux version 6.1\n\0rest")
        .with_bytes(0x3000, b"abc")
        .with_u64s(
            0xffffffff81000000,
            &[0xffffffff81000010, 0x90, 0xffffffffffffffff],
        )
}

#[test]
fn numeric_formats_lay_out_16_bytes_a_line() {
    let (mut s, _) = session_on(target());
    assert_eq!(text(&mut s, "1000/K"), "1000:           1122334455667788\n");
    assert_eq!(
        text(&mut s, "1000,4/K"),
        "1000:           1122334455667788 ffffffff81000010\n\
         1010:           3                4\n"
    );
    assert_eq!(text(&mut s, "1000,4/K"), text(&mut s, "1000/4K"));
    assert_eq!(
        text(&mut s, "1000/6X"),
        "1000:           55667788 11223344 81000010 ffffffff\n\
         1010:           3        0\n"
    );
    assert_eq!(
        text(&mut s, "1000/10B"),
        "1000:           88 77 66 55 44 33 22 11 10 0\n"
    );
    assert_eq!(text(&mut s, "1000/2x"), "1000:           7788 5566\n");
    assert_eq!(
        text(&mut s, "1000/dudu"),
        "1000:           30600  21862 13124  4386\n"
    );
    assert_eq!(
        text(&mut s, "1010/DUEe"),
        "1010:           3           0          4\n\
         qmdb: failed to read 8 bytes at 1020: no mapping\n"
    );
}

#[test]
fn the_count_is_an_expression_in_hex() {
    let (mut s, _) = session_on(target());
    let out = text(&mut s, "1000,10/B");
    assert_eq!(
        out,
        "1000:           88 77 66 55 44 33 22 11 10 0  0  81 ff ff ff ff\n"
    );
    assert_eq!(text(&mut s, "1000,0t2/K"), text(&mut s, "1000,2/K"));
}

#[test]
fn a_read_into_a_hole_shows_what_was_read_then_fails() {
    let (mut s, _) = session_on(target());
    let (outcome, out) = run(&mut s, "1000,5/K; 1=X");
    assert_eq!(
        out.text(),
        "1000:           1122334455667788 ffffffff81000010\n\
         1010:           3                4\n\
         qmdb: failed to read 8 bytes at 1020: no mapping\n                1\n"
    );
    assert!(!outcome.all_ok);
    assert!(!outcome.fatal);
    let recs = out.records();
    assert_eq!(recs.len(), 2);
    assert!(!recs[0].ok);
    assert_eq!(
        recs[0].error.as_deref(),
        Some("failed to read 8 bytes at 1020: no mapping")
    );
    assert!(recs[1].ok);
    // A read that straddles the end of a mapping fails for the whole item.
    assert_eq!(
        text(&mut s, "1001/4K"),
        "1001:           1011223344556677 3ffffffff810000\n\
         1011:           400000000000000\n\
         qmdb: failed to read 8 bytes at 1019: no mapping\n"
    );
    assert_eq!(
        text(&mut s, "dead0000/X"),
        "qmdb: failed to read 4 bytes at dead0000: no mapping\n"
    );
}

#[test]
fn strings_and_characters() {
    let (mut s, _) = session_on(target());
    assert_eq!(
        text(&mut s, "2000/s"),
        "2000:           Linux version 6.1\\n\n"
    );
    assert_eq!(
        text(&mut s, "2000/ss"),
        "2000:           Linux version 6.1\\n\n2013:           rest\n\
         qmdb: failed to read string at 2017: no mapping\n"
    );
    assert_eq!(text(&mut s, "2000/5c"), "2000:           Linux\n");
    assert_eq!(text(&mut s, "2011/C"), "2011:           \\n\n");
    // A string that runs into a hole: what was read, then the error.
    assert_eq!(
        text(&mut s, "3000/s"),
        "3000:           abc\nqmdb: failed to read string at 3003: no mapping\n"
    );
    assert_eq!(
        text(&mut s, "4000/s"),
        "qmdb: failed to read string at 4000: no mapping\n"
    );
}

#[test]
fn values_format_the_expression_itself() {
    let (mut s, _) = session_on(target());
    assert_eq!(text(&mut s, "0t10=X"), "                a\n");
    assert_eq!(text(&mut s, "-1=D"), "                -1\n");
    assert_eq!(text(&mut s, "123456789=X"), "                23456789\n");
    assert_eq!(text(&mut s, "ffff=K"), "                ffff\n");
    assert_eq!(text(&mut s, "0t8=O"), "                010\n");
    assert_eq!(text(&mut s, "'A'=c"), "                A\n");
    assert_eq!(text(&mut s, "10=XD"), "                10       16\n");
    assert_eq!(text(&mut s, "(0t100/0t7)=U"), "                14\n");
    assert_eq!(
        text(&mut s, "1=s"),
        "qmdb: =: format 's' reads memory; use '/' instead\n"
    );
    assert_eq!(
        text(&mut s, "1=i"),
        "qmdb: =: format 'i' reads memory; use '/' instead\n"
    );
}

#[test]
fn symbols_label_lines_and_resolve_names() {
    let (mut s, _) = session_on(target());
    s.set_symbols(Box::new(TEST_SYMBOLS));
    assert_eq!(
        text(&mut s, "_text,2/K"),
        "_text:\n_text:          ffffffff81000010 90\n"
    );
    assert_eq!(text(&mut s, "_text+8/K"), "_text+0x8:      90\n");
    assert_eq!(
        text(&mut s, "_text/p"),
        "_text:\n_text:          _text+0x10\n"
    );
    assert_eq!(text(&mut s, "<rip=p"), "                _text+0x10\n");
    assert_eq!(text(&mut s, "<rip=a"), "                _text+0x10:\n");
    assert_eq!(
        text(&mut s, "*_text=K"),
        "                ffffffff81000010\n"
    );
    assert_eq!(
        text(&mut s, "_text+10/K"),
        "_text+0x10:     ffffffffffffffff\n"
    );
}

#[test]
fn dot_is_the_last_address() {
    let (mut s, _) = session_on(target());
    assert_eq!(text(&mut s, "1008"), "");
    assert_eq!(s.dot(), VirtAddr(0x1008));
    assert_eq!(text(&mut s, "/K"), "1008:           ffffffff81000010\n");
    assert_eq!(text(&mut s, ".+8/K"), "1010:           3\n");
    assert_eq!(text(&mut s, ",2/X"), "1010:           3        0\n");
    assert_eq!(text(&mut s, ".=K"), "                1010\n");
}
