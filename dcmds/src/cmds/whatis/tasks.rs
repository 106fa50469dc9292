//! Addresses in a task: in its kernel stack (which frame of its backtrace) or in its
//! `task_struct` (which member).

use super::members::member_at;
use crate::error::DcmdError;
use crate::records::stack::kernel_frames;
use crate::records::whatis::{MatchKind, TaskStackAt, TaskStructAt, WhatisMatch as Match};
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_linux::backtrace::TaskBacktrace;
use qmdb_linux::{self, Scope, Task, TaskList};
use std::sync::Arc;

/// The task list, walked once per command (a pipe of addresses shares it).
struct WhatisTasks(TaskList);

fn tasks(
    session: &mut Session,
    layout: &qmdb_linux::LinuxLayout,
) -> Result<Arc<WhatisTasks>, DcmdError> {
    if let Some(t) = session.command_cached::<WhatisTasks>() {
        return Ok(t);
    }
    let limit = session.walk_limit();
    let list = qmdb_linux::walk_tasks(session, layout, Scope::Threads, limit)?;
    let t = Arc::new(WhatisTasks(list));
    session.cache_for_command(Arc::clone(&t));
    Ok(t)
}

/// The frame of `bt` whose part of the stack holds `addr`: its number (as `::findstack`
/// counts), its stack pointer and pc. Frame `i` spans from its stack pointer to the next
/// frame's on the same stack; the first also covers the switch frame below it.
pub fn frame_of(
    bt: &TaskBacktrace,
    stack: std::ops::Range<u64>,
    addr: u64,
) -> Option<(usize, u64, u64)> {
    let frames: Vec<(usize, u64, u64)> = kernel_frames(bt)
        .enumerate()
        .filter(|(_, f)| stack.contains(&f.sp))
        .map(|(i, f)| (i, f.sp, f.pc))
        .collect();
    let mut hit = None;
    for (n, &(i, sp, pc)) in frames.iter().enumerate() {
        let low = if i == 0 && stack.contains(&bt.sp) {
            sp.min(bt.sp)
        } else {
            sp
        };
        let high = frames.get(n + 1).map_or(stack.end, |f| f.1);
        if (low..high).contains(&addr) {
            hit = Some((i, sp, pc));
            break;
        }
    }
    hit
}

/// The stack and `task_struct` matches of `addr`.
pub fn describe(
    session: &mut Session,
    cmd: &str,
    addr: u64,
    out: &mut Vec<Match>,
) -> Result<(), DcmdError> {
    let ctx = qmdb_linux::context(session, cmd)?;
    let list = tasks(session, &ctx.layout)?;
    let size = task_size(session, ctx.layout.task.size);
    let on_stack = list
        .0
        .tasks
        .iter()
        .find(|t| t.stack_range().contains(&addr));
    if let Some(t) = on_stack {
        out.push(stack_match(session, &ctx, t, addr)?);
    }
    let owner = list
        .0
        .tasks
        .iter()
        .filter(|t| addr >= t.addr.0 .0 && addr - t.addr.0 .0 < size)
        .max_by_key(|t| t.addr.0 .0);
    if let Some(t) = owner {
        let off = addr - t.addr.0 .0;
        let member = ctx
            .btf
            .find("struct task_struct")
            .ok()
            .and_then(|c| c.plain())
            .and_then(|id| member_at(&ctx.btf, id, off));
        let mtext = member
            .as_ref()
            .map(|m| format!(", member {}{}", m.path, plus(m.offset)))
            .unwrap_or_default();
        let text = format!(
            "in task {} ({}), task_struct+{off:#x}{mtext}",
            t.addr,
            who(t)
        );
        let (member, member_offset) = member.map(|m| (m.path, m.offset)).unzip();
        out.push(Match::new(
            MatchKind::Task(TaskStructAt {
                thread: t.addr.0 .0,
                pid: t.pid,
                comm: t.comm.clone(),
                offset: off,
                member,
                member_offset,
            }),
            text,
        ));
    }
    Ok(())
}

