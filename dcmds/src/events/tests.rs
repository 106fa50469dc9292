//! Run control against [`MockTarget`]'s simulated stops.

use crate::output::CaptureOutput;
use crate::session::{ExecOutcome, Session};
use qmdb_bridge::BreakKind;
use qmdb_linux::mock::{MockShared, MockStop, MockTarget, TableSymbols};
use std::cell::RefCell;
use std::rc::Rc;

const DO_WORK: u64 = 0xffffffff81000100;
const HELPER: u64 = 0xffffffff81000110;
const COUNTER: u64 = 0xffffffff82000000;

const SYMS: TableSymbols = TableSymbols(&[
    ("do_work", DO_WORK, 0x10),
    ("helper", HELPER, 0x10),
    ("counter", COUNTER, 0x8),
]);

/// do_work: `push %rbp; call helper; pop %rbp; ret`; helper: `ret`.
fn session() -> (Session, Rc<RefCell<MockShared>>) {
    let mut code = vec![0x55, 0xe8];
    let rel = (HELPER as i64 - (DO_WORK as i64 + 6)) as i32;
    code.extend(rel.to_le_bytes());
    code.extend([0x5d, 0xc3]);
    let target = MockTarget::new()
        .with_bytes(DO_WORK, &code)
        .with_bytes(HELPER, &[0xc3])
        .with_u64s(COUNTER, &[0]);
    let shared = target.shared();
    let mut s = Session::new(Box::new(target));
    s.set_symbols(Box::new(SYMS));
    (s, shared)
}

fn run(s: &mut Session, line: &str) -> (ExecOutcome, CaptureOutput) {
    let mut out = CaptureOutput::new();
    let o = s.execute(line, &mut out);
    (o, out)
}

fn text(s: &mut Session, line: &str) -> String {
    run(s, line).1.text().to_string()
}

fn hit(vcpu: usize, rip: u64) -> MockStop {
    MockStop {
        vcpu,
        rip,
        ..MockStop::default()
    }
}

#[test]
fn a_breakpoint_is_planted_hit_reported_and_deleted() {
    let (mut s, shared) = session();
    let t = text(&mut s, "do_work::bp");
    assert_eq!(t, "breakpoint 1 at do_work (ffffffff81000100)\n");
    assert_eq!(
        shared.borrow().planted,
        vec![(BreakKind::Software, DO_WORK, 1)]
    );
    shared.borrow_mut().stops.push_back(hit(1, DO_WORK));
    let (o, out) = run(&mut s, "::cont -T 5");
    assert!(o.all_ok, "{}", out.text());
    let mut lines = out.text().lines();
    assert_eq!(
        lines.next(),
        Some("stopped: breakpoint 1 (do_work), hit 1, vCPU 1")
    );
    assert!(lines
        .next()
        .is_some_and(|l| l.starts_with("do_work:") && l.ends_with("pushq %rbp")));
    let rec = &out.records()[0].data[0];
    assert_eq!(rec["stop"], "breakpoint");
    assert_eq!(rec["event"], 1);
    assert_eq!(rec["vcpu"], 1);
    assert_eq!(rec["pc"], "0xffffffff81000100");
    assert_eq!(rec["symbol"], "do_work");
    assert_eq!(rec["offset"], 0);
    assert_eq!(rec["instruction"], "pushq %rbp");
    assert_eq!(rec["hits"], 1);
    // The vCPU that stopped is selected.
    assert_eq!(s.target().selected_vcpu().cpu_index(), 1);
    let ev = text(&mut s, "$b");
    assert!(
        ev.contains("  1 + bp          1 ffffffff81000100 do_work"),
        "{ev}"
    );
    assert_eq!(text(&mut s, "::delete 1"), "deleted event 1\n");
    assert!(shared.borrow().planted.is_empty());
    assert_eq!(text(&mut s, "::events"), "no events\n");
}

