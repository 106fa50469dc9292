//! The gdb proxy's backend over a session ([`SessionBackend`]), on the synthetic kernel of
//! `common/mock_kernel.rs`: tasks as threads, a sleeping task's saved registers, and
//! `monitor` commands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/mock_kernel.rs"]
mod mock_kernel;

use mock_kernel::*;
use qmdb_bridge::proxy::backend::{ProxyBackend, ProxyThread, ThreadKey};
use qmdb_bridge::VcpuId;
use qmdb_dcmds::proxy::{SessionBackend, ThreadView, KERNEL_CS, KERNEL_SS};
use qmdb_dcmds::Session;

fn vcpu(i: u32) -> VcpuId {
    VcpuId { pid: 1, tid: i + 1 }
}

fn backend(w: &World) -> SessionBackend {
    SessionBackend::new(session_over(&w.image).0)
}

/// Runs a monitor line; whether it succeeded and its lines (trimmed: `=D` pads).
fn monitor(b: &mut SessionBackend, line: &str) -> (bool, Vec<String>) {
    let mut lines = Vec::new();
    let ok = b.monitor(line, &mut |l: &str| lines.push(l.trim().to_string()));
    (ok, lines)
}

const ORDER: [usize; 10] = [
    INIT, SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SLEEPER, SL_WORKER1, SL_WORKER2, BUSY, SWAPPER1,
];

fn state_letter(w: &World, i: usize) -> char {
    qmdb_linux::state::state_letter(w.task(i).state, 0)
}

#[test]
fn every_task_is_a_thread_and_the_running_ones_name_their_vcpu() {
    let w = world();
    let mut b = backend(&w);
    assert_eq!(b.tasks_unavailable(), None);
    let threads = b.threads().expect("threads");
    let want: Vec<ProxyThread> = ORDER
        .iter()
        .map(|&i| {
            let t = w.task(i);
            let (vcpu, on) = match i {
                INIT => (Some(vcpu(0)), " on vCPU 0"),
                BUSY => (Some(vcpu(1)), " on vCPU 1 (user mode)"),
                _ => (None, ""),
            };
            ProxyThread {
                key: ThreadKey::Task(t.addr),
                extra: format!("pid {} {} {}{on}", t.pid, t.comm, state_letter(&w, i)),
                vcpu,
            }
        })
        .collect();
    assert_eq!(threads, want);
    // The same after another call (each stop lists them again).
    assert_eq!(b.threads().expect("threads again"), want);
    // The selected vCPU is left as it was.
    assert_eq!(b.target().selected_vcpu(), vcpu(0));
}

#[test]
fn a_sleeping_task_gives_its_switch_frame() {
    let mut w = world();
    let t = w.task(SLEEPER).clone();
    // The callee-saved registers __switch_to_asm pushed: r15 r14 r13 r12 bx at 0..40.
    let saved = [
        0x1515_1515u64,
        0x1414_1414,
        0x1313_1313,
        0x1212_1212,
        0xb0b0_b0b0,
    ];
    for (k, v) in saved.iter().enumerate() {
        w.image.w64(t.sp + 8 * k as u64, *v);
    }
    let mut b = backend(&w);
    let regs = b
        .saved_registers(ThreadKey::Task(t.addr))
        .expect("saved registers");
    let get = |name: &str| {
        regs.iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} in {regs:x?}"))
    };
    assert_eq!(get("rip"), switch_ret(), "ret_addr: __schedule+0x34d");
    assert_eq!(get("rsp"), t.sp + FRAME_SIZE);
    assert_eq!(get("rbp"), t.frame_bps()[0]);
    assert_eq!(get("r15"), saved[0]);
    assert_eq!(get("r14"), saved[1]);
    assert_eq!(get("r13"), saved[2]);
    assert_eq!(get("r12"), saved[3]);
    assert_eq!(get("rbx"), saved[4]);
    assert_eq!(get("cs"), KERNEL_CS);
    assert_eq!(get("ss"), KERNEL_SS);
    assert!(
        regs.iter().all(|(n, _)| *n != "eflags" && *n != "rax"),
        "registers that are not saved are not made up: {regs:x?}"
    );
}