/// The size of a task's memory: `arch_task_struct_size` (the FPU state at the end of
/// `task_struct` is sized at boot), at most BTF's `sizeof(struct task_struct)`.
fn task_size(session: &mut Session, btf_size: u64) -> u64 {
    let Some(a) = session.symbols().lookup_name("arch_task_struct_size") else {
        return btf_size;
    };
    match session.read_bytes(a, 4, None) {
        Ok(b) => match b
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_le_bytes)
        {
            Some(n) if n > 0 => (n as u64).min(btf_size),
            _ => btf_size,
        },
        Err(_) => btf_size,
    }
}

fn who(t: &Task) -> String {
    format!("pid {} {}", t.pid, t.comm)
}

fn plus(off: u64) -> String {
    if off == 0 {
        String::new()
    } else {
        format!("+{off:#x}")
    }
}

fn stack_match(
    session: &mut Session,
    ctx: &qmdb_linux::LinuxContext,
    t: &Task,
    addr: u64,
) -> Result<Match, DcmdError> {
    let off = addr - t.stack;
    let (setup, _) = qmdb_linux::stack_setup(session, ctx)?;
    let bt = setup.backtrace(session, &ctx.layout, t)?;
    let frame = frame_of(&bt, t.stack_range(), addr);
    let func = frame.map(|(_, _, pc)| session.symbolize(VirtAddr(pc)));
    let where_ = match (&frame, &func) {
        (Some((i, _, _)), Some(f)) => format!(", frame #{i} {f}"),
        _ => {
            let low = kernel_frames(&bt)
                .map(|f| f.sp)
                .filter(|sp| t.stack_range().contains(sp))
                .chain(t.stack_range().contains(&bt.sp).then_some(bt.sp))
                .min();
            match low {
                Some(sp) if addr < sp => ", below its stack pointer (unused)".to_string(),
                _ => String::new(),
            }
        }
    };
    let text = format!(
        "in the stack of task {} ({}), offset {off:#x}{where_}",
        t.addr,
        who(t)
    );
    Ok(Match::new(
        MatchKind::Stack(TaskStackAt {
            thread: t.addr.0 .0,
            pid: t.pid,
            comm: t.comm.clone(),
            stack: t.stack,
            offset: off,
            frame: frame.map(|f| f.0),
            frame_sp: frame.map(|f| f.1),
            pc: frame.map(|f| f.2),
            function: func,
        }),
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_linux::backtrace::StackOrigin;
    use qmdb_unwind::{Backtrace, EndReason, Frame, FrameKind};

    fn frame(sp: u64, pc: u64, kind: FrameKind) -> Frame {
        Frame {
            sp,
            pc,
            reliable: true,
            kind,
        }
    }

    #[test]
    fn frames_own_the_stack_up_to_the_next() {
        let bt = TaskBacktrace {
            origin: StackOrigin::Saved,
            sp: 0x1c98,
            backtrace: Some(Backtrace {
                frames: vec![
                    frame(0x1cd0, 0xa, FrameKind::Initial),
                    frame(0x1d28, 0xb, FrameKind::Call),
                    frame(0x1d40, 0xc, FrameKind::Call),
                    // On an IRQ stack: not this stack's.
                    frame(0x9000, 0xd, FrameKind::Call),
                    frame(0x1f58, 0xe, FrameKind::Call),
                ],
                end: EndReason::EndOfStack,
            }),
            note: None,
        };
        let stack = 0x0..0x2000;
        assert_eq!(frame_of(&bt, stack.clone(), 0x1c90), None);
        assert_eq!(frame_of(&bt, stack.clone(), 0x1c98), Some((0, 0x1cd0, 0xa)));
        assert_eq!(frame_of(&bt, stack.clone(), 0x1d27), Some((0, 0x1cd0, 0xa)));
        assert_eq!(frame_of(&bt, stack.clone(), 0x1d28), Some((1, 0x1d28, 0xb)));
        assert_eq!(frame_of(&bt, stack.clone(), 0x1e00), Some((2, 0x1d40, 0xc)));
        assert_eq!(frame_of(&bt, stack.clone(), 0x1fff), Some((4, 0x1f58, 0xe)));
        assert_eq!(frame_of(&bt, stack, 0x2000), None);
    }
}
