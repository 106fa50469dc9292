//! The Linux dcmds (`::walk thread`, `::ps`, `::findstack`, `::stacks`, `::cpuinfo`) over a
//! synthetic kernel in a [`MockTarget`]: hand-built BTF, a symbol table with a KASLR slide,
//! and a memory image holding `init_task`, a handful of processes and threads, two CPUs'
//! runqueues and every task's stack (frame-pointer chains; no ORC).
//!
//! The happy path checks exact output; the other tests break one thing each (a cycle in the
//! task list, a wild thread pointer, unmapped or misplaced stacks, looping frame chains,
//! absurd `nr_cpu_ids`), and a proptest corrupts random words of the image and checks that
//! the commands never panic, always end, and read a bounded amount of memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_dcmds::{CaptureOutput, CommandRecord, Session};
use std::collections::BTreeMap;

/// The synthetic kernel: layout, symbols, and the happy-path memory image.
#[path = "common/mock_kernel.rs"]
mod synth;

use synth::*;

fn session(w: &World) -> Session {
    session_over(&w.image).0
}

/// Runs one command; its record.
fn run(s: &mut Session, line: &str) -> CommandRecord {
    let mut out = CaptureOutput::new();
    s.execute(line, &mut out);
    let (mut records, text) = out.take();
    assert_eq!(records.len(), 1, "{line}: {text}");
    records.remove(0)
}

fn hex(v: u64) -> String {
    format!("{v:x}")
}

/// The `::findstack` lines of a sleeping task of the happy path.
fn sleeping_stack(w: &World, i: usize) -> Vec<String> {
    let t = w.task(i);
    let mut out = vec![
        format!(
            "stack pointer for thread {:x} ({} {}): {:x}",
            t.addr, t.pid, t.comm, t.sp
        ),
        format!("[ {:x} __schedule+0x34d() ]", t.sp),
    ];
    for (&bp, &ret) in t.frame_bps().iter().zip(&t.callers) {
        out.push(format!("  {:x} {}", bp + 16, symbolize_call(ret)));
    }
    out
}

/// `func+0x5d()` for a runtime pc of the synthetic kernel.
fn symbolize_call(pc: u64) -> String {
    // The greatest start at or below pc; of equal starts, the first in table order.
    let (name, start) = SYMBOLS
        .iter()
        .filter(|&&(_, a, k)| k != 'A' && a + SLIDE <= pc)
        .map(|&(n, a, _)| (n, a + SLIDE))
        .fold(None, |best: Option<(&str, u64)>, (n, a)| match best {
            Some((_, b)) if b >= a => best,
            _ => Some((n, a)),
        })
        .expect("a symbol below");
    format!("{name}+{:#x}()", pc - start)
}

/// The stacks of `output` (a `::walk thread | ::findstack` transcript) by thread: each
/// header line starts a block.
fn blocks(output: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = None;
    for l in output {
        if let Some(rest) = l.strip_prefix("stack pointer for thread ") {
            let t = rest.split(' ').next().unwrap().to_string();
            out.insert(t.clone(), vec![l.clone()]);
            cur = Some(t);
        } else if let Some(c) = &cur {
            out.get_mut(c).unwrap().push(l.clone());
        }
    }
    out
}

fn walk_order(w: &World) -> Vec<String> {
    [
        INIT, SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SLEEPER, SL_WORKER1, SL_WORKER2, BUSY,
        SWAPPER1,
    ]
    .iter()
    .map(|&i| hex(w.addr(i)))
    .collect()
}

// ---------------------------------------------------------------------------------------
// 1. The happy path.
// ---------------------------------------------------------------------------------------

#[test]
fn walk_thread_emits_every_task_once() {
    let w = world();
    let mut s = session(&w);
    let r = run(&mut s, "::walk thread");
    assert!(r.ok && r.warnings.is_empty(), "{r:?}");
    assert_eq!(r.output, walk_order(&w));
    let r = run(&mut s, "::walk proc");
    assert!(r.ok, "{r:?}");
    let procs: Vec<String> = [INIT, SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SLEEPER, BUSY]
        .iter()
        .map(|&i| hex(w.addr(i)))
        .collect();
    assert_eq!(r.output, procs);
}

