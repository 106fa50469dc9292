//! Session behaviour: errors, fatal errors, variables, and that nothing panics.

use super::*;
use proptest::prelude::*;

fn target() -> MockTarget {
    MockTarget::new()
        .with_u64s(0x1000, &[0x1122334455667788, 0xffffffff81000010, 0x1000])
        .with_bytes(0x2000, b"Linux\0")
}

#[test]
fn every_command_runs_after_a_failure() {
    let (mut s, _) = session_on(target());
    let (outcome, out) = run(&mut s, "::foo; 1=X\n1+; 2=X; (1/0)=X; 3=X");
    assert_eq!(
        out.text(),
        "qmdb: unknown dcmd 'foo' (see ::dcmds)\n                1\n\
         qmdb: syntax error at line 2, column 3: expected an expression, found the end of \
         the command\n                2\nqmdb: division by zero\n                3\n"
    );
    assert!(!outcome.all_ok);
    assert!(!outcome.fatal);
    assert_eq!(out.records().len(), 6);
    assert_eq!(out.records()[2].command, "1+");
}

#[test]
fn unknown_dcmds_are_found_before_anything_runs() {
    let (mut s, _) = session_on(target());
    assert_eq!(
        text(&mut s, "1000,2/K | ::nosuch"),
        "qmdb: unknown dcmd 'nosuch' (see ::dcmds)\n"
    );
}

#[test]
fn a_lost_connection_stops_the_line() {
    let (mut s, shared) = session_on(target());
    shared.borrow_mut().disconnected = true;
    let (outcome, out) = run(&mut s, "1000/K; 1=X");
    assert_eq!(out.text(), "qmdb: the stub closed the connection\n");
    assert!(outcome.fatal);
    assert!(!outcome.all_ok);
    let (outcome, out) = run(&mut s, "1000::walk list; 1=X");
    assert_eq!(out.text(), "qmdb: the stub closed the connection\n");
    assert!(outcome.fatal);
}

#[test]
fn variables() {
    let (mut s, _) = session_on(target());
    assert_eq!(text(&mut s, "1234>foo; <foo+1=K"), "                1235\n");
    assert_eq!(s.variable("foo"), Some(0x1234));
    assert_eq!(
        text(&mut s, "1>rip"),
        "qmdb: refused: 'rip' is a register, and qmdb does not write registers\n"
    );
    assert_eq!(
        text(&mut s, "<nosuch=K"),
        "qmdb: unknown register or variable 'nosuch'\n"
    );
}

#[test]
fn counts_are_bounded() {
    let (mut s, _) = session_on(target());
    assert_eq!(
        text(&mut s, "1000,ffffffff/K"),
        "qmdb: ,count: 0xffffffff is more than the limit of 0x100000\n"
    );
}

#[test]
fn nothing_is_written_and_reads_are_few() {
    let (mut s, shared) = session_on(target());
    let before = shared.borrow().requests;
    assert_eq!(
        text(&mut s, "1000,3/K"),
        "1000:           1122334455667788 ffffffff81000010\n1010:           1000\n"
    );
    assert_eq!(
        shared.borrow().requests - before,
        1,
        "one read-ahead request"
    );
}

/// A session for random lines: its guest is interrupted as soon as it is resumed, since a
/// random line may hold `:c`, which would otherwise wait for ever for a stop the mock never
/// makes (seen: one `cargo test` run in about a hundred hung there).
fn session_for_random_lines() -> Session {
    let (s, shared) = session_on(target());
    shared.borrow_mut().interrupt_on_resume = Some((1, s.interrupt_flag()));
    s
}

#[test]
fn a_random_continue_is_interrupted_not_waited_for() {
    let mut s = session_for_random_lines();
    let (o, out) = run(&mut s, ":c");
    assert!(o.interrupted, "{}", out.text());
    assert!(
        out.text().starts_with("stopped: interrupted"),
        "{}",
        out.text()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn execute_never_panics(line in "\\PC{0,40}") {
        let mut s = session_for_random_lines();
        let _ = run(&mut s, &line);
    }

    #[test]
    fn mdb_like_lines_never_panic(
        line in "[0-9a-fx<>()*/%+~!|&^,.=;:'\" \nKXBsSpacCiI-]{0,40}"
    ) {
        let mut s = session_for_random_lines();
        let _ = run(&mut s, &line);
    }
}
