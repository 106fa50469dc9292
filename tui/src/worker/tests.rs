//! The worker over mock sessions: no guest, no terminal.

use super::*;
use crate::protocol::RegisterRow;
use qmdb_bridge::regs::{RegLayout, RegValues};
use qmdb_bridge::{ChunkError, Target, TargetMemory, TargetStatus, VcpuId, VcpuInfo};
use qmdb_bridge::{StopReason, VirtAddr};
use qmdb_dcmds::mock::MockTarget;

const WAIT: Duration = Duration::from_secs(20);

/// A [`MockTarget`] whose connection a test can cut from its own thread: while `down` is
/// set, the mock's `disconnected` is too.
struct Flaky {
    inner: MockTarget,
    down: Arc<AtomicBool>,
}

impl Flaky {
    fn sync(&mut self) -> &mut MockTarget {
        self.inner.shared().borrow_mut().disconnected = self.down.load(Ordering::SeqCst);
        &mut self.inner
    }
}

impl TargetMemory for Flaky {
    fn max_request(&self) -> usize {
        self.inner.max_request()
    }
    fn read_chunks(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> qmdb_bridge::error::Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        self.sync().read_chunks(reqs)
    }
}

impl Target for Flaky {
    fn status(&mut self) -> qmdb_bridge::error::Result<TargetStatus> {
        self.sync().status()
    }
    fn vcpus(&mut self) -> qmdb_bridge::error::Result<Vec<VcpuInfo>> {
        self.sync().vcpus()
    }
    fn selected_vcpu(&self) -> VcpuId {
        self.inner.selected_vcpu()
    }
    fn select_vcpu(&mut self, id: VcpuId) -> qmdb_bridge::error::Result<()> {
        self.sync().select_vcpu(id)
    }
    fn register_layout(&self) -> &RegLayout {
        self.inner.register_layout()
    }
    fn read_registers(&mut self) -> qmdb_bridge::error::Result<RegValues> {
        self.sync().read_registers()
    }
    fn monitor(&mut self, cmd: &str) -> qmdb_bridge::error::Result<String> {
        self.sync().monitor(cmd)
    }
    fn interrupt(&mut self) -> qmdb_bridge::error::Result<StopReason> {
        self.sync().interrupt()
    }
    fn resume(&mut self) -> qmdb_bridge::error::Result<()> {
        self.sync().resume()
    }
    fn insert_breakpoint(
        &mut self,
        kind: qmdb_bridge::BreakKind,
        addr: VirtAddr,
        len: u64,
    ) -> qmdb_bridge::error::Result<()> {
        self.sync().insert_breakpoint(kind, addr, len)
    }
    fn remove_breakpoint(
        &mut self,
        kind: qmdb_bridge::BreakKind,
        addr: VirtAddr,
        len: u64,
    ) -> qmdb_bridge::error::Result<()> {
        self.sync().remove_breakpoint(kind, addr, len)
    }
}

/// 1 MiB of nops at the mock's vCPU 0 pc.
const TEXT: u64 = 0xffffffff81000000;

fn mock() -> MockTarget {
    MockTarget::new().with_bytes(TEXT, &vec![0x90; 1 << 20])
}

fn flaky(down: &Arc<AtomicBool>) -> WorkerHandle {
    let down = Arc::clone(down);
    spawn_with(move || {
        Ok(Session::new(Box::new(Flaky {
            inner: mock(),
            down: Arc::clone(&down),
        })))
    })
}

fn next(w: &WorkerHandle) -> Event {
    w.events
        .recv_timeout(WAIT)
        .expect("an event from the worker")
}

/// The interrupt flag from Ready, once connected.
fn connected_flag(w: &WorkerHandle) -> Arc<AtomicBool> {
    let Event::Ready { interrupt } = next(w) else {
        panic!("no Ready");
    };
    assert!(matches!(next(w), Event::Connected(_)));
    interrupt
}

/// Skips Ready and returns the connection event.
fn started(w: &WorkerHandle) -> Event {
    assert!(matches!(next(w), Event::Ready { .. }));
    next(w)
}