fn ps_line(w: &World, i: usize, ppid: i32) -> String {
    let t = w.task(i);
    format!(
        "{:1} {:>6} {:>6} {:>6} {:#010x} {:>16} {:>3} {}",
        qmdb_linux::state::state_letter(t.state, 0),
        t.pid,
        ppid,
        t.tgid,
        t.flags,
        hex(t.addr),
        t.cpu,
        t.comm
    )
}

#[test]
fn ps_lists_pids_comms_and_parents() {
    let w = world();
    let mut s = session(&w);
    let header = "S    PID   PPID   TGID      FLAGS             ADDR CPU COMM".to_string();
    let procs = [
        (INIT, 0),
        (SYSTEMD, 0),
        (KTHREADD, 0),
        (KWORKER0, 2),
        (KWORKER1, 2),
        (SLEEPER, 1),
        (BUSY, 1),
    ];
    let r = run(&mut s, "::ps");
    assert!(r.ok && r.warnings.is_empty(), "{r:?}");
    let mut want = vec![header.clone()];
    want.extend(procs.iter().map(|&(i, pp)| ps_line(&w, i, pp)));
    assert_eq!(r.output, want);
    // Spot-check the letters: swapper R, systemd S, kworker I.
    assert!(
        r.output[1].starts_with("R      0      0      0 0x00200002"),
        "{}",
        r.output[1]
    );
    assert!(
        r.output[4].starts_with("I     20      2     20"),
        "{}",
        r.output[4]
    );

    let r = run(&mut s, "::ps -t");
    assert!(r.ok && r.warnings.is_empty(), "{r:?}");
    let threads = [
        (INIT, 0),
        (SYSTEMD, 0),
        (KTHREADD, 0),
        (KWORKER0, 2),
        (KWORKER1, 2),
        (SLEEPER, 1),
        (SL_WORKER1, 1),
        (SL_WORKER2, 1),
        (BUSY, 1),
        (SWAPPER1, 0),
    ];
    let mut want = vec![header];
    want.extend(threads.iter().map(|&(i, pp)| ps_line(&w, i, pp)));
    assert_eq!(r.output, want);
    assert!(r
        .output
        .iter()
        .any(|l| l.contains("   101      1    100") && l.ends_with("sl-worker1")));
}

#[test]
fn findstack_prints_every_task_symbolized() {
    let w = world();
    let mut s = session(&w);
    let r = run(&mut s, "::walk thread | ::findstack");
    assert!(r.ok && r.warnings.is_empty(), "{r:?}");
    let b = blocks(&r.output);
    assert_eq!(b.len(), 10, "{:#?}", r.output);
    for i in [
        SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SLEEPER, SL_WORKER1, SL_WORKER2, SWAPPER1,
    ] {
        assert_eq!(b[&hex(w.addr(i))], sleeping_stack(&w, i), "task {i}");
    }
    // Exactly as the help shows it, for sleeper.
    let sl = &b[&hex(w.addr(SLEEPER))];
    assert_eq!(
        sl[1],
        format!("[ {:x} __schedule+0x34d() ]", w.task(SLEEPER).sp)
    );
    assert!(sl[2].ends_with(" schedule+0x5d()"), "{sl:?}");
    assert!(sl[3].ends_with(" do_nanosleep+0x6b()"), "{sl:?}");
    // swapper/0 runs on vCPU 0: from its registers.
    let rsp = vcpu0_rsp();
    assert_eq!(
        b[&hex(w.addr(INIT))],
        vec![
            format!(
                "stack pointer for thread {:x} (0 swapper/0) running on vCPU 0 (CPU 0): {rsp:x}",
                w.addr(INIT)
            ),
            format!("[ {rsp:x} default_idle+0xb() ]"),
            format!("  {:x} do_idle+0x1e0()", rsp + 0x20),
            format!("  {:x} cpu_startup_entry+0x1d()", rsp + 0x50),
        ]
    );
    // busy runs in user mode on vCPU 1.
    assert_eq!(
        b[&hex(w.addr(BUSY))],
        vec![
            format!(
                "stack pointer for thread {:x} (300 busy) running on vCPU 1 (CPU 1): 7ffc12345678",
                w.addr(BUSY)
            ),
            "  (running in user mode on vCPU 1: its kernel stack is empty)".to_string(),
        ]
    );

    // -v adds how each frame was found.
    let t = w.task(SLEEPER);
    let r = run(&mut s, &format!("{:x}::findstack -v", t.addr));
    assert!(r.ok, "{r:?}");
    assert!(
        r.output[1].ends_with(&format!("pc {:x} start", switch_ret())),
        "{:?}",
        r.output
    );
    assert!(
        r.output[2].ends_with(&format!("pc {:x} call", t.callers[0])),
        "{:?}",
        r.output
    );
    assert_eq!(r.output.len(), 2 + t.callers.len());
    // And in a pipe, the frames' pcs.
    let r = run(&mut s, &format!("{:x}::findstack | =K", t.addr));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.output.len(), 1 + t.callers.len(), "{:?}", r.output);
}

