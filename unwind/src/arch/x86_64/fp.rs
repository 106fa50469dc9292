//! The frame-pointer walk, for kernels built without ORC (`CONFIG_UNWINDER_FRAME_POINTER`).
//!
//! Each frame's bp points at the caller's saved bp, with the return address above it:
//! `[bp] = caller's bp`, `[bp + 8] = return address`, and the caller's sp is `bp + 16`.
//! The entry code marks a `pt_regs` on the stack by storing its address with bit 0 set in
//! bp (`ENCODE_FRAME_POINTER`); such a frame continues from the saved registers. A zero bp
//! ends the chain. Every bp must lie in a declared region and the sp must grow, as in the
//! ORC walk.

use super::frame::{fault, moved};
use super::regs::{PtRegs, Reg, PT_REGS_SIZE};
use crate::stack::{Regions, StackMemory, Tracker};
use crate::{max_frames, Backtrace, EndReason, Frame, FrameKind, UnwindContext, UnwindStart};

/// Walks the bp chain from `start`.
pub fn unwind_fp(
    ctx: &UnwindContext<'_>,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
) -> Backtrace {
    let mut frames = Vec::new();
    let end = walk(ctx, mem, start, &mut frames);
    Backtrace { frames, end }
}

fn walk(
    ctx: &UnwindContext<'_>,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
    frames: &mut Vec<Frame>,
) -> EndReason {
    let max = max_frames(&ctx.options);
    if start.regs.is_some_and(|r| r.user_mode()) {
        return EndReason::UserMode {
            pc: start.ip,
            sp: start.sp,
        };
    }
    if max == 0 {
        return EndReason::TooManyFrames;
    }
    frames.push(Frame {
        sp: start.sp,
        pc: start.ip,
        reliable: true,
        kind: FrameKind::Initial,
    });
    let regions = Regions(ctx.regions);
    let Some(mut tracker) = Tracker::new(regions, start.sp) else {
        return EndReason::OutOfBounds { sp: start.sp };
    };
    let (mut sp, mut bp) = (start.sp, start.bp);
    loop {
        if bp == 0 {
            return EndReason::EndOfStack;
        }
        let (frame, next_bp) = if bp & 1 != 0 {
            let at = bp & !1;
            if regions.find_span(at, PT_REGS_SIZE).is_none() {
                return EndReason::OutOfBounds { sp: at };
            }
            let regs = match PtRegs::read(mem, at) {
                Ok(r) => r,
                Err(e) => return fault(e),
            };
            let (pc, new_sp, user) = (regs.get(Reg::Ip), regs.get(Reg::Sp), regs.user_mode());
            let frame = Frame {
                sp: new_sp,
                pc,
                reliable: true,
                kind: FrameKind::Regs { pt_regs: at, user },
            };
            if user {
                if frames.len() >= max {
                    return EndReason::TooManyFrames;
                }
                frames.push(frame);
                return EndReason::UserMode { pc, sp: new_sp };
            }
            (frame, regs.get(Reg::Bp))
        } else {
            if regions.find_span(bp, 16).is_none() {
                return EndReason::OutOfBounds { sp: bp };
            }
            let mut pair = [0u64; 2];
            if let Err(e) = mem.read_words(bp, &mut pair) {
                return fault(e);
            }
            let frame = Frame {
                sp: bp.wrapping_add(16),
                pc: pair[1],
                reliable: true,
                kind: FrameKind::Call,
            };
            (frame, pair[0])
        };
        if let Err(m) = tracker.enter(regions, frame.sp, sp) {
            return moved(m, frame.sp, sp);
        }
        if !ctx.text.is_text(frame.pc) {
            return EndReason::NotText {
                pc: frame.pc,
                sp: frame.sp,
            };
        }
        if frames.len() >= max {
            return EndReason::TooManyFrames;
        }
        frames.push(frame);
        sp = frame.sp;
        bp = next_bp;
    }
}