#[test]
fn callbacks_continue_until_the_hit_limit_then_the_timeout_halts() {
    let (mut s, shared) = session();
    let (o, out) = run(&mut s, "do_work::bp -c '<rip=K; :c' -n 3");
    assert!(o.all_ok, "{}", out.text());
    for _ in 0..3 {
        shared.borrow_mut().stops.push_back(hit(0, DO_WORK));
    }
    let (o, out) = run(&mut s, "::cont -T 0.3");
    assert!(o.all_ok, "{}", out.text());
    let t = out.text();
    assert_eq!(t.matches("stopped: breakpoint 1").count(), 3, "{t}");
    assert_eq!(t.matches("ffffffff81000100\n").count(), 3, "{t}");
    assert!(t.contains("hit 3"), "{t}");
    assert!(t.contains("stopped: timeout: halted after"), "{t}");
    // Disabled at the limit: gone from QEMU, still listed with its hits.
    assert!(shared.borrow().planted.is_empty());
    assert!(text(&mut s, "::events").contains("  1 - bp          3"));
    // Resuming from the breakpoint stepped off it first, with it removed.
    let log = shared.borrow().run_log.join(",");
    assert!(
        log.contains("z0 ffffffff81000100,step 0,Z0 ffffffff81000100,resume"),
        "{log}"
    );
    let data = &out.records()[0].data;
    assert_eq!(
        data.last().map(|d| d["stop"].clone()),
        Some("timeout".into())
    );
}

#[test]
fn a_callback_without_continue_stops_and_temporary_events_go() {
    let (mut s, shared) = session();
    text(&mut s, "do_work::bp -t -c '::events'");
    shared.borrow_mut().stops.push_back(hit(0, DO_WORK));
    let t = text(&mut s, ":c");
    assert!(t.contains("stopped: breakpoint 1 (do_work), hit 1"), "{t}");
    assert!(t.contains("-t -c '::events'"), "{t}");
    assert_eq!(text(&mut s, "::events"), "no events\n");
    assert!(shared.borrow().planted.is_empty());
}

#[test]
fn an_interrupt_halts_the_guest_and_ends_the_line() {
    let (mut s, shared) = session();
    shared.borrow_mut().interrupt_on_resume = Some((1, s.interrupt_flag()));
    let (o, out) = run(&mut s, "::cont; ::events");
    assert!(o.interrupted);
    assert!(
        out.text().starts_with("stopped: interrupted, vCPU 0\n"),
        "{}",
        out.text()
    );
    assert!(!out.text().contains("no events"));
    assert!(!shared.borrow().running);
}

#[test]
fn an_unexplained_stop_is_reported_as_such() {
    let (mut s, shared) = session();
    shared.borrow_mut().stops.push_back(hit(1, HELPER));
    let t = text(&mut s, "::cont");
    assert!(
        t.starts_with("stopped: signal 5, no qmdb event, vCPU 1\nhelper:"),
        "{t}"
    );
}

#[test]
fn watchpoints_are_checked_and_match_the_reported_address() {
    let (mut s, shared) = session();
    assert!(text(&mut s, "counter+1::wp -w -L 4").contains("not aligned"));
    assert!(text(&mut s, "counter::wp -w -L 3").contains("1, 2, 4 or 8"));
    assert!(text(&mut s, "counter::wp").contains("-r, -w or -rw"));
    assert_eq!(
        text(&mut s, "counter::wp -rw"),
        "watchpoint 1 at counter (ffffffff82000000), read/write, 8 bytes\n"
    );
    assert_eq!(
        shared.borrow().planted,
        vec![(BreakKind::Access, COUNTER, 8)]
    );
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK + 1,
        info: vec![("awatch".into(), format!("{:x}", COUNTER + 4))],
        ..MockStop::default()
    });
    let (_, out) = run(&mut s, ":c");
    assert!(
        out.text().starts_with(
            "stopped: watchpoint 1 (counter), hit 1, access at ffffffff82000004, vCPU 0\n"
        ),
        "{}",
        out.text()
    );
    assert_eq!(out.records()[0].data[0]["watch"], "0xffffffff82000004");
    assert!(text(&mut s, "$b").contains("wp/rw8"));
}

