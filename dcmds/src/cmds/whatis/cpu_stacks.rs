//! Addresses on a CPU's own stacks: its hard IRQ stack and its exception (IST) stacks, as
//! the unwinder knows them.

use super::tasks::frame_of;
use crate::error::DcmdError;
use crate::records::whatis::{CpuStackAt, MatchKind, WhatisMatch as Match};
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_unwind::StackKind;

/// The IRQ or exception stack match of `addr`, if it lies on one.
pub fn describe(
    session: &mut Session,
    cmd: &str,
    addr: u64,
    out: &mut Vec<Match>,
) -> Result<(), DcmdError> {
    let ctx = qmdb_linux::context(session, cmd)?;
    let (setup, _) = qmdb_linux::stack_setup(session, &ctx)?;
    let Some((cpu, region)) = setup.cpu_stack_at(addr) else {
        return Ok(());
    };
    let (what, exception, name) = match &region.kind {
        StackKind::Irq => ("IRQ stack".to_string(), false, None),
        StackKind::Exception(n) => (format!("{n} exception stack"), true, Some(n.clone())),
        StackKind::Task => return Ok(()),
    };
    let range = region.range.clone();
    // The frame of the task the CPU runs, if its backtrace passes through this stack.
    let current = setup
        .vcpus
        .iter()
        .find(|v| v.cpu == Some(cpu))
        .and_then(|v| v.current);
    let mut frame = None;
    if let Some(t) = current {
        match qmdb_linux::tasks::read_task(session, &ctx.layout, t) {
            Ok(task) => {
                let bt = setup.backtrace(session, &ctx.layout, &task)?;
                frame = frame_of(&bt, range.clone(), addr).map(|f| (task, f));
            }
            Err(e) if e.ends_command() => return Err(e.into()),
            Err(_) => {}
        }
    }
    let func = frame
        .as_ref()
        .map(|(_, (_, _, pc))| session.symbolize(VirtAddr(*pc)));
    let where_ = match (&frame, &func) {
        (Some((t, (i, _, _))), Some(f)) => {
            format!(", frame #{i} {f} of pid {} ({})", t.pid, t.comm)
        }
        _ => String::new(),
    };
    let off = addr.wrapping_sub(range.start);
    let below_top = range.end.wrapping_sub(addr);
    let at = CpuStackAt {
        cpu,
        name,
        stack: range.start,
        offset: off,
        pid: frame.as_ref().map(|(t, _)| t.pid),
        frame: frame.as_ref().map(|(_, f)| f.0),
        function: func,
    };
    out.push(Match::new(
        if exception {
            MatchKind::ExceptionStack(at)
        } else {
            MatchKind::IrqStack(at)
        },
        format!("on CPU {cpu}'s {what}, offset {off:#x} ({below_top:#x} below its top){where_}"),
    ));
    Ok(())
}
