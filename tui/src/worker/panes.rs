//! Filling the panes: the dcmds each pane calls ([`Session::call`]), their typed records
//! turned into rows ([`super::rows`]).

use super::memory;
use super::rows;
use super::stream::with_interrupt;
use crate::protocol::{Event, Pane};
use qmdb_bridge::VirtAddr;
use qmdb_dcmds::records::{CpuRow, Instruction, Registers, TaskRow, TaskStack, VcpuStack};
use qmdb_dcmds::{Call, DcmdError, Session};
use std::sync::atomic::AtomicBool;

/// How far before the pc the disassembly pane starts, at most: from the function's start
/// when it is this close, else from the pc.
const DIS_LOOKBACK: u64 = 0x800;

/// Why a pane could not be filled. The texts (`Display`) are what the UI shows.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PaneError {
    /// A dcmd the pane runs failed; when [`DcmdError::is_fatal`], the connection is gone.
    #[error("{0}")]
    Dcmd(Box<DcmdError>),
    #[error("::regs gave nothing")]
    NoRegisters,
    /// `::findstack` found no stack for this thread.
    #[error("::findstack gave no stack for {0:x}")]
    NoThreadStack(u64),
    #[error("$c gave no stack")]
    NoVcpuStack,
    /// Neither `rip` nor `pc` could be read (the error is the one for `pc`).
    #[error("cannot read the pc: {0}")]
    NoPc(Box<DcmdError>),
    /// The disassembly never lined up with the pc.
    #[error("no instruction starts at {0:x}")]
    NoInstruction(u64),
    /// The memory pane's expression or its first byte.
    #[error("{0}")]
    Memory(String),
}

impl PaneError {
    /// Whether the connection is gone (only a dcmd's own failure can say so).
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(self, PaneError::Dcmd(e) if e.is_fatal())
    }
}

/// Calls the dcmd `name` for a pane.
pub(super) fn call(
    session: &mut Session,
    interrupt: &AtomicBool,
    name: &str,
    addr: Option<u64>,
    args: &[&str],
) -> Result<Call, PaneError> {
    with_interrupt(interrupt, session, |s| {
        s.call(name, addr.map(VirtAddr), args)
            .map_err(|e| PaneError::Dcmd(Box::new(e)))
    })
}

/// A pane's event, or why not ([`PaneError::is_fatal`] when the connection went).
pub(super) fn pane_event(
    session: &mut Session,
    interrupt: &AtomicBool,
    pane: &Pane,
) -> Result<Event, PaneError> {
    match pane {
        Pane::Threads => {
            let mut ps = call(session, interrupt, "ps", None, &["-t"])?;
            // Without `::cpuinfo` only the on-CPU markers are lost.
            let cpus = match call(session, interrupt, "cpuinfo", None, &[]) {
                Ok(mut c) => c.take::<CpuRow>(),
                Err(e) if e.is_fatal() => return Err(e),
                Err(_) => Vec::new(),
            };
            Ok(Event::Threads(rows::threads(&ps.take::<TaskRow>(), &cpus)))
        }
        Pane::Registers => {
            let mut c = call(session, interrupt, "regs", None, &[])?;
            let layout = session.target().register_layout();
            let mut rows = c
                .take::<Registers>()
                .first()
                .map(|r| rows::registers(r, layout))
                .ok_or(PaneError::NoRegisters)?;
            with_interrupt(interrupt, session, |s| {
                memory::annotate_registers(s, &mut rows)
            })?;
            Ok(Event::Registers(rows))
        }
        Pane::Stack { thread: Some(t) } => call(session, interrupt, "findstack", Some(*t), &[])?
            .take::<TaskStack>()
            .first()
            .map(|st| Event::Stack(rows::findstack(st)))
            .ok_or(PaneError::NoThreadStack(*t)),
        Pane::Stack { thread: None } => call(session, interrupt, "$c", None, &[])?
            .take::<VcpuStack>()
            .first()
            .map(|st| Event::Stack(rows::vcpu_stack(st)))
            .ok_or(PaneError::NoVcpuStack),
        Pane::Disassembly { addr } => disassembly(session, interrupt, *addr),
        Pane::Memory { expr } => {
            with_interrupt(interrupt, session, |s| memory::memory(s, expr)).map(Event::Memory)
        }
        // Answered by the worker from the event table, with no dcmd.
        Pane::Events => Err(PaneError::Memory("the events pane reads no guest".into())),
    }
}

/// Instructions around `addr` (the selected vCPU's pc when `None`): from the start of its
/// function when that is near, so that the lines before it show.
fn disassembly(
    session: &mut Session,
    interrupt: &AtomicBool,
    addr: Option<u64>,
) -> Result<Event, PaneError> {
    let pc = match addr {
        Some(a) => a,
        None => match session.register("rip") {
            Ok(pc) => pc,
            Err(_) => session
                .register("pc")
                .map_err(|e| PaneError::NoPc(Box::new(e)))?,
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
        let insns =
            call(session, interrupt, "dis", Some(start), &["-n", &count])?.take::<Instruction>();
        if let Some(rows) = rows::disassembly(&insns, pc, |a| symbol(session, a)) {
            return Ok(Event::Disassembly(rows));
        }
    }
    Err(PaneError::NoInstruction(pc))
}