#[test]
fn steps_into_and_over_calls() {
    let (mut s, shared) = session();
    s.target_mut()
        .select_vcpu(qmdb_bridge::VcpuId { pid: 1, tid: 1 })
        .unwrap();
    // Put vCPU 0 on do_work's first instruction by a breakpoint stop.
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK,
        rsp: Some(0x1000),
        ..MockStop::default()
    });
    text(&mut s, "do_work::bp; :c; ::delete all");
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK + 1,
        rsp: Some(0xff8),
        on_step: true,
        ..MockStop::default()
    });
    let t = text(&mut s, ":s");
    assert!(t.starts_with("stopped: step, vCPU 0\ndo_work+0x1:"), "{t}");
    assert!(t.contains("call"), "{t}");
    // Over the call: an internal breakpoint after it; a hit at a deeper sp is ignored.
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK + 6,
        rsp: Some(0xf00),
        ..MockStop::default()
    });
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK + 6,
        rsp: Some(0xff8),
        ..MockStop::default()
    });
    let (o, out) = run(&mut s, "::step over -T 5");
    assert!(o.all_ok, "{}", out.text());
    assert!(
        out.text()
            .starts_with("stopped: step over, vCPU 0\ndo_work+0x6:"),
        "{}",
        out.text()
    );
    assert_eq!(out.text().matches("stopped").count(), 1);
    assert!(shared.borrow().planted.is_empty());
    let log = shared.borrow().run_log.join(",");
    assert!(log.ends_with("Z0 ffffffff81000106,resume,z0 ffffffff81000106,step 0,Z0 ffffffff81000106,resume,z0 ffffffff81000106"), "{log}");
    // Not a call: one instruction.
    let t = text(&mut s, ":e");
    assert!(
        t.starts_with("stopped: step over, vCPU 0\ndo_work+0x7:"),
        "{t}"
    );
}

#[test]
fn delete_all_keeps_sticky_events_and_options_are_checked() {
    let (mut s, shared) = session();
    text(&mut s, "::bp do_work helper+1; counter::bp -T");
    assert_eq!(shared.borrow().planted.len(), 3);
    assert_eq!(text(&mut s, ":z"), "deleted event 1\ndeleted event 2\n");
    assert_eq!(text(&mut s, "::disable 3"), "disabled event 3\n");
    assert!(shared.borrow().planted.is_empty());
    assert_eq!(text(&mut s, "::enable all"), "enabled event 3\n");
    assert_eq!(shared.borrow().planted.len(), 1);
    assert!(text(&mut s, "::delete 9").contains("no event 9"));
    assert!(text(&mut s, "do_work::bp -p 90").contains("-p needs the kernel"));
    assert!(text(&mut s, "::bp").contains("needs an address"));
    assert!(text(&mut s, "do_work::bp -n 0").contains("at least 1"));
    assert!(text(&mut s, "::bp do_work/K").contains("not a symbol"));
    assert!(text(&mut s, "::cont -T x").contains("bad timeout"));
}

/// Two events on one address each own a QEMU point (QEMU keeps duplicates and removes one
/// per `z`): a stop there hits both, and deleting one leaves the other planted and hit.
#[test]
fn two_breakpoints_on_one_address() {
    let (mut s, shared) = session();
    text(&mut s, "do_work::bp");
    text(&mut s, "do_work::bp -n 5");
    assert_eq!(
        shared.borrow().planted,
        vec![
            (BreakKind::Software, DO_WORK, 1),
            (BreakKind::Software, DO_WORK, 1)
        ]
    );
    shared.borrow_mut().stops.push_back(hit(0, DO_WORK));
    let (o, out) = run(&mut s, "::cont -T 5");
    assert!(o.all_ok, "{}", out.text());
    let rec = &out.records()[0].data[0];
    assert_eq!(rec["events"], serde_json::json!([1, 2]), "{rec}");
    assert_eq!(text(&mut s, "::delete 1"), "deleted event 1\n");
    assert_eq!(
        shared.borrow().planted,
        vec![(BreakKind::Software, DO_WORK, 1)]
    );
    shared.borrow_mut().stops.push_back(hit(0, DO_WORK));
    let (o, out) = run(&mut s, "::cont -T 5");
    assert!(o.all_ok, "{}", out.text());
    let rec = &out.records()[0].data[0];
    assert_eq!(rec["event"], 2, "{rec}");
    assert_eq!(rec["hits"], 2, "{rec}");
}