#[test]
fn stacks_groups_identical_stacks() {
    let w = world();
    let mut s = session(&w);
    let r = run(&mut s, "::stacks");
    assert!(r.ok && r.warnings.is_empty(), "{r:?}");
    let text = r.output.join("\n");
    let pad = " ".repeat(17);
    let group = |i: usize, state: char, count: usize, frames: &[String]| {
        let mut g = format!("{:<16} {:<5} {:>5}", hex(w.addr(i)), state, count);
        for f in frames {
            g.push('\n');
            g.push_str(&pad);
            g.push_str(f);
        }
        g
    };
    let plain = |pcs: &[u64]| -> Vec<String> {
        std::iter::once(switch_ret())
            .chain(pcs.iter().copied())
            .map(|p| symbolize_call(p).trim_end_matches("()").to_string())
            .collect()
    };
    let want = [
        "THREAD           STATE COUNT".to_string(),
        group(SYSTEMD, 'S', 4, &plain(&nanosleep_chain())),
        String::new(),
        group(KWORKER0, 'I', 2, &plain(&worker_chain())),
        String::new(),
        group(KTHREADD, 'S', 1, &plain(&w.task(KTHREADD).callers)),
        String::new(),
        group(BUSY, 'R', 1, &["(running in user mode)".to_string()]),
        String::new(),
        group(SWAPPER1, 'R', 1, &plain(&w.task(SWAPPER1).callers)),
        String::new(),
        group(
            INIT,
            'R',
            1,
            &[
                "default_idle+0xb",
                "do_idle+0x1e0",
                "cpu_startup_entry+0x1d",
            ]
            .map(String::from),
        ),
        String::new(),
    ]
    .join("\n");
    assert_eq!(text, want);
    // The JSON records carry the members of each group.
    let first = &r.data[0];
    assert_eq!(first["count"], 4);
    let members: Vec<String> = [SYSTEMD, SLEEPER, SL_WORKER1, SL_WORKER2]
        .iter()
        .map(|&i| format!("{:#x}", w.addr(i)))
        .collect();
    assert_eq!(first["threads"], serde_json::json!(members));

    let r = run(&mut s, "::stacks -t I -a");
    assert!(r.ok, "{r:?}");
    assert_eq!(
        r.output[1],
        format!("{:<16} I         2", hex(w.addr(KWORKER0)))
    );
    assert_eq!(r.output[2], hex(w.addr(KWORKER1)));
    // In a pipe, ::stacks emits the members of the groups shown.
    let r = run(&mut s, "::stacks -c do_nanosleep | =K");
    assert_eq!(r.output.len(), 4, "{r:?}");
}

#[test]
fn cpuinfo_maps_both_vcpus() {
    let w = world();
    let mut s = session(&w);
    let r = run(&mut s, "::cpuinfo");
    assert!(r.ok, "{r:?}");
    assert_eq!(
        r.output,
        vec![
            "VCPU CPU           THREAD    PID COMM             MODE   PC".to_string(),
            format!(
                "   0   0 {:>16}      0 swapper/0        kernel default_idle+0xb",
                hex(w.addr(INIT))
            ),
            format!(
                "   1   1 {:>16}    300 busy             user   401136",
                hex(w.addr(BUSY))
            ),
        ]
    );
}

