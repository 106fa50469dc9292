//! The ORC walk, following the kernel's `unwind_next_frame()` (arch/x86/kernel/unwind_orc.c)
//! as of 5.10, 6.1, 6.4, 6.12 and 7.x; where they differ, the version is named. The
//! entry formats and register numberings are in [`qmdb_kernel::orc::entry`].
//!
//! 1. Look up the entry for `ip - 1`, or for `ip` itself after a `signal` frame (an
//!    interrupted ip is exact; a return address may follow a call to a noreturn function,
//!    so its own entry may describe the wrong layout). Up to 6.3 the signal flag is set by
//!    every REGS and REGS_PARTIAL frame and cleared by CALL frames; from 6.4 it is the
//!    entry's `signal` bit (objtool sets it on the entry hints, so a few REGS_PARTIAL
//!    entries of 6.12 and 7.2 have it clear). A lookup of address 0 (a call through a NULL
//!    pointer, which the kernel sees as a signal frame at ip 0) uses the kernel's fixed
//!    `null_orc_entry`: `CALL`, CFA = sp + 8, bp unchanged (all versions). A pc in a
//!    module's text is looked up in that module's table, any other in the kernel's.
//!    No entry: the kernel (5.10 onwards) assumes a frame-pointer frame
//!    (`orc_fp_entry`: CFA = bp + 16, bp at CFA - 16) and marks the unwind unreliable; qmdb
//!    does that when [`crate::UnwindOptions::guess_frame_pointer`] is set, else stops.
//! 2. An UNDEFINED entry is an error, END_OF_STACK a clean end. Up to 6.3 these are
//!    `sp_reg == UNDEFINED` with the `end` bit clear or set, checked before the type; from
//!    6.4 they are types. (The weak section terminators among equal ips are resolved by
//!    the lookup: [`crate::OrcTable`] keeps the last of equal ips.)
//! 3. The CFA (the caller's sp before the call) from `sp_reg`: SP or BP plus
//!    `sp_offset`; BP_INDIRECT: `*(bp + sp_offset)` (all versions, used by GCC's DRAP
//!    realignment); SP_INDIRECT: `*sp + sp_offset` (5.12+, commit 87ccc826bf1c, for the
//!    call-on-IRQ-stack sequences; before it, `*(sp + sp_offset)`, but the commit says no
//!    kernel emitted SP_INDIRECT then, so 5.10 tables have none); R10, R13, DI, DX and
//!    (commit 96f3b16a9de5, 2026; see orc_entry.rs) AX: that register, known only from full registers (the
//!    vCPU's at the start, or a `pt_regs` frame's; after an iret-only frame, the full
//!    registers before it, the kernel's `prev_regs`; otherwise the walk stops, as the
//!    kernel's "missing R10 value"). UNDEFINED, PREV_SP and the undefined numbers 11..15
//!    stop the walk ("unknown SP base reg").
//! 4. By type: CALL: the return address is at `cfa - 8` and the new sp is the CFA; REGS: a
//!    whole `pt_regs` is at the CFA; REGS_PARTIAL: the iret frame (ip, cs, flags, sp, ss)
//!    is at the CFA. Saved user-mode registers end the walk.
//! 5. The caller's bp from `bp_reg`: UNDEFINED: unchanged, or the saved registers' bp when
//!    full registers are known after this frame (a REGS frame, or an iret frame after one);
//!    PREV_SP: read at `cfa + bp_offset`; BP: read at `bp + bp_offset`. Every kernel from
//!    5.10 to 7.2 accepts only these three as `bp_reg` and fails the unwind on any other
//!    ("unknown BP base reg"), and so does qmdb. (7.2's PREV_SP is number 8, which is
//!    BP_INDIRECT in the classic numbering: reading 7.2's table with the 6.x numbering
//!    made every frame with a saved bp fail.)
//! 6. The new sp must lie in a declared region; on the same region it must be above the
//!    old one, and a region once left cannot be entered again.

use super::modules::{ModuleLookup, ModuleOrcs};
use super::regs::{IretFrame, PtRegs, Reg, IRET_FRAME_OFFSET, IRET_FRAME_SIZE, PT_REGS_SIZE};
use crate::stack::{Moved, Regions, StackMemory, StackReadError, Tracker};
use crate::{max_frames, Backtrace, EndReason, Frame, FrameKind, UnwindContext, UnwindStart};
use qmdb_kernel::orc::{OrcEntry, OrcKind, OrcReg, OrcTable};

/// The kernel's `orc_fp_entry`: what it assumes for code without ORC data.
const FP_GUESS: OrcEntry = OrcEntry {
    sp_reg: OrcReg::Bp,
    bp_reg: OrcReg::PrevSp,
    sp_offset: 16,
    bp_offset: -16,
    kind: OrcKind::Call,
    signal: false,
};

