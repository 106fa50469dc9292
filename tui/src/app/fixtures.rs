//! Realistic worker events for tests: what a small Debian guest with the qmdb test programs
//! (sleepers, a fifo reader, a spinner) looks like, halted by attaching.

use super::history::History;
use super::App;
use crate::protocol::{
    DisasmRow, Event, FrameRow, RegisterRow, Request, StackView, Status, ThreadRow,
};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The status right after attaching to a running guest.
pub fn status() -> Status {
    Status {
        target: "127.0.0.1:1234".into(),
        running: false,
        stop_reason: Some("SIGINT on vCPU 0".into()),
        vcpus: 2,
        selected_vcpu: 0,
        kernel_release: Some("6.1.0-56-cloud-amd64".into()),
        kaslr_slide: Some(0x1e200000),
        was_running_at_attach: true,
    }
}

/// Threads as a small real guest has them.
pub fn threads() -> Vec<ThreadRow> {
    super::threads::tests::guest_threads()
}

/// The stack of the sleeper, pid 89.
pub fn sleeper_stack() -> StackView {
    let f = |sp: u64, pc: u64, symbol: &str| FrameRow {
        sp,
        pc,
        symbol: symbol.into(),
        reliable: true,
    };
    StackView {
        thread: Some(0xffff8ead41bf4800),
        header: "stack pointer for thread ffff8ead41bf4800 (89 qmdb-sleeper): ffffb3f2c0267d68"
            .into(),
        frames: vec![
            f(0xffffb3f2c0267d68, 0xffffffff9f9a2b3d, "__schedule+0x34d"),
            f(0xffffb3f2c0267dd0, 0xffffffff9f9a31ca, "schedule+0x5a"),
            f(0xffffb3f2c0267de8, 0xffffffff9f9a8e5b, "do_nanosleep+0x7b"),
            f(
                0xffffb3f2c0267e30,
                0xffffffff9f1a6f3e,
                "hrtimer_nanosleep+0x9e",
            ),
            f(0xffffb3f2c0267ec0, 0xffffffff9f1b0a1b, "common_nsleep+0x3b"),
            f(
                0xffffb3f2c0267ed8,
                0xffffffff9f1b1d4c,
                "__x64_sys_clock_nanosleep+0xcc",
            ),
            f(0xffffb3f2c0267f30, 0xffffffff9f99e3a8, "do_syscall_64+0x58"),
            f(
                0xffffb3f2c0267f50,
                0xffffffff9fa000e6,
                "entry_SYSCALL_64_after_hwframe+0x6e",
            ),
        ],
        note: Some("user mode: pc 7f3a1c0e5f13 sp 7ffd7e3e2a48".into()),
    }
}

/// vCPU 0's stack: the idle task.
pub fn vcpu_stack() -> StackView {
    let f = |sp: u64, pc: u64, symbol: &str| FrameRow {
        sp,
        pc,
        symbol: symbol.into(),
        reliable: true,
    };
    StackView {
        thread: None,
        header: "stack of vCPU 0: thread ffffffffa0a1aa40 (0 swapper/0)".into(),
        frames: vec![
            f(
                0xffffffffa0a03e70,
                0xffffffff9f9a1c5b,
                "native_safe_halt+0xb",
            ),
            f(0xffffffffa0a03e78, 0xffffffff9f9a1e4d, "amd_e400_idle+0x3d"),
            f(
                0xffffffffa0a03e90,
                0xffffffff9f9a2168,
                "default_idle_call+0x38",
            ),
            f(0xffffffffa0a03ea0, 0xffffffff9f106a96, "do_idle+0x206"),
            f(
                0xffffffffa0a03ee8,
                0xffffffff9f106d06,
                "cpu_startup_entry+0x26",
            ),
            f(0xffffffffa0a03f00, 0xffffffff9f99a52a, "rest_init+0xca"),
            f(
                0xffffffffa0a03f18,
                0xffffffffa0c0a9aa,
                "arch_call_rest_init+0xa",
            ),
            f(0xffffffffa0a03f20, 0xffffffffa0c0af4e, "start_kernel+0x66e"),
            f(
                0xffffffffa0a03f50,
                0xffffffff9f000165,
                "secondary_startup_64_no_verify+0xe5",
            ),
        ],
        note: None,
    }
}

