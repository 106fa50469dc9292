//! `::walk list` and pipelines against the mock target.

use super::*;

/// Lists in memory (each node: next pointer, then a payload word):
/// - 5000: a ring 5000 -> 5100 -> 5200 -> 5000;
/// - 6000: 6000 -> 6100 -> 6200 -> 6300 -> 6200, a cycle that avoids the head;
/// - 7000: 7000 -> 7100 -> NULL;
/// - 8000: 8000 -> 8100 -> dead000, a pointer into a hole;
/// - 9000: nodes embedding their link at +10: 9000 -> 9100 -> 9200 -> 9000, where only
///   9100's link (9110..9118) is mapped, not the start of the node.
fn lists() -> MockTarget {
    MockTarget::new()
        .with_u64s(0x5000, &[0x5100, 0x50])
        .with_u64s(0x5100, &[0x5200, 0x51])
        .with_u64s(0x5200, &[0x5000, 0x52])
        .with_u64s(0x6000, &[0x6100])
        .with_u64s(0x6100, &[0x6200])
        .with_u64s(0x6200, &[0x6300])
        .with_u64s(0x6300, &[0x6200])
        .with_u64s(0x7000, &[0x7100])
        .with_u64s(0x7100, &[0])
        .with_u64s(0x8000, &[0x8100])
        .with_u64s(0x8100, &[0xdead000])
        .with_u64s(0x9000, &[0, 0, 0x9110])
        .with_u64s(0x9110, &[0x9210])
        .with_u64s(0x9200, &[0xabcd, 0, 0x9010])
}

#[test]
fn a_ring_ends_back_at_its_head() {
    let (mut s, _) = session_on(lists());
    let (outcome, out) = run(&mut s, "5000::walk list");
    assert_eq!(out.text(), "5100\n5200\n");
    assert!(outcome.all_ok);
    assert_eq!(text(&mut s, "5000::walk list -i"), "5000\n5100\n5200\n");
}

#[test]
fn a_cycle_that_avoids_the_head_ends_the_walk_with_an_error() {
    let (mut s, _) = session_on(lists());
    let (outcome, out) = run(&mut s, "6000::walk list; 1=X");
    assert_eq!(
        out.text(),
        "6100\n6200\n6300\n\
         qmdb: list at 6000: node 6200 (from 6300) was already visited: a cycle after 3 \
         nodes\n                1\n"
    );
    assert!(!outcome.all_ok);
    assert_eq!(out.records().len(), 2);
    assert!(out.records()[1].ok);
}

#[test]
fn null_ends_a_chain() {
    let (mut s, _) = session_on(lists());
    let (outcome, out) = run(&mut s, "7000::walk list");
    assert_eq!(out.text(), "7100\n");
    assert!(outcome.all_ok);
    assert_eq!(text(&mut s, "7000::walk list -s"), "7000\n7100\n");
}

#[test]
fn a_pointer_into_a_hole_is_reported_not_emitted() {
    let (mut s, _) = session_on(lists());
    let (outcome, out) = run(&mut s, "8000::walk list");
    assert_eq!(
        out.text(),
        "8100\nqmdb: failed to read next pointer at dead000: no mapping\n"
    );
    assert!(!outcome.all_ok);
    assert_eq!(
        text(&mut s, "dead000::walk list"),
        "qmdb: failed to read next pointer at dead000: no mapping\n"
    );
}

#[test]
fn the_walk_limit_bounds_every_walk() {
    let (mut s, _) = session_on(lists());
    s.set_walk_limit(1);
    assert_eq!(
        text(&mut s, "5000::walk list"),
        "5100\nqmdb: walk 'list' stopped after 1 steps (the walk limit)\n"
    );
}

