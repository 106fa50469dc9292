//! Filling the panes: the dcmds each pane runs, with their output captured and their
//! records turned into rows ([`super::rows`]).

use super::rows;
use super::stream::with_interrupt;
use crate::protocol::{Event, Pane, StackView};
use qmdb_bridge::VirtAddr;
use qmdb_dcmds::{CaptureOutput, CommandRecord, Session};
use std::sync::atomic::AtomicBool;

/// How far before the pc the disassembly pane starts, at most: from the function's start
/// when it is this close, else from the pc.
const DIS_LOOKBACK: u64 = 0x800;

/// Runs `line` capturing its records; `Err` is a fatal error's message.
pub(super) fn capture(
    session: &mut Session,
    interrupt: &AtomicBool,
    line: &str,
) -> Result<Vec<CommandRecord>, String> {
    let mut out = CaptureOutput::new();
    let outcome = with_interrupt(interrupt, session, |s| s.execute(line, &mut out));
    let (records, _) = out.take();
    if outcome.fatal {
        let why = records
            .iter()
            .rev()
            .find_map(|r| r.error.clone())
            .unwrap_or_else(|| "the connection was lost".into());
        return Err(why);
    }
    Ok(records)
}

/// A pane's event (or why not), and the message of a fatal error if the connection went.
pub(super) fn pane_event(
    session: &mut Session,
    interrupt: &AtomicBool,
    pane: &Pane,
) -> (Result<Event, String>, Option<String>) {
    let run = |s: &mut Session, line: &str| capture(s, interrupt, line);
    let result = match pane {
        Pane::Threads => run(session, "::ps -t; ::cpuinfo").map(|recs| match recs.first() {
            Some(ps) => rows::threads(ps, recs.get(1)).map(Event::Threads),
            None => Err("::ps gave nothing".into()),
        }),
        Pane::Registers => run(session, "::regs").map(|recs| {
            let layout = session.target().register_layout();
            match recs.first() {
                Some(r) => rows::registers(r, layout).map(Event::Registers),
                None => Err("::regs gave nothing".into()),
            }
        }),
        Pane::Stack { thread } => {
            let line = match thread {
                Some(t) => format!("{t:#x}::findstack"),
                None => "$c".to_string(),
            };
            run(session, &line).map(|recs| {
                let view: Result<StackView, String> = match (recs.first(), thread) {
                    (Some(r), Some(t)) => rows::findstack(r, *t),
                    (Some(r), None) => rows::vcpu_stack(r),
                    (None, _) => Err(format!("{line} gave nothing")),
                };
                view.map(Event::Stack)
            })
        }
        Pane::Disassembly { addr } => disassembly(session, interrupt, *addr),
    };
    match result {
        Ok(ev) => (ev, None),
        Err(fatal) => (Err(fatal.clone()), Some(fatal)),
    }
}

/// Instructions around `addr` (the selected vCPU's pc when `None`): from the start of its
/// function when that is near, so that the lines before it show. The outer `Err` is fatal.
fn disassembly(
    session: &mut Session,
    interrupt: &AtomicBool,
    addr: Option<u64>,
) -> Result<Result<Event, String>, String> {
    let pc = match addr {
        Some(a) => a,
        None => match session.register("rip").or_else(|_| session.register("pc")) {
            Ok(pc) => pc,
            Err(e) => return Ok(Err(format!("cannot read the pc: {e}"))),
        },
    };
    let before = session
        .symbols()
        .lookup_addr(VirtAddr(pc))
        .map(|h| h.offset)
        .filter(|&off| off <= DIS_LOOKBACK && off <= pc)
        .unwrap_or(0);
    let symbol = |s: &Session, a: u64| {
        s.symbols()
            .lookup_addr(VirtAddr(a))
            .map(|h| match h.offset {
                0 => h.name,
                off => format!("{}+{off:#x}", h.name),
            })
    };
    // At most one instruction per byte before the pc.
    let mut tries = vec![(pc - before, before as usize + rows::DIS_AFTER)];
    if before > 0 {
        // Out of step from the function's start (data in the text): from the pc itself.
        tries.push((pc, rows::DIS_AFTER));
    }
    for (start, count) in tries {
        let recs = capture(session, interrupt, &format!("{start:#x}::dis -n {count}"))?;
        let Some(rec) = recs.first() else {
            return Ok(Err("::dis gave nothing".into()));
        };
        match rows::disassembly(rec, pc, |a| symbol(session, a)) {
            Ok(Some(rows)) => return Ok(Ok(Event::Disassembly(rows))),
            Ok(None) => continue,
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Err(format!("no instruction starts at {pc:x}")))
}