/// vCPU 0's registers in the idle loop, with what they point at, as the worker gives them.
pub fn annotated_registers(rip: u64, rax: u64) -> Vec<RegisterRow> {
    let mut rows = registers(rip, rax);
    for r in &mut rows {
        match r.name.as_str() {
            "rip" => r.symbol = Some("default_idle+0xe".into()),
            "rsp" => {
                r.deref = Some(crate::protocol::Pointee {
                    value: 0xffffffff9f0a1b2c,
                    symbol: Some("do_idle+0x1a".into()),
                })
            }
            "r15" => {
                r.symbol = Some("init_task".into());
                r.deref = Some(crate::protocol::Pointee {
                    value: 0x4000,
                    symbol: None,
                });
            }
            _ => {}
        }
    }
    rows
}

/// vCPU 0's registers, in the idle loop.
pub fn registers(rip: u64, rax: u64) -> Vec<RegisterRow> {
    let r = |name: &str, value: u64| RegisterRow {
        name: name.into(),
        value,
        ..RegisterRow::default()
    };
    vec![
        r("rax", rax),
        r("rbx", 0),
        r("rcx", 0x1),
        r("rdx", 0x2ef6c),
        r("rsi", 0x83),
        r("rdi", 0x4ab4),
        r("rbp", 0),
        r("rsp", 0xffffffffa0a03e70),
        r("r8", 0x1),
        r("r9", 0),
        r("r10", 0x1),
        r("r11", 0),
        r("r12", 0),
        r("r13", 0),
        r("r14", 0),
        r("r15", 0xffffffffa0a13c40),
        r("rip", rip),
        r("eflags", 0x246),
        r("cs", 0x10),
        r("ss", 0x18),
        r("ds", 0),
        r("es", 0),
        r("fs", 0),
        r("gs", 0),
        r("fs_base", 0),
        r("gs_base", 0xffff8eadbec00000),
    ]
}

/// Instructions around `__schedule+0x34d`.
pub fn disassembly() -> Vec<DisasmRow> {
    let d = |addr: u64, sym: &str, bytes: &str, text: &str, current: bool| DisasmRow {
        addr,
        symbol: Some(sym.into()),
        bytes: bytes.into(),
        text: text.into(),
        current,
    };
    vec![
        d(
            0xffffffff9f9a2b2a,
            "__schedule+0x33a",
            "4c 89 ef",
            "mov    rdi,r13",
            false,
        ),
        d(
            0xffffffff9f9a2b2d,
            "__schedule+0x33d",
            "48 89 c6",
            "mov    rsi,rax",
            false,
        ),
        d(
            0xffffffff9f9a2b30,
            "__schedule+0x340",
            "e8 5b e6 ff ff",
            "call   __switch_to_asm",
            false,
        ),
        d(
            0xffffffff9f9a2b35,
            "__schedule+0x345",
            "48 89 c7",
            "mov    rdi,rax",
            false,
        ),
        d(
            0xffffffff9f9a2b38,
            "__schedule+0x348",
            "e8 33 9a 7b ff",
            "call   finish_task_switch",
            false,
        ),
        d(
            0xffffffff9f9a2b3d,
            "__schedule+0x34d",
            "48 8b 44 24 08",
            "mov    rax,QWORD PTR [rsp+0x8]",
            true,
        ),
        d(
            0xffffffff9f9a2b42,
            "__schedule+0x352",
            "65 48 2b 04 25 28 00 00 00",
            "sub    rax,QWORD PTR gs:0x28",
            false,
        ),
        d(
            0xffffffff9f9a2b4b,
            "__schedule+0x35b",
            "0f 85 c2 04 00 00",
            "jne    __schedule+0x823",
            false,
        ),
        d(
            0xffffffff9f9a2b51,
            "__schedule+0x361",
            "48 83 c4 10",
            "add    rsp,0x10",
            false,
        ),
        d(
            0xffffffff9f9a2b55,
            "__schedule+0x365",
            "5b",
            "pop    rbx",
            false,
        ),
        d(
            0xffffffff9f9a2b56,
            "__schedule+0x366",
            "5d",
            "pop    rbp",
            false,
        ),
        d(
            0xffffffff9f9a2b57,
            "__schedule+0x367",
            "41 5c",
            "pop    r12",
            false,
        ),
    ]
}

