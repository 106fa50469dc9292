//! [`Session::repeat_last`]: what a blank line at the prompt does, as in mdb.

use super::*;
use qmdb_linux::mock::MockStop;

fn target() -> MockTarget {
    MockTarget::new().with_u64s(
        0x1000,
        &[
            0x1111111111111111,
            0x2222222222222222,
            0x3333333333333333,
            0x4444444444444444,
            0x5555555555555555,
            0x6666666666666666,
        ],
    )
}

/// The transcript of a repeat.
fn again(s: &mut Session) -> String {
    let mut out = CaptureOutput::new();
    let o = s.repeat_last(&mut out);
    assert!(!o.quit && !o.fatal);
    out.text().to_string()
}

#[test]
fn nothing_to_repeat_does_nothing() {
    let (mut s, _) = session_on(target());
    assert_eq!(again(&mut s), "");
    assert_eq!(s.repeat_line(), None);
}

#[test]
fn a_display_goes_on_with_the_next_units() {
    let (mut s, _) = session_on(target());
    assert_eq!(text(&mut s, "1000/X"), "1000:           11111111\n");
    assert_eq!(again(&mut s), "1004:           11111111\n");
    assert_eq!(s.dot(), VirtAddr(0x1004));
    assert_eq!(again(&mut s), "1008:           22222222\n");
    // The same as one display of three.
    let (mut t, _) = session_on(target());
    assert_eq!(
        text(&mut t, "1000,3/X"),
        "1000:           11111111 11111111 22222222\n"
    );
    // A blank line given to execute (a script's) changes nothing.
    assert_eq!(text(&mut s, ""), "");
    assert_eq!(again(&mut s), "100c:           22222222\n");
}

#[test]
fn a_display_with_a_count_shows_the_next_count_units() {
    let (mut s, _) = session_on(target());
    assert_eq!(
        text(&mut s, "1000,2/K"),
        "1000:           1111111111111111 2222222222222222\n"
    );
    assert_eq!(
        again(&mut s),
        "1010:           3333333333333333 4444444444444444\n"
    );
    assert_eq!(s.repeat_line(), Some("0x1020,0x2/K"));
    // Several format characters, and division inside parentheses before the '/'.
    assert_eq!(
        text(&mut s, "(2000/2)/2X"),
        "1000:           11111111 11111111\n"
    );
    assert_eq!(again(&mut s), "1008:           22222222 22222222\n");
}

#[test]
fn the_last_command_of_the_line_decides() {
    let (mut s, _) = session_on(target());
    assert_eq!(
        text(&mut s, "1=X; 1000/K"),
        "                1\n1000:           1111111111111111\n"
    );
    assert_eq!(again(&mut s), "1008:           2222222222222222\n");
    assert_eq!(
        text(&mut s, "1000/K; 2=X"),
        "1000:           1111111111111111\n                2\n"
    );
    assert_eq!(
        again(&mut s),
        "1000:           1111111111111111\n                2\n"
    );
}

#[test]
fn other_commands_and_failed_displays_run_again_as_they_were() {
    let (mut s, _) = session_on(target());
    assert_eq!(text(&mut s, "5=D"), "                5\n");
    assert_eq!(again(&mut s), "                5\n");
    // A pipeline ending in a display is not continued.
    text(&mut s, "1000,2/K | /X");
    assert_eq!(s.repeat_line(), Some("1000,2/K | /X"));
    let t = text(&mut s, "9000/K");
    assert!(t.starts_with("qmdb: "), "{t}");
    assert_eq!(again(&mut s), t);
    // Only the last command's display counts.
    let t = text(&mut s, "1000/K; 9000/K");
    assert_eq!(s.repeat_line(), Some("1000/K; 9000/K"));
    assert_eq!(again(&mut s), t);
}

const DO_WORK: u64 = 0xffffffff81000100;

#[test]
fn a_step_steps_again() {
    // do_work: push %rbp; push %rbp; push %rbp; ret.
    let target = MockTarget::new().with_bytes(DO_WORK, &[0x55, 0x55, 0x55, 0xc3]);
    let (mut s, shared) = session_on(target);
    s.set_symbols(Box::new(TEST_SYMBOLS));
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK,
        rsp: Some(0x1000),
        ..MockStop::default()
    });
    text(&mut s, "do_work::bp; :c; ::delete all");
    for (i, rsp) in [(1u64, 0xff8u64), (2, 0xff0)] {
        shared.borrow_mut().stops.push_back(MockStop {
            vcpu: 0,
            rip: DO_WORK + i,
            rsp: Some(rsp),
            on_step: true,
            ..MockStop::default()
        });
    }
    let t = text(&mut s, ":s");
    assert!(t.starts_with("stopped: step, vCPU 0\ndo_work+0x1:"), "{t}");
    let t = again(&mut s);
    assert!(t.starts_with("stopped: step, vCPU 0\ndo_work+0x2:"), "{t}");
    let steps = shared
        .borrow()
        .run_log
        .iter()
        .filter(|l| l.starts_with("step"))
        .count();
    assert_eq!(steps, 2);
}