/// Continuing from a breakpoint steps its instruction first; a watchpoint that instruction
/// sets off is the stop (it is not stepped over and lost).
#[test]
fn a_watchpoint_hit_while_stepping_off_a_breakpoint_is_reported() {
    let (mut s, shared) = session();
    text(&mut s, "do_work::bp");
    text(&mut s, "counter::wp -w");
    shared.borrow_mut().stops.push_back(hit(0, DO_WORK));
    let (_, out) = run(&mut s, ":c");
    assert!(
        out.text().starts_with("stopped: breakpoint 1"),
        "{}",
        out.text()
    );
    shared.borrow_mut().stops.push_back(MockStop {
        vcpu: 0,
        rip: DO_WORK + 1,
        info: vec![("watch".into(), format!("{COUNTER:x}"))],
        on_step: true,
        ..MockStop::default()
    });
    let (o, out) = run(&mut s, "::cont -T 5");
    assert!(o.all_ok, "{}", out.text());
    assert!(
        out.text()
            .starts_with("stopped: watchpoint 2 (counter), hit 1, write at ffffffff82000000"),
        "{}",
        out.text()
    );
    let log = shared.borrow().run_log.clone();
    assert_eq!(
        log.iter().filter(|l| *l == "resume").count(),
        1,
        "resumed after the watchpoint stop: {log:?}"
    );
}

/// `::step` holds interrupts off; `::step -i` lets them in for that step only.
#[test]
fn step_interrupts_only_with_dash_i() {
    let (mut s, shared) = session();
    s.target_mut()
        .select_vcpu(qmdb_bridge::VcpuId { pid: 1, tid: 1 })
        .unwrap_or_else(|e| panic!("{e}"));
    for line in ["::step", "::step -i", "::step"] {
        let (o, out) = run(&mut s, line);
        assert!(o.all_ok, "{line}: {}", out.text());
    }
    assert_eq!(shared.borrow().step_interrupts, [false, true, false]);
}

/// gdb (through the proxy) runs the guest: an event whose callbacks continue goes on unseen
/// by gdb, one without callbacks (or one gdb's own point explains) is reported, a stop no
/// event explains deletes the `-t` events, and `$q` in a callback does not linger.
#[test]
fn front_end_stops() {
    use super::front_end::{at_stop, before_resume, clear, Verdict};
    use crate::output::Output;
    let (mut s, shared) = session();
    text(&mut s, "do_work::bp -c ':c'");
    text(&mut s, "helper::bp");
    text(&mut s, "do_work+1::bp -c '$q'");
    // The guest gdb resumed stops at `rip` (on vCPU 0).
    let verdict = |s: &mut Session, rip: u64, theirs: bool| {
        shared.borrow_mut().stops.push_back(hit(0, rip));
        s.target_mut().resume().unwrap_or_else(|e| panic!("{e}"));
        let reason = s
            .target_mut()
            .wait_for_stop(std::time::Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("a stop");
        let mut out = CaptureOutput::new();
        out.begin("stop");
        let v = {
            let mut sink = crate::sink::Sink::new(&mut out, None);
            at_stop(s, &mut sink, reason, theirs, crate::exec::execute_with)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        out.end();
        (v, out.text().to_string())
    };
    let (v, out) = verdict(&mut s, DO_WORK, false);
    assert_eq!(v, Verdict::GoOn, "{out}");
    assert!(
        out.starts_with("stopped: breakpoint 1 (do_work), hit 1"),
        "{out}"
    );
    assert_eq!(verdict(&mut s, DO_WORK, true).0, Verdict::Report);
    assert_eq!(verdict(&mut s, DO_WORK + 1, false).0, Verdict::Report);
    assert!(!s.quit_requested(), "$q in a callback lingers");
    assert_eq!(verdict(&mut s, HELPER, false).0, Verdict::Report);
    // A stop no event explains: reported, and the -t watchpoint is gone.
    text(&mut s, "counter::wp -w -t");
    assert!(text(&mut s, "$b").contains("wp/w8"));
    assert_eq!(verdict(&mut s, DO_WORK + 3, false).0, Verdict::Report);
    assert!(!text(&mut s, "$b").contains("wp/w8"));
    assert_eq!(
        before_resume(&mut s, true, None).unwrap_or_else(|e| panic!("{e}")),
        None
    );
    clear(&mut s).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.events().events().is_empty());
    assert!(shared.borrow().planted.is_empty());
}