#[test]
fn task_and_stack_of_the_selected_vcpu() {
    let w = world();
    let mut s = session(&w);
    let r = run(&mut s, &format!("{:x}::task", w.addr(SL_WORKER1)));
    assert!(r.ok, "{r:?}");
    let text = r.output.join("\n");
    assert!(
        text.contains("101") && text.contains("sl-worker1"),
        "{text}"
    );
    let r = run(&mut s, "::stack");
    assert!(r.ok, "{r:?}");
    let text = r.output.join("\n");
    assert!(text.contains("default_idle+0xb"), "{text}");
    assert!(text.contains("cpu_startup_entry+0x1d"), "{text}");
}

#[test]
fn the_walk_limit_stops_the_walk_with_one_warning() {
    let w = world();
    let mut s = session(&w);
    s.set_walk_limit(3);
    let r = run(&mut s, "::ps -t");
    assert!(r.ok, "{r:?}");
    // init_task, then three tasks of the list; nothing more, and the limit said once.
    assert_eq!(r.output.len(), 1 + 4, "{r:?}");
    assert_eq!(
        r.warnings,
        vec!["task list: stopped at the walk limit".to_string()],
        "{r:?}"
    );
    let r = run(&mut s, "::walk thread");
    assert!(!r.ok, "{r:?}");
    assert!(
        r.error.as_deref().unwrap_or("").contains("walk limit"),
        "{r:?}"
    );
    assert_eq!(r.output.len(), 3, "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 2. A cycle in the task list that does not pass through the head.
// ---------------------------------------------------------------------------------------

#[test]
fn a_cycle_in_the_task_list_ends_the_list_with_a_warning() {
    let mut w = world();
    // kworker/1:1's next goes back to kthreadd: init → systemd → kthreadd → kworker/0:1 →
    // kworker/1:1 → kthreadd → ...; sleeper and busy are never reached from the head.
    let back = w.addr(KTHREADD) + TASKS;
    let a = w.addr(KWORKER1) + TASKS;
    w.image.w64(a, back);
    let mut s = session(&w);
    let r = run(&mut s, "::walk thread");
    // The walk itself succeeds (what it found is printed); the cycle is a warning.
    assert!(r.ok, "{r:?}");
    let want: Vec<String> = [INIT, SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SWAPPER1]
        .iter()
        .map(|&i| hex(w.addr(i)))
        .collect();
    assert_eq!(r.output, want);
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    assert!(
        r.warnings[0].contains("a cycle at node") && r.warnings[0].contains(&hex(back)),
        "{:?}",
        r.warnings
    );
    let r = run(&mut s, "::ps");
    assert_eq!(r.output.len(), 6, "{r:?}");
    assert!(r.warnings[0].contains(&hex(back)), "{r:?}");
    // A cycle of one node (a task whose next is itself, not the head).
    let mut w = world();
    let own = w.addr(SYSTEMD) + TASKS;
    w.image.w64(own, own);
    let mut s = session(&w);
    let r = run(&mut s, "::walk proc");
    assert_eq!(r.output, vec![hex(w.addr(INIT)), hex(w.addr(SYSTEMD))]);
    assert!(
        r.warnings[0].contains(&format!("a cycle at node {own:x}")),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. A wild next pointer in a thread list.
// ---------------------------------------------------------------------------------------

#[test]
fn a_wild_thread_pointer_stops_that_list_only() {
    let mut w = world();
    let wild = 0xdead_0000_0000_0100u64;
    let a = w.addr(SL_WORKER1) + THREAD_NODE;
    w.image.w64(a, wild);
    let mut s = session(&w);
    let r = run(&mut s, "::walk thread");
    assert!(r.ok, "{r:?}");
    // sl-worker2 is lost; every other task is still there, busy and swapper/1 included.
    let want: Vec<String> = [
        INIT, SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SLEEPER, SL_WORKER1, BUSY, SWAPPER1,
    ]
    .iter()
    .map(|&i| hex(w.addr(i)))
    .collect();
    assert_eq!(r.output, want);
    let all = r.warnings.join("\n");
    assert!(all.contains(&hex(wild)), "{all}");
    assert!(all.contains("the rest of this list is skipped"), "{all}");
    // A wild signal pointer: that process's threads are skipped, with its pid named.
    let mut w = world();
    let a = w.addr(SLEEPER) + SIGNAL;
    w.image.w64(a, wild);
    let mut s = session(&w);
    let r = run(&mut s, "::ps -t");
    assert!(r.ok, "{r:?}");
    assert_eq!(r.output.len(), 1 + 8, "{r:?}");
    let all = r.warnings.join("\n");
    assert!(
        all.contains("pid 100") && all.contains(&hex(wild + THREAD_HEAD)),
        "{all}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Unmapped stacks and saved stack pointers outside the stack.
// ---------------------------------------------------------------------------------------

#[test]
fn unmapped_and_misplaced_stacks_get_a_note() {
    let mut w = world();
    // kthreadd's stack is not mapped (VMAP_STACK: its pages are gone; thread.sp now falls
    // in a guard hole), and kworker/0:1's thread.sp points outside its stack.
    let kthreadd = w.task(KTHREADD).clone();
    w.image.unmap(kthreadd.stack);
    let outside = w.task(KWORKER0).stack - 0x100;
    let a = w.addr(KWORKER0) + THREAD_SP;
    w.image.w64(a, outside);
    let mut s = session(&w);
    let r = run(&mut s, "::walk thread | ::findstack");
    // Expected: each bad task gets its header and a note in parentheses, the others their
    // stacks, and the command succeeds: a task whose stack cannot be walked is a fact about
    // the guest that the output states, not a failure of the command.
    assert!(r.ok, "{r:?}");
    assert!(r.error.is_none() && r.warnings.is_empty(), "{r:?}");
    let b = blocks(&r.output);
    assert_eq!(b.len(), 10);
    let kt = &b[&hex(kthreadd.addr)];
    assert_eq!(kt.len(), 2, "{kt:?}");
    assert_eq!(
        kt[1],
        format!(
            "  (cannot read the saved frame at {:x} (stack not mapped?): failed to read 8 \
             bytes at {:#x}: no mapping)",
            kthreadd.sp,
            kthreadd.sp + FRAME_RET
        )
    );
    let kw = &b[&hex(w.addr(KWORKER0))];
    assert_eq!(
        kw[1],
        format!(
            "  (saved stack pointer {outside:x} is outside the task's stack {:x}-{:x})",
            w.task(KWORKER0).stack,
            w.task(KWORKER0).stack + THREAD_SIZE
        )
    );
    assert_eq!(kw.len(), 2);
    for i in [SYSTEMD, KWORKER1, SLEEPER, SL_WORKER1, SL_WORKER2, SWAPPER1] {
        assert_eq!(b[&hex(w.addr(i))], sleeping_stack(&w, i), "task {i}");
    }
    // ::stacks: both unwalkable tasks are shown with their notes, not lost.
    let r = run(&mut s, "::stacks");
    assert!(r.ok, "{r:?}");
    let text = r.output.join("\n");
    assert!(text.contains(&hex(kthreadd.addr)), "{text}");
    assert!(text.contains(&hex(w.addr(KWORKER0))), "{text}");
    assert!(text.contains("outside the task's stack"), "{text}");
    // Two sleeping tasks whose stacks are both unmapped: each keeps its own note in
    // ::stacks (one group would show one task's addresses for both).
    let mut w = world();
    for i in [SYSTEMD, SLEEPER] {
        let st = w.task(i).stack;
        w.image.unmap(st);
    }
    let mut s = session(&w);
    let r = run(&mut s, "::stacks");
    assert!(r.ok, "{r:?}");
    for i in [SYSTEMD, SLEEPER] {
        let t = w.task(i);
        let at = r
            .output
            .iter()
            .position(|l| l.starts_with(&format!("{:<16} S         1", hex(t.addr))))
            .unwrap_or_else(|| panic!("no group of {i}: {:#?}", r.output));
        assert!(
            r.output[at + 1].contains(&format!("cannot read the saved frame at {:x}", t.sp)),
            "{:#?}",
            r.output
        );
    }
    assert!(
        r.output
            .iter()
            .any(|l| l.starts_with(&format!("{:<16} S         2", hex(w.addr(SL_WORKER1))))),
        "{:#?}",
        r.output
    );
    // A thread.sp so close to the top that the switch frame would cross it.
    let mut w = world();
    let t = w.task(SLEEPER).clone();
    let a = t.addr + THREAD_SP;
    w.image.w64(a, t.stack + THREAD_SIZE - 8);
    let mut s = session(&w);
    let r = run(&mut s, &format!("{:x}::findstack", t.addr));
    assert!(r.ok, "{r:?}");
    assert!(r.output[1].contains("outside the task's stack"), "{r:?}");
    // A stack pointer near the top of the address space: no overflow, a note.
    let mut w = world();
    w.image.w64(t.addr + STACK, u64::MAX - 0x1000);
    w.image.w64(t.addr + THREAD_SP, u64::MAX - 20);
    let mut s = session(&w);
    let r = run(&mut s, &format!("{:x}::findstack", t.addr));
    assert!(r.ok, "{r:?}");
    assert!(r.output[1].contains("outside the task's stack"), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 5. Frame chains that loop or leave the stack.
// ---------------------------------------------------------------------------------------

#[test]
fn looping_or_escaping_frame_chains_end_with_a_note() {
    let w = world();
    let t = w.task(SYSTEMD).clone();
    let bps = t.frame_bps();
    // The third frame's saved bp points back down at the first.
    let mut loop_w = w.clone();
    loop_w.image.w64(bps[2], bps[0]);
    // A frame whose saved bp is itself.
    let mut self_w = w.clone();
    self_w.image.w64(bps[1], bps[1]);
    // A saved bp above the stack's top (and in another task's stack).
    let mut off_w = w.clone();
    let other = w.task(KTHREADD).frame_bps()[0];
    off_w.image.w64(bps[1], other);
    // A saved bp in the guard hole above the stack.
    let mut hole_w = w.clone();
    hole_w.image.w64(bps[1], t.stack + THREAD_SIZE + 0x100);
    for (name, world, end) in [
        (
            "loop",
            &loop_w,
            format!("went from {:x} back to {:x}", bps[2] + 16, bps[0] + 16),
        ),
        (
            "self",
            &self_w,
            format!("went from {:x} back to {:x}", bps[1] + 16, bps[1] + 16),
        ),
        (
            "other stack",
            &off_w,
            format!("stack pointer {other:x} is outside"),
        ),
        (
            "hole",
            &hole_w,
            format!(
                "stack pointer {:x} is outside",
                t.stack + THREAD_SIZE + 0x100
            ),
        ),
    ] {
        let (mut s, shared) = session_over(&world.image);
        let r = run(&mut s, &format!("{:x}::findstack", t.addr));
        assert!(r.ok, "{name}: {r:?}");
        let last = r.output.iter().find(|l| l.contains("(walk ended:"));
        assert!(
            last.is_some_and(|l| l.contains(&end)),
            "{name}: want '{end}' in {:#?}",
            r.output
        );
        // The reliable frames before the bad link are there.
        assert!(
            r.output[2].ends_with(" schedule+0x5d()"),
            "{name}: {:#?}",
            r.output
        );
        assert!(
            shared.borrow().requests < 1000,
            "{name}: {}",
            shared.borrow().requests
        );
        // ::stacks ends too, with the note in its group.
        let r = run(&mut s, "::stacks");
        assert!(r.ok, "{name}: {r:?}");
        assert!(
            r.output.iter().any(|l| l.contains("(walk ended:")),
            "{name}: {r:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 6. Absurd nr_cpu_ids.
// ---------------------------------------------------------------------------------------

#[test]
fn absurd_nr_cpu_ids_is_a_clear_error() {
    for n in [0u32, 100_000, u32::MAX] {
        let mut w = world();
        w.image.w32(sym("nr_cpu_ids"), n);
        let (mut s, shared) = session_over(&w.image);
        let r = run(&mut s, "::cpuinfo");
        assert!(!r.ok, "{n}: {r:?}");
        let e = r.error.clone().unwrap_or_default();
        assert!(
            e.contains("nr_cpu_ids")
                && e.contains(&format!("is {n}"))
                && e.contains("not a CPU count"),
            "{n}: {e}"
        );
        // The task walk goes on without the other CPUs' idle tasks, saying why.
        let r = run(&mut s, "::walk thread");
        assert!(r.ok, "{n}: {r:?}");
        assert_eq!(r.output.len(), 9, "{n}: {r:?}");
        assert!(
            r.warnings.iter().any(|w| w.contains("nr_cpu_ids")),
            "{n}: {r:?}"
        );
        // ::findstack still walks a sleeping task from its saved stack pointer, and warns
        // that running tasks cannot be placed on their CPUs.
        let r = run(&mut s, &format!("{:x}::findstack", w.addr(SLEEPER)));
        assert!(r.ok, "{n}: {r:?}");
        assert!(
            r.output.iter().any(|l| l.contains("do_nanosleep")),
            "{n}: {r:?}"
        );
        assert!(
            r.warnings.iter().any(|w| w.contains("nr_cpu_ids")),
            "{n}: {r:?}"
        );
        assert!(
            shared.borrow().requests < 1000,
            "{n}: {}",
            shared.borrow().requests
        );
    }
    // The largest plausible count, with an unmapped offset table: an error, not a hang
    // or a huge read.
    let mut w = world();
    w.image.w32(sym("nr_cpu_ids"), 8192);
    let (mut s, shared) = session_over(&w.image);
    let r = run(&mut s, "::cpuinfo");
    assert!(!r.ok, "{r:?}");
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("__per_cpu_offset")
            || r.error
                .as_deref()
                .unwrap_or("")
                .contains("__cpu_online_mask"),
        "{r:?}"
    );
    assert!(shared.borrow().requests < 1000);
}

// ---------------------------------------------------------------------------------------
// 7. Random corruption.
// ---------------------------------------------------------------------------------------

mod corruption {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Memory requests allowed for the commands of one case together.
    const MAX_REQUESTS: usize = 200_000;
    /// Wall-clock bound for one case (debug builds are slow; a hang is far longer).
    const TIMEOUT: Duration = Duration::from_secs(120);

    #[derive(Debug, Clone)]
    enum Value {
        Random(u64),
        Zero,
        Small(u16),
        /// A pointer into a mapped region (region, offset).
        Into(Index, Index),
        /// A text address (a return address of the kernel).
        Text(Index),
        /// An address in the guard hole after a stack.
        Hole(Index),
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::Random),
            Just(Value::Zero),
            any::<u16>().prop_map(Value::Small),
            (any::<Index>(), any::<Index>()).prop_map(|(r, o)| Value::Into(r, o)),
            any::<Index>().prop_map(Value::Text),
            any::<Index>().prop_map(Value::Hole),
        ]
    }

    /// The value of `v` in the happy-path world.
    fn resolve(w: &World, spans: &[(u64, u64)], texts: &[u64], v: &Value) -> u64 {
        match v {
            Value::Random(v) => *v,
            Value::Zero => 0,
            Value::Small(v) => u64::from(*v),
            Value::Into(r, o) => {
                let (s, l) = spans[r.index(spans.len())];
                s + o.index(l as usize) as u64
            }
            Value::Text(i) => texts[i.index(texts.len())],
            Value::Hole(i) => {
                let t = &w.tasks[i.index(w.tasks.len())];
                t.stack + THREAD_SIZE + 0x800
            }
        }
    }

    /// Registers a corruption may change.
    const REGS: &[&str] = &["rip", "rsp", "rbp", "cs", "gs_base", "k_gs_base"];

    /// Applies `(region, word, value, 32-bit)` corruptions to the happy-path image, and
    /// `(vcpu, register, value)` ones to its registers.
    fn corrupt(edits: &[(Index, Index, Value, bool)], regs: &[(bool, Index, Value)]) -> Image {
        let w = world();
        let mut img = w.image.clone();
        let spans: Vec<(u64, u64)> = img
            .regions
            .iter()
            .map(|(&a, b)| (a, b.len() as u64))
            .collect();
        let texts: Vec<u64> = SYMBOLS
            .iter()
            .filter(|s| matches!(s.2, 'T' | 't'))
            .map(|s| s.1 + SLIDE + 0x10)
            .collect();
        let stacks: Vec<u64> = w.tasks.iter().map(|t| t.stack).collect();
        for (region, word, value, narrow) in edits {
            let (mut start, mut len) = spans[region.index(spans.len())];
            if stacks.contains(&start) {
                // Where the frames are: the top 1 KiB of each stack.
                start += len - 0x400;
                len = 0x400;
            }
            let addr = start + word.index((len / 8) as usize) as u64 * 8;
            let v = resolve(&w, &spans, &texts, value);
            if *narrow {
                img.w32(addr + 4 * u64::from(v & 1 == 1), v as u32);
            } else {
                img.w64(addr, v);
            }
        }
        for (vcpu, reg, value) in regs {
            let v = resolve(&w, &spans, &texts, value);
            img.set_reg(usize::from(*vcpu), REGS[reg.index(REGS.len())], v);
        }
        img
    }

    /// Runs the commands over `img` in a thread, within [`TIMEOUT`].
    fn check(img: Image) -> Result<(), TestCaseError> {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            let (mut s, shared) = session_over(&img);
            let mut summary = Vec::new();
            // Each command must end with exactly one record.
            for line in [
                "::walk thread | ::findstack -v",
                "::stacks",
                "::ps -t",
                "::cpuinfo",
            ] {
                let mut out = CaptureOutput::new();
                s.execute(line, &mut out);
                let (records, _) = out.take();
                summary.push((line, records.len()));
                if line == "::ps -t" {
                    // Every task at most once: the ADDR column (after the header).
                    let addrs: Vec<String> = records
                        .iter()
                        .flat_map(|r| r.output.iter().skip(1))
                        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
                        .collect();
                    let mut unique = addrs.clone();
                    unique.sort();
                    unique.dedup();
                    summary.push(("::ps -t lists a task twice", 1 + addrs.len() - unique.len()));
                }
            }
            let requests = shared.borrow().requests;
            let _ = tx.send((summary, requests));
        });
        match rx.recv_timeout(TIMEOUT) {
            Ok((summary, requests)) => {
                let _ = handle.join();
                for (line, n) in summary {
                    prop_assert_eq!(n, 1, "{}", line);
                }
                prop_assert!(requests <= MAX_REQUESTS, "{} memory requests", requests);
                Ok(())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let e = handle.join().err();
                let msg = e
                    .as_ref()
                    .and_then(|p| {
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    })
                    .unwrap_or_default();
                Err(TestCaseError::fail(format!("a command panicked: {msg}")))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(TestCaseError::fail(format!("no end within {TIMEOUT:?}")))
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn corrupt_images_never_panic_hang_or_read_unboundedly(
            edits in prop::collection::vec((any::<Index>(), any::<Index>(), value(), any::<bool>()), 1..32),
            regs in prop::collection::vec((any::<bool>(), any::<Index>(), value()), 0..3),
        ) {
            check(corrupt(&edits, &regs))?;
        }
    }

    /// The happy path runs the same commands well inside the bound.
    #[test]
    fn the_uncorrupted_image_is_cheap() {
        let (mut s, shared) = session_over(&world().image);
        for line in [
            "::walk thread | ::findstack -v",
            "::stacks",
            "::ps -t",
            "::cpuinfo",
        ] {
            let r = run(&mut s, line);
            assert!(r.ok && r.warnings.is_empty(), "{line}: {r:?}");
        }
        let n = shared.borrow().requests;
        assert!(n < 2_000, "{n} requests");
    }
}

/// A vCPU stopped at kernel entry from user mode, before `swapgs`: in ring 0 (kernel cs)
/// but with the user's gs base; the kernel's is still in k_gs_base. It is still CPU 1.
#[test]
fn cpuinfo_maps_a_vcpu_stopped_before_swapgs() {
    let mut w = world();
    w.image.set_reg(1, "cs", 0x10);
    w.image.set_reg(1, "rip", pc("default_idle", 0x4));
    w.image.set_reg(1, "gs_base", 0x7f00_dead_0000);
    let mut s = session(&w);
    let r = run(&mut s, "::cpuinfo");
    assert!(r.ok, "{r:?}");
    assert!(
        r.output[2].starts_with(&format!("   1   1 {:>16}    300 busy ", hex(w.addr(BUSY)))),
        "{r:?}"
    );
}