/// The kernel's `null_orc_entry`, for a lookup of address 0.
const NULL_ENTRY: OrcEntry = OrcEntry {
    sp_reg: OrcReg::Sp,
    bp_reg: OrcReg::Undefined,
    sp_offset: 8,
    bp_offset: 0,
    kind: OrcKind::Call,
    signal: false,
};

/// Which registers are known beyond ip/sp/bp.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// None (after a call frame).
    Nothing,
    /// A full register set (the start's, or a `pt_regs` frame's).
    Full(PtRegs),
    /// Only an iret frame; `prev` is the full set before it, if any.
    Partial { prev: Option<PtRegs> },
}

impl Known {
    fn get(&self, reg: Reg) -> Option<u64> {
        match self {
            Known::Nothing => None,
            Known::Full(r) => Some(r.get(reg)),
            Known::Partial { prev } => prev.map(|r| r.get(reg)),
        }
    }
}

enum Next {
    Frame(Frame),
    Last(Frame, EndReason),
    End(EndReason),
}

struct Walk<'c, 'm> {
    ctx: &'c UnwindContext<'c>,
    table: &'c OrcTable,
    modules: &'c ModuleOrcs,
    mem: &'m mut dyn StackMemory,
    regions: Regions<'c>,
    ip: u64,
    sp: u64,
    bp: u64,
    known: Known,
    signal: bool,
    reliable: bool,
    tracker: Tracker,
}

/// Walks with ORC. See the module documentation; [`crate::unwind`] adds the scan.
pub fn unwind_orc(
    ctx: &UnwindContext<'_>,
    table: &OrcTable,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
) -> Backtrace {
    unwind_orc_with_modules(ctx, table, &ModuleOrcs::default(), mem, start)
}

/// [`unwind_orc`], with pcs inside a module's text looked up in that module's table.
pub fn unwind_orc_with_modules(
    ctx: &UnwindContext<'_>,
    table: &OrcTable,
    modules: &ModuleOrcs,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
) -> Backtrace {
    let max = max_frames(&ctx.options);
    let mut frames = Vec::new();
    let end = |frames, end| Backtrace { frames, end };
    if start.regs.is_some_and(|r| r.user_mode()) {
        let reason = EndReason::UserMode {
            pc: start.ip,
            sp: start.sp,
        };
        return end(frames, reason);
    }
    if max == 0 {
        return end(frames, EndReason::TooManyFrames);
    }
    frames.push(Frame {
        sp: start.sp,
        pc: start.ip,
        reliable: true,
        kind: FrameKind::Initial,
    });
    let regions = Regions(ctx.regions);
    let Some(tracker) = Tracker::new(regions, start.sp) else {
        return end(frames, EndReason::OutOfBounds { sp: start.sp });
    };
    let mut walk = Walk {
        ctx,
        table,
        modules,
        mem,
        regions,
        ip: start.ip,
        sp: start.sp,
        bp: start.bp,
        known: start.regs.map_or(Known::Nothing, Known::Full),
        signal: start.signal,
        reliable: true,
        tracker,
    };
    loop {
        let (frame, last) = match walk.step() {
            Next::Frame(f) => (f, None),
            Next::Last(f, reason) => (f, Some(reason)),
            Next::End(reason) => return end(frames, reason),
        };
        if frames.len() >= max {
            return end(frames, EndReason::TooManyFrames);
        }
        frames.push(frame);
        if let Some(reason) = last {
            return end(frames, reason);
        }
    }
}

impl Walk<'_, '_> {
    /// Reads the word at `addr`, which must lie in a declared region.
    fn read(&mut self, addr: u64) -> Result<u64, EndReason> {
        self.check_span(addr, 8)?;
        self.mem.read_u64(addr).map_err(|e| EndReason::ReadFault {
            addr: e.addr,
            reason: e.reason,
        })
    }

    fn check_span(&self, addr: u64, len: u64) -> Result<(), EndReason> {
        match self.regions.find_span(addr, len) {
            Some(_) => Ok(()),
            None => Err(EndReason::OutOfBounds { sp: addr }),
        }
    }

    fn step(&mut self) -> Next {
        match self.try_step() {
            Ok(next) => next,
            Err(reason) => Next::End(reason),
        }
    }