#[test]
fn a_wild_saved_stack_pointer_is_an_error_naming_the_task() {
    let mut w = world();
    let a = w.addr(SYSTEMD);
    w.image.w64(a + THREAD_SP, 0xdead_0000_0000);
    let mut b = backend(&w);
    let e = b
        .saved_registers(ThreadKey::Task(a))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("{a:x}")) && e.contains("dead00000000") && e.contains("systemd"),
        "{e}"
    );
    // An address that is no task_struct at all.
    let e = b
        .saved_registers(ThreadKey::Task(0x1000))
        .expect_err("unmapped")
        .to_string();
    assert!(e.contains("1000"), "{e}");
    // A vCPU has no saved registers.
    let e = b
        .saved_registers(ThreadKey::Vcpu(vcpu(1)))
        .expect_err("vcpu")
        .to_string();
    assert!(e.contains("vCPU 1"), "{e}");
}

#[test]
fn an_unreadable_stack_is_an_error_naming_the_task() {
    let mut w = world();
    let t = w.task(SL_WORKER2).clone();
    w.image.unmap(t.stack);
    let mut b = backend(&w);
    let e = b
        .saved_registers(ThreadKey::Task(t.addr))
        .expect_err("unmapped stack")
        .to_string();
    assert!(
        e.contains(&format!("{:x}", t.addr)) && e.contains("inactive_task_frame"),
        "{e}"
    );
}

#[test]
fn without_a_kernel_the_threads_are_the_vcpus() {
    let w = world();
    let mut b = SessionBackend::new(Session::new(Box::new(w.image.target())));
    assert!(
        b.tasks_unavailable()
            .is_some_and(|why| why.to_string().contains("--kernel")),
        "{:?}",
        b.tasks_unavailable()
    );
    let threads = b.threads().expect("threads");
    assert_eq!(
        threads,
        vec![
            ProxyThread {
                key: ThreadKey::Vcpu(vcpu(0)),
                extra: "CPU#0 [halted ]".into(),
                vcpu: Some(vcpu(0)),
            },
            ProxyThread {
                key: ThreadKey::Vcpu(vcpu(1)),
                extra: "CPU#1 [running]".into(),
                vcpu: Some(vcpu(1)),
            },
        ]
    );
    let e = b.saved_registers(ThreadKey::Task(w.addr(SLEEPER)));
    assert!(e.is_err(), "{e:?}");
}

#[test]
fn threads_vcpus_keeps_qemus_view_with_a_kernel() {
    let w = world();
    let mut b = SessionBackend::with_view(session_over(&w.image).0, ThreadView::Vcpus);
    assert_eq!(b.tasks_unavailable(), None);
    let keys: Vec<ThreadKey> = b.threads().unwrap().into_iter().map(|t| t.key).collect();
    assert_eq!(
        keys,
        vec![ThreadKey::Vcpu(vcpu(0)), ThreadKey::Vcpu(vcpu(1))]
    );
}

#[test]
fn a_vcpu_whose_task_is_unknown_is_a_thread_of_its_own() {
    let mut w = world();
    // CPU 1's runqueue names a task that is on no list.
    let rq1 = RUNQUEUES + PERCPU_OFF[1];
    w.image.w64(rq1 + RQ_CURR, 0xffff_8881_0fff_0000);
    let mut b = backend(&w);
    let threads = b.threads().expect("threads");
    assert_eq!(threads.len(), ORDER.len() + 1);
    let busy = threads
        .iter()
        .find(|t| t.key == ThreadKey::Task(w.addr(BUSY)))
        .unwrap();
    assert_eq!(busy.vcpu, None, "{busy:?}");
    let last = threads.last().unwrap();
    assert_eq!(last.key, ThreadKey::Vcpu(vcpu(1)));
    assert_eq!(last.vcpu, Some(vcpu(1)));
    assert!(last.extra.contains("vCPU 1"), "{last:?}");
}