#[test]
fn walk_results_pipe_into_formats() {
    let (mut s, _) = session_on(lists());
    let (outcome, out) = run(&mut s, "5000::walk list | /K");
    assert_eq!(out.text(), "5100:           5200\n5200:           5000\n");
    assert!(outcome.all_ok);
    assert_eq!(s.dot(), VirtAddr(0x5200));
    assert_eq!(
        text(&mut s, "5000::walk list | /K | =K"),
        "                5200\n                5000\n"
    );
    assert_eq!(
        text(&mut s, "5000::walk list | ::walk list"),
        "5200\n5000\n5000\n5100\n"
    );
    assert_eq!(
        text(&mut s, "5000,2/K | ::walk list -s"),
        "5100\n5200\n5000\nqmdb: failed to read next pointer at 50: no mapping\n"
    );
}

#[test]
fn one_bad_address_in_a_pipe_does_not_stop_the_others() {
    let (mut s, _) = session_on(lists());
    let (outcome, out) = run(&mut s, "9000::walk list -o 10 | /K");
    assert_eq!(
        out.text(),
        "qmdb: failed to read 8 bytes at 9100: no mapping\n9200:           abcd\n"
    );
    assert!(!outcome.all_ok);
    let (_, out) = run(&mut s, "5000::walk list | ::cpus");
    assert_eq!(
        out.text(),
        "qmdb: ::cpus: does not take an address (usage: ::cpus)\n".repeat(2)
    );
}

#[test]
fn a_count_runs_a_dcmd_that_many_times_with_one_header() {
    let (mut s, _) = session_on(lists());
    let out = text(&mut s, ",3::cpus");
    assert_eq!(out.matches("CPU THREAD").count(), 1);
    assert_eq!(out.lines().count(), 1 + 3 * 2);
    assert_eq!(text(&mut s, ",0::cpus"), "");
}

#[test]
fn walker_usage_errors() {
    let (mut s, _) = session_on(lists());
    assert_eq!(
        text(&mut s, "::walk list"),
        "qmdb: ::walk: walker 'list' needs a start address \
         (usage: addr::walk list [-o offset] [-s] [-i])\n"
    );
    assert_eq!(
        text(&mut s, "::walk nosuch"),
        "qmdb: unknown walker 'nosuch' (see ::walkers)\n"
    );
    assert_eq!(
        text(&mut s, "::walk"),
        "qmdb: ::walk: missing walker name (usage: [addr]::walk name [walker-args])\n"
    );
    assert_eq!(
        text(&mut s, "5000::walk list -q"),
        "qmdb: ::walk list: unknown option -q\n"
    );
    assert_eq!(
        text(&mut s, "5000::walk list extra"),
        "qmdb: ::walk list: unexpected argument 'extra'\n"
    );
}

#[test]
fn an_interrupt_stops_a_long_walk_and_the_rest_of_the_line() {
    // A 500-node chain, one page per node so that every step costs a request.
    let mut target = MockTarget::new();
    for i in 0..500u64 {
        let node = 0x10_0000 + i * 0x1000;
        target = target.with_u64s(node, &[node + 0x1000]);
    }
    let (mut s, shared) = session_on(target);
    shared.borrow_mut().interrupt_after = Some((20, s.interrupt_flag()));
    let (outcome, out) = run(&mut s, "100000::walk list -s; 1=X");
    assert!(outcome.interrupted && !outcome.all_ok);
    assert!(
        out.text().ends_with("qmdb: interrupted\n"),
        "{}",
        out.text()
    );
    assert_eq!(
        out.records().len(),
        1,
        "the command after the interrupted one did not run"
    );
    let walked = out.text().lines().count() - 1;
    assert!(
        (15..=25).contains(&walked),
        "stopped near the 20th request: {walked}"
    );
    shared.borrow_mut().interrupt_after = None;
    let (outcome, out) = run(&mut s, "1=X");
    assert!(
        outcome.all_ok && !outcome.interrupted,
        "the next line runs normally"
    );
    assert_eq!(out.text(), "                1\n");
}