/// The Output lines of command `id` until its Done, and the Done's fields.
fn run(w: &WorkerHandle, id: CommandId, line: &str) -> (Vec<(LineKind, String)>, Event) {
    w.requests
        .send(Request::Execute {
            id,
            line: line.into(),
        })
        .unwrap();
    let mut lines = Vec::new();
    loop {
        match next(w) {
            Event::Output { id: i, kind, text } => {
                assert_eq!(i, id);
                // `=` pads numbers to a column.
                lines.push((kind, text.trim().to_string()));
            }
            done @ Event::Done { .. } => return (lines, done),
            Event::Status(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn execute_streams_lines_then_done() {
    let w = flaky(&Arc::default());
    let Event::Connected(st) = started(&w) else {
        panic!("not connected");
    };
    assert_eq!(st.target, "127.0.0.1:1234");
    assert!(!st.running);
    assert_eq!(st.stop_reason.as_deref(), Some("SIGTRAP on vCPU 0"));
    assert_eq!((st.vcpus, st.kernel_release), (2, None));

    let (lines, done) = run(&w, 7, "1=X; 0x10=D; nosuchsym=X");
    assert_eq!(
        lines,
        [
            (LineKind::Text, "1".to_string()),
            (LineKind::Text, "16".to_string()),
            (LineKind::Error, lines[2].1.clone()),
        ]
    );
    assert!(lines[2].1.contains("nosuchsym"), "{lines:?}");
    let Event::Done {
        id,
        ok,
        quit,
        fatal,
        interrupted,
        ..
    } = done
    else {
        unreachable!()
    };
    assert_eq!(
        (id, ok, quit, fatal, interrupted),
        (7, false, false, false, false)
    );

    let (_, done) = run(&w, 8, "$q");
    assert!(
        matches!(
            done,
            Event::Done {
                quit: true,
                ok: true,
                ..
            }
        ),
        "{done:?}"
    );
    w.join();
}

#[test]
fn a_lost_connection_disconnects_and_reconnect_attaches_again() {
    let down = Arc::new(AtomicBool::new(false));
    let w = flaky(&down);
    assert!(matches!(started(&w), Event::Connected(_)));
    down.store(true, Ordering::SeqCst);
    let (lines, done) = run(&w, 1, "::regs");
    assert!(
        matches!(
            done,
            Event::Done {
                fatal: true,
                ok: false,
                ..
            }
        ),
        "{done:?}"
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    let Event::Disconnected { reason } = next(&w) else {
        panic!("no Disconnected");
    };
    assert!(reason.contains("connection"), "{reason}");

    // The UI stays up: requests get errors, not silence.
    let (lines, done) = run(&w, 2, "1=X");
    assert!(lines[0].1.contains("not connected"), "{lines:?}");
    assert!(matches!(done, Event::Done { fatal: true, .. }));
    w.requests.send(Request::Refresh(Pane::Registers)).unwrap();
    assert!(matches!(
        next(&w),
        Event::PaneError {
            pane: Pane::Registers,
            ..
        }
    ));
    w.requests.send(Request::Halt).unwrap();
    assert!(matches!(next(&w), Event::Disconnected { .. }));

    down.store(false, Ordering::SeqCst);
    w.requests.send(Request::Reconnect).unwrap();
    assert!(matches!(next(&w), Event::Connected(_)));
    let (lines, done) = run(&w, 3, "<rip=K");
    assert_eq!(lines, [(LineKind::Text, "ffffffff81000010".to_string())]);
    assert!(matches!(done, Event::Done { ok: true, .. }));
    w.join();
}

#[test]
fn attach_failure_is_disconnected_and_the_worker_stays_up() {
    let w = spawn_with(|| Err("cannot attach to 127.0.0.1:1: refused".into()));
    let Event::Disconnected { reason } = started(&w) else {
        panic!("not Disconnected");
    };
    assert!(reason.contains("refused"));
    w.requests.send(Request::Refresh(Pane::Threads)).unwrap();
    let Event::PaneError { message, .. } = next(&w) else {
        panic!("no PaneError");
    };
    assert!(message.contains("refused"), "{message}");
    w.requests.send(Request::Quit { resume: true }).unwrap();
    assert!(matches!(next(&w), Event::Exited));
}

#[test]
fn refresh_fills_panes() {
    let w = flaky(&Arc::default());
    assert!(matches!(started(&w), Event::Connected(_)));

    w.requests.send(Request::Refresh(Pane::Registers)).unwrap();
    let Event::Registers(rows) = next(&w) else {
        panic!("no Registers");
    };
    let rip = rows.iter().find(|r| r.name == "rip").expect("rip");
    assert_eq!(rip.value, 0xffffffff81000010);
    assert_eq!(rows.first().map(|r| r.name.as_str()), Some("rax"));
    assert!(!rows.iter().any(|r| r.name == "xmm0" || r.name == "st0"));

    w.requests
        .send(Request::Refresh(Pane::Disassembly { addr: None }))
        .unwrap();
    let Event::Disassembly(rows) = next(&w) else {
        panic!("no Disassembly");
    };
    assert_eq!(rows.len(), rows::DIS_AFTER);
    assert!(rows[0].current);
    assert_eq!(
        (rows[0].addr, rows[0].text.as_str()),
        (0xffffffff81000010, "nop")
    );

    for pane in [
        Pane::Threads,
        Pane::Stack {
            thread: Some(0x1000),
        },
    ] {
        w.requests.send(Request::Refresh(pane.clone())).unwrap();
        let Event::PaneError { pane: p, message } = next(&w) else {
            panic!("no PaneError");
        };
        assert_eq!(p, pane);
        assert!(message.contains("--kernel"), "{message}");
    }

    // Panes leave dot alone.
    let (lines, _) = run(&w, 1, "1234=K; .=K");
    assert_eq!(lines.last().map(|l| l.1.as_str()), Some("1234"));
    w.requests
        .send(Request::Refresh(Pane::Disassembly { addr: Some(TEXT) }))
        .unwrap();
    assert!(matches!(next(&w), Event::Disassembly(_)));
    let (lines, _) = run(&w, 2, ".=K");
    assert_eq!(lines, [(LineKind::Text, "1234".to_string())]);
    w.join();
}

#[test]
fn halt_reports_status() {
    let w = flaky(&Arc::default());
    assert!(matches!(started(&w), Event::Connected(_)));
    w.requests.send(Request::Halt).unwrap();
    assert!(matches!(next(&w), Event::Status(_)));
    w.join();
}

#[test]
fn the_interrupt_flag_reaches_the_running_command() {
    let w = flaky(&Arc::default());
    let interrupt = connected_flag(&w);
    // 128 Ki lines: long enough to be interrupted after the first.
    w.requests
        .send(Request::Execute {
            id: 1,
            line: format!("{TEXT:#x},{:#x}/K", (1 << 20) / 8),
        })
        .unwrap();
    let mut lines = 0;
    loop {
        match next(&w) {
            Event::Output { .. } => {
                lines += 1;
                interrupt.store(true, Ordering::Relaxed);
            }
            Event::Done { interrupted, .. } => {
                assert!(interrupted, "not interrupted after {lines} lines");
                break;
            }
            _ => {}
        }
    }
    assert!(lines < (1 << 17), "{lines}");
    w.join();
}

#[test]
fn quit_ends_the_worker() {
    let w = flaky(&Arc::default());
    assert!(matches!(started(&w), Event::Connected(_)));
    w.requests.send(Request::Quit { resume: true }).unwrap();
    assert!(matches!(next(&w), Event::Exited));
    // The thread has ended: its end of the channel is gone.
    assert!(w.events.recv_timeout(WAIT).is_err());
    w.join();
}

/// `:c` is the `::cont` dcmd: it says the guest runs, Ctrl-C (the interrupt flag) halts
/// it, the stop is reported, and a Status with the guest stopped follows the Done.
#[test]
fn cont_says_resumed_and_ctrl_c_halts_it() {
    let w = flaky(&Arc::default());
    let interrupt = connected_flag(&w);
    w.requests
        .send(Request::Execute {
            id: 7,
            line: ":c".into(),
        })
        .unwrap();
    assert!(matches!(next(&w), Event::Resumed));
    interrupt.store(true, Ordering::SeqCst);
    let mut lines = Vec::new();
    let done = loop {
        match next(&w) {
            Event::Output { id: 7, text, .. } => lines.push(text),
            done @ Event::Done { .. } => break done,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        matches!(
            done,
            Event::Done {
                id: 7,
                interrupted: true,
                ..
            }
        ),
        "{done:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("vCPU")),
        "no stop report: {lines:?}"
    );
    let Event::Status(st) = next(&w) else {
        panic!("no Status after the resume");
    };
    assert!(!st.running, "{st:?}");
    w.join();
}

/// The events after a request up to (and including) the first that `stop` accepts.
fn until(w: &WorkerHandle, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let ev = next(w);
        let last = stop(&ev);
        seen.push(ev);
        if last {
            return seen;
        }
    }
}

#[test]
fn a_repeat_says_its_line_and_runs_it_again() {
    let w = flaky(&Arc::default());
    assert!(matches!(started(&w), Event::Connected(_)));
    w.requests.send(Request::Repeat { id: 1 }).unwrap();
    let evs = until(&w, |e| matches!(e, Event::Done { .. }));
    assert!(
        matches!(evs.first(), Some(Event::Repeating { id: 1, line: None })),
        "{evs:?}"
    );
    run(&w, 2, "0x10=D");
    w.requests.send(Request::Repeat { id: 3 }).unwrap();
    let evs = until(&w, |e| matches!(e, Event::Done { .. }));
    let texts: Vec<String> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Repeating { id: 3, line } => line.clone(),
            Event::Output { id: 3, text, .. } => Some(text.trim().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["0x10=D", "16"]);
    w.join();
}

#[test]
fn the_memory_pane_reads_what_it_can_at_an_expression() {
    let w = flaky(&Arc::default());
    assert!(matches!(started(&w), Event::Connected(_)));
    let refresh = |expr: &str| {
        w.requests
            .send(Request::Refresh(Pane::Memory { expr: expr.into() }))
            .unwrap();
        next(&w)
    };
    let Event::Memory(v) = refresh("<rip") else {
        panic!("no Memory");
    };
    assert_eq!(v.addr, 0xffffffff81000010);
    assert_eq!(v.bytes, vec![0x90; memory::MEMORY_BYTES]);
    assert_eq!(v.note, None);
    // The text ends 16 bytes on: what is readable, and why no more.
    let Event::Memory(v) = refresh("0xffffffff810ffff0") else {
        panic!("no Memory");
    };
    assert_eq!(v.bytes.len(), 16);
    assert!(v.note.unwrap().contains("ffffffff81100000"));
    // Nothing readable at all: still a pane, empty, with the reason.
    let Event::Memory(v) = refresh("0x1000") else {
        panic!("no Memory");
    };
    assert!(v.bytes.is_empty() && v.note.is_some());
    for (expr, why) in [("nosuchsym", "nosuchsym"), ("1/X", "not an expression")] {
        let Event::PaneError { message, .. } = refresh(expr) else {
            panic!("no PaneError for {expr}");
        };
        assert!(message.contains(why), "{expr}: {message}");
    }
    w.join();
}

#[test]
fn the_event_table_is_sent_when_a_command_changes_it() {
    let w = flaky(&Arc::default());
    assert!(matches!(started(&w), Event::Connected(_)));
    w.requests.send(Request::Refresh(Pane::Events)).unwrap();
    assert!(matches!(next(&w), Event::Events(rows) if rows.is_empty()));
    let (lines, _) = run(&w, 1, "0xffffffff81000020::bp");
    assert!(lines.iter().all(|l| l.0 == LineKind::Text), "{lines:?}");
    let evs = until(&w, |e| matches!(e, Event::Events(_)));
    let Some(Event::Events(rows)) = evs.last() else {
        unreachable!()
    };
    assert_eq!(rows.len(), 1, "{lines:?}");
    assert_eq!((rows[0].id, rows[0].kind.as_str()), (1, "bp"));
    assert_eq!(rows[0].addr, 0xffffffff81000020);
    // Unchanged: not sent again (the next event is the next command's).
    run(&w, 2, "1=X");
    run(&w, 3, "::delete 1");
    let evs = until(&w, |e| matches!(e, Event::Events(_)));
    assert!(matches!(evs.last(), Some(Event::Events(rows)) if rows.is_empty()));
    w.join();
}

#[test]
fn registers_point_at_what_is_readable() {
    let mut session = Session::new(Box::new(mock()));
    let mut rows = vec![
        RegisterRow {
            name: "rsp".into(),
            value: TEXT + 8,
            ..RegisterRow::default()
        },
        RegisterRow {
            name: "rip".into(),
            value: TEXT,
            ..RegisterRow::default()
        },
        RegisterRow {
            name: "rdi".into(),
            value: 0xffff_8880_0000_0000,
            ..RegisterRow::default()
        },
        RegisterRow {
            name: "rax".into(),
            value: 0x10,
            ..RegisterRow::default()
        },
    ];
    memory::annotate_registers(&mut session, &mut rows).unwrap();
    assert_eq!(
        rows[0].deref,
        Some(crate::protocol::Pointee {
            value: 0x9090909090909090,
            symbol: None
        })
    );
    assert_eq!(rows[1].deref, None, "the pc is not dereferenced");
    assert_eq!(rows[2].deref, None, "unmapped: no dereference, no error");
    assert_eq!(rows[3].deref, None, "not a kernel address");
    assert!(rows.iter().all(|r| r.symbol.is_none()), "no symbols loaded");
}