#[test]
fn a_broken_task_list_falls_back_to_the_vcpus() {
    let mut w = world();
    // init_task itself unreadable: no walk at all.
    w.image.unmap(w.addr(INIT));
    let mut b = backend(&w);
    let keys: Vec<ThreadKey> = b.threads().unwrap().into_iter().map(|t| t.key).collect();
    assert_eq!(
        keys,
        vec![ThreadKey::Vcpu(vcpu(0)), ThreadKey::Vcpu(vcpu(1))]
    );
}

#[test]
fn a_lost_connection_is_an_error() {
    let w = world();
    let (s, shared) = session_over(&w.image);
    let mut b = SessionBackend::new(s);
    shared.borrow_mut().disconnected = true;
    assert!(b.threads().is_err());
}

#[test]
fn monitor_runs_dcmds_and_streams_their_lines() {
    let w = world();
    let mut b = backend(&w);
    let (ok, lines) = monitor(&mut b, "::walk thread");
    assert!(ok, "{lines:?}");
    let want: Vec<String> = ORDER.iter().map(|&i| format!("{:x}", w.addr(i))).collect();
    assert_eq!(lines, want);
    // A pipeline, as in script mode.
    let (ok, lines) = monitor(&mut b, &format!("{:x}::findstack", w.addr(SLEEPER)));
    assert!(ok, "{lines:?}");
    assert!(lines[1].contains("__schedule+0x34d"), "{lines:?}");
    // Errors are prefixed as qmdb prints them, and fail the command; the next one runs.
    let (ok, lines) = monitor(&mut b, "::nosuch; 1+1=D");
    assert!(!ok);
    assert_eq!(
        lines,
        vec![
            "qmdb: unknown dcmd 'nosuch' (see ::dcmds)".to_string(),
            "2".to_string()
        ]
    );
    // Variables persist between monitor commands, as in one qmdb session.
    assert!(monitor(&mut b, "0x2a>answer").0);
    assert_eq!(monitor(&mut b, "<answer=D"), (true, vec!["42".to_string()]));
}

#[test]
fn monitor_help_lists_the_dcmds_and_the_qemu_form() {
    let w = world();
    let mut b = backend(&w);
    let (ok, lines) = monitor(&mut b, "help");
    assert!(ok);
    let text = lines.join("\n");
    assert!(text.contains("monitor qemu CMD"), "{text}");
    for d in ["findstack", "walk", "stacks", "ps"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{d} "))),
            "no {d} in {text}"
        );
    }
    assert_eq!(
        monitor(&mut b, "").1,
        lines,
        "an empty monitor line is help"
    );
}

#[test]
fn monitor_qemu_reaches_the_hmp_monitor_read_only_unless_writable() {
    let w = world();
    let (s, shared) = session_over(&w.image);
    let mut b = SessionBackend::new(s);
    assert_eq!(
        monitor(&mut b, "qemu info status"),
        (true, vec!["VM status: paused".to_string()])
    );
    let (ok, lines) = monitor(&mut b, "qemu system_reset");
    assert!(!ok);
    assert!(
        lines.len() == 1 && lines[0].starts_with("qmdb: refused:") && lines[0].contains("-w"),
        "{lines:?}"
    );
    let (ok, lines) = monitor(&mut b, "qemu");
    assert!(!ok && lines[0].starts_with("qmdb: "), "{lines:?}");
    assert_eq!(
        shared.borrow().monitor_log,
        vec!["info status".to_string()],
        "only the read-only command reached QEMU"
    );
    b.session_mut().set_writable(true);
    let (ok, _) = monitor(&mut b, "qemu system_reset");
    assert!(ok);
    assert_eq!(shared.borrow().monitor_log.last().unwrap(), "system_reset");
    // HMP syntax is passed as is, not parsed as mdb's.
    monitor(&mut b, "qemu x/2gx 0xffff0000");
    assert_eq!(
        shared.borrow().monitor_log.last().unwrap(),
        "x/2gx 0xffff0000"
    );
}

#[test]
fn quit_in_monitor_does_not_end_anything() {
    let w = world();
    let mut b = backend(&w);
    let (_, lines) = monitor(&mut b, "::quit");
    assert!(lines.iter().any(|l| l.contains("detach")), "{lines:?}");
    assert!(monitor(&mut b, "1=D").0);
}
