//! Filling the panes: the dcmds each pane calls ([`Session::call`]), their typed records
//! turned into rows ([`super::rows`]).

use super::rows;
use super::stream::with_interrupt;
use crate::protocol::{Event, Pane};
use qmdb_bridge::VirtAddr;
use qmdb_dcmds::records::{CpuRow, Instruction, Registers, TaskRow, TaskStack, VcpuStack};
use qmdb_dcmds::{Call, Session};
use std::sync::atomic::AtomicBool;

/// How far before the pc the disassembly pane starts, at most: from the function's start
/// when it is this close, else from the pc.
const DIS_LOOKBACK: u64 = 0x800;

/// Calls the dcmd `name` for a pane. The outer `Err` is a fatal error's message (the
/// connection is gone); the inner one why the pane cannot be filled.
pub(super) fn call(
    session: &mut Session,
    interrupt: &AtomicBool,
    name: &str,
    addr: Option<u64>,
    args: &[&str],
) -> Result<Result<Call, String>, String> {
    match with_interrupt(interrupt, session, |s| {
        s.call(name, addr.map(VirtAddr), args)
    }) {
        Ok(call) => Ok(Ok(call)),
        Err(e) if e.is_fatal() => Err(e.to_string()),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// A pane's event (or why not), and the message of a fatal error if the connection went.
pub(super) fn pane_event(
    session: &mut Session,
    interrupt: &AtomicBool,
    pane: &Pane,
) -> (Result<Event, String>, Option<String>) {
    match pane_result(session, interrupt, pane) {
        Ok(ev) => (ev, None),
        Err(fatal) => (Err(fatal.clone()), Some(fatal)),
    }
}

fn pane_result(
    session: &mut Session,
    interrupt: &AtomicBool,
    pane: &Pane,
) -> Result<Result<Event, String>, String> {
    Ok(match pane {
        Pane::Threads => match call(session, interrupt, "ps", None, &["-t"])? {
            Ok(mut ps) => {
                // Without `::cpuinfo` only the on-CPU markers are lost.
                let cpus = match call(session, interrupt, "cpuinfo", None, &[])? {
                    Ok(mut c) => c.take::<CpuRow>(),
                    Err(_) => Vec::new(),
                };
                Ok(Event::Threads(rows::threads(&ps.take::<TaskRow>(), &cpus)))
            }
            Err(e) => Err(e),
        },
        Pane::Registers => call(session, interrupt, "regs", None, &[])?.and_then(|mut c| {
            let layout = session.target().register_layout();
            c.take::<Registers>()
                .first()
                .map(|r| Event::Registers(rows::registers(r, layout)))
                .ok_or_else(|| "::regs gave nothing".to_string())
        }),
        Pane::Stack { thread: Some(t) } => call(session, interrupt, "findstack", Some(*t), &[])?
            .and_then(|mut c| {
                c.take::<TaskStack>()
                    .first()
                    .map(|st| Event::Stack(rows::findstack(st)))
                    .ok_or_else(|| format!("::findstack gave no stack for {t:x}"))
            }),
        Pane::Stack { thread: None } => {
            call(session, interrupt, "$c", None, &[])?.and_then(|mut c| {
                c.take::<VcpuStack>()
                    .first()
                    .map(|st| Event::Stack(rows::vcpu_stack(st)))
                    .ok_or_else(|| "$c gave no stack".to_string())
            })
        }
        Pane::Disassembly { addr } => disassembly(session, interrupt, *addr)?,
    })
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
        let count = count.to_string();
        let insns = match call(session, interrupt, "dis", Some(start), &["-n", &count])? {
            Ok(mut c) => c.take::<Instruction>(),
            Err(e) => return Ok(Err(e)),
        };
        if let Some(rows) = rows::disassembly(&insns, pc, |a| symbol(session, a)) {
            return Ok(Ok(Event::Disassembly(rows)));
        }
    }
    Ok(Err(format!("no instruction starts at {pc:x}")))
}