/// What `::walk thread | ::findstack -v` prints for the first few tasks.
pub const FINDSTACK_OUTPUT: &str = "\
stack pointer for thread ffff8ead41bf4800 (89 qmdb-sleeper): ffffb3f2c0267d68
[ ffffb3f2c0267d68 __schedule+0x34d() ]
  ffffb3f2c0267dd0 schedule+0x5a()
  ffffb3f2c0267de8 do_nanosleep+0x7b()
  ffffb3f2c0267e30 hrtimer_nanosleep+0x9e()
  ffffb3f2c0267ec0 common_nsleep+0x3b()
  ffffb3f2c0267ed8 __x64_sys_clock_nanosleep+0xcc()
  ffffb3f2c0267f30 do_syscall_64+0x58()
  ffffb3f2c0267f50 entry_SYSCALL_64_after_hwframe+0x6e()
  user mode: pc 7f3a1c0e5f13 sp 7ffd7e3e2a48
stack pointer for thread ffff8ead41d1c000 (97 qmdb-sleeper): ffffb3f2c02afd68
[ ffffb3f2c02afd68 __schedule+0x34d() ]
  ffffb3f2c02afdd0 schedule+0x5a()
  ffffb3f2c02afde8 do_nanosleep+0x7b()
  ffffb3f2c02afe30 hrtimer_nanosleep+0x9e()";

/// An app that attached and got every pane filled, with the requests it made.
pub fn attached_app(width: u16, height: u16) -> (App, Arc<AtomicBool>) {
    let mut app = App::new(History::in_memory());
    app.resize(width, height);
    let flag = Arc::new(AtomicBool::new(false));
    app.handle_event(Event::Ready {
        interrupt: flag.clone(),
    });
    let reqs = app.handle_event(Event::Connected(status()));
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    for ev in [
        Event::Threads(threads()),
        Event::Registers(registers(0xffffffff9f9a2b3d, 0)),
        Event::Stack(vcpu_stack()),
        Event::Disassembly(disassembly()),
    ] {
        assert!(app.handle_event(ev).is_empty());
    }
    (app, flag)
}

/// Runs a command to its end: its echo, its output, Done after `ms` milliseconds.
pub fn run_command(app: &mut App, line: &str, output: &str, ms: u64) -> Vec<Request> {
    for c in line.chars() {
        app.handle_key(super::tests::key(crossterm::event::KeyCode::Char(c)));
    }
    let reqs = app.handle_key(super::tests::key(crossterm::event::KeyCode::Enter));
    let Some(Request::Execute { id, .. }) = reqs.first().cloned() else {
        panic!("not executed: {reqs:?}");
    };
    for l in output.lines() {
        app.handle_event(Event::Output {
            id,
            kind: crate::protocol::LineKind::Text,
            text: l.into(),
        });
    }
    app.handle_event(Event::Done {
        id,
        ok: true,
        elapsed: std::time::Duration::from_millis(ms),
        quit: false,
        fatal: false,
        interrupted: false,
    });
    reqs
}