    fn try_step(&mut self) -> Result<Next, EndReason> {
        let pc = self.ip;
        let at = if self.signal { pc } else { pc.wrapping_sub(1) };
        let entry = if at == 0 {
            NULL_ENTRY
        } else {
            let found = match self.modules.lookup(at) {
                ModuleLookup::Module(e) => e,
                ModuleLookup::NotModule => self.table.lookup(at, self.ctx.slide),
            };
            match found {
                Some(e) if e.kind == OrcKind::Undefined => {
                    return Err(EndReason::UndefinedOrc { pc })
                }
                Some(e) if e.kind == OrcKind::EndOfStack => {
                    return Ok(Next::End(EndReason::EndOfStack))
                }
                Some(e) => e,
                None if self.ctx.options.guess_frame_pointer => {
                    self.reliable = false;
                    FP_GUESS
                }
                None => return Err(EndReason::NoOrc { pc }),
            }
        };
        let off = i64::from(entry.sp_offset);
        let cfa = match entry.sp_reg {
            OrcReg::Sp => self.sp.wrapping_add_signed(off),
            OrcReg::Bp => self.bp.wrapping_add_signed(off),
            // 5.12+ (87ccc826bf1c): `*sp + offset`; unused before.
            OrcReg::SpIndirect => self.read(self.sp)?.wrapping_add_signed(off),
            OrcReg::BpIndirect => self.read(self.bp.wrapping_add_signed(off))?,
            reg @ (OrcReg::R10 | OrcReg::R13 | OrcReg::Di | OrcReg::Dx | OrcReg::Ax) => {
                let r = match reg {
                    OrcReg::R10 => Reg::R10,
                    OrcReg::R13 => Reg::R13,
                    OrcReg::Di => Reg::Di,
                    OrcReg::Dx => Reg::Dx,
                    _ => Reg::Ax,
                };
                self.known
                    .get(r)
                    .ok_or(EndReason::MissingRegister { pc, reg })?
            }
            reg => return Err(EndReason::BadOrc { pc, reg }),
        };

        let (ip, sp, known, kind, user) = match entry.kind {
            OrcKind::Call => {
                let ip = self.read(cfa.wrapping_sub(8))?;
                (ip, cfa, Known::Nothing, FrameKind::Call, false)
            }
            OrcKind::Regs => {
                self.check_span(cfa, PT_REGS_SIZE)?;
                let regs = PtRegs::read(self.mem, cfa).map_err(fault)?;
                let user = regs.user_mode();
                let kind = FrameKind::Regs { pt_regs: cfa, user };
                (
                    regs.get(Reg::Ip),
                    regs.get(Reg::Sp),
                    Known::Full(regs),
                    kind,
                    user,
                )
            }
            OrcKind::RegsPartial => {
                self.check_span(cfa, IRET_FRAME_SIZE)?;
                let iret = IretFrame::read(self.mem, cfa).map_err(fault)?;
                let prev = match self.known {
                    Known::Full(r) => Some(r),
                    Known::Partial { prev } => prev,
                    Known::Nothing => None,
                };
                let kind = FrameKind::Regs {
                    pt_regs: cfa.wrapping_sub(IRET_FRAME_OFFSET),
                    user: iret.user_mode(),
                };
                (
                    iret.ip,
                    iret.sp,
                    Known::Partial { prev },
                    kind,
                    iret.user_mode(),
                )
            }
            // Filtered out above.
            OrcKind::Undefined | OrcKind::EndOfStack => return Err(EndReason::UndefinedOrc { pc }),
        };
        let frame = Frame {
            sp,
            pc: ip,
            reliable: self.reliable,
            kind,
        };
        if user {
            return Ok(Next::Last(frame, EndReason::UserMode { pc: ip, sp }));
        }

        let bp_off = i64::from(entry.bp_offset);
        let bp = match entry.bp_reg {
            OrcReg::Undefined => known.get(Reg::Bp).unwrap_or(self.bp),
            OrcReg::PrevSp => self.read(cfa.wrapping_add_signed(bp_off))?,
            OrcReg::Bp => self.read(self.bp.wrapping_add_signed(bp_off))?,
            // 5.10 to 7.2: any other bp base is "unknown BP base reg", an error.
            reg => return Err(EndReason::BadOrc { pc, reg }),
        };

        self.enter(sp)?;
        if !self.ctx.text.is_text(ip) {
            return Err(EndReason::NotText { pc: ip, sp });
        }
        self.ip = ip;
        self.sp = sp;
        self.bp = bp;
        self.known = known;
        self.signal = entry.signal;
        Ok(Next::Frame(frame))
    }

    /// Moves to `sp` under the rules of [`Tracker::enter`].
    fn enter(&mut self, sp: u64) -> Result<(), EndReason> {
        let prev_sp = self.sp;
        self.tracker
            .enter(self.regions, sp, prev_sp)
            .map_err(|m| moved(m, sp, prev_sp))
    }
}

/// The end reason for a refused move.
pub(crate) fn moved(m: Moved, sp: u64, prev_sp: u64) -> EndReason {
    match m {
        Moved::OutOfBounds => EndReason::OutOfBounds { sp },
        Moved::Backwards => EndReason::NotProgressing { sp, prev_sp },
    }
}

/// The end reason for a failed read.
pub(crate) fn fault(e: StackReadError) -> EndReason {
    EndReason::ReadFault {
        addr: e.addr,
        reason: e.reason,
    }
}
