//! Kernel stack unwinding, sans-IO: the ORC unwinder over `qmdb-kernel`'s ORC tables, and its
//! frame-pointer and stack-scan fallbacks.
//!
//! The unwinder reads guest memory only through [`StackMemory`], walks only inside the
//! [`StackRegion`]s it is given, and asks a [`TextTest`] whether an address is kernel text.
//! Everything it returns is data: a [`Backtrace`] of [`Frame`]s and the [`EndReason`] the
//! walk stopped for. Guest memory may be corrupt: every walk is bounded by
//! [`UnwindOptions::max_frames`], the stack pointer must grow on a stack, a stack once left
//! cannot be entered again, and any sp outside every region ends the walk.
//!
//! - the ORC table ([`OrcTable`]), its entry layouts and cache form are `qmdb_kernel::orc`'s;
//! - [`arch`]: what is x86_64's own, re-exported here at its historical paths:
//!   - [`frame`]: the ORC walk, after the kernel's arch/x86/kernel/unwind_orc.c;
//!   - [`fp`]: a frame-pointer walk for kernels without ORC;
//!   - [`regs`]: the `struct pt_regs` layout;
//!   - [`modules`]: loaded modules' ORC tables ([`ModuleOrcs`]), used for pcs in their text;
//! - generic: [`scan`], the stack scan that finishes a failed walk with unreliable (`?`)
//!   frames; [`stack`], the caller-facing traits and regions and the bounds and cycle
//!   checks; and here the [`Backtrace`], [`Frame`] and [`EndReason`] every walk returns.
//!
//! Addresses in the walk are runtime addresses; [`UnwindContext::slide`] maps them to the
//! kernel ORC table's link-time ips (runtime = link + slide); module tables are at runtime
//! addresses.

pub mod arch;
pub mod scan;
pub mod stack;

pub use arch::x86_64::{fp, frame, modules, regs};

#[cfg(test)]
mod tests;

pub use arch::{ModuleLookup, ModuleOrc, ModuleOrcs, PtRegs, Reg, THREAD_SIZE};
pub use qmdb_kernel::orc::{OrcEntry, OrcError, OrcFormat, OrcKind, OrcReg, OrcTable};
pub use stack::{StackKind, StackMemory, StackReadError, StackRegion, TextTest};

/// Frames returned at most by default.
pub const DEFAULT_MAX_FRAMES: usize = 256;
/// The largest [`UnwindOptions::max_frames`] honoured.
pub const MAX_FRAMES_LIMIT: usize = 4096;

/// Where the walk starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnwindStart {
    /// The first frame's pc (runtime address).
    pub ip: u64,
    /// Its stack pointer.
    pub sp: u64,
    /// Its frame/base pointer.
    pub bp: u64,
    /// All registers, when known (a vCPU's, or a `pt_regs` the caller found): ORC entries
    /// based on R10, R13, DI or DX need them, and a user-mode `cs` ends the walk at once.
    pub regs: Option<PtRegs>,
    /// `ip` is an exact instruction (interrupted, or a vCPU's pc), not a return address:
    /// look it up as is rather than at `ip - 1`.
    pub signal: bool,
}

impl UnwindStart {
    /// From a full register set (a stopped vCPU): exact ip, registers known.
    pub fn from_regs(regs: PtRegs) -> UnwindStart {
        UnwindStart {
            ip: regs.get(Reg::Ip),
            sp: regs.get(Reg::Sp),
            bp: regs.get(Reg::Bp),
            regs: Some(regs),
            signal: true,
        }
    }

    /// From a sleeping task's `inactive_task_frame`: `ip` is its `ret_addr` (a return
    /// address), `sp` the address just above the frame, `bp` its saved bp. A fresh task's
    /// `ret_addr` is `ret_from_fork`/`ret_from_fork_asm`, which the kernel looks up as an
    /// exact ip: set [`UnwindStart::signal`] for it.
    pub fn sleeping(ip: u64, sp: u64, bp: u64) -> UnwindStart {
        UnwindStart {
            ip,
            sp,
            bp,
            regs: None,
            signal: false,
        }
    }
}

/// What to do when the walk cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnwindOptions {
    /// Frames returned at most, scanned ones included (clamped to [`MAX_FRAMES_LIMIT`]).
    pub max_frames: usize,
    /// After a failed walk (no ORC entry, a read fault, bad data, sp out of bounds), scan
    /// the rest of the current stack region for kernel text addresses and append them as
    /// unreliable [`FrameKind::Scanned`] frames.
    pub scan_after_failure: bool,
    /// Where ORC has no entry for a pc, guess a frame-pointer frame as the kernel does
    /// (`orc_fp_entry`, for generated code); frames from then on are unreliable.
    pub guess_frame_pointer: bool,
}

impl Default for UnwindOptions {
    fn default() -> Self {
        UnwindOptions {
            max_frames: DEFAULT_MAX_FRAMES,
            scan_after_failure: true,
            guess_frame_pointer: true,
        }
    }
}

/// Everything a walk needs besides memory and the start.
#[derive(Clone, Copy)]
pub struct UnwindContext<'a> {
    /// The kernel's ORC table; `None` for a frame-pointer kernel ([`fp`] is used).
    pub orc: Option<&'a OrcTable>,
    /// The KASLR slide: runtime address = link-time address + slide.
    pub slide: u64,
    /// The stacks the walk may use.
    pub regions: &'a [StackRegion],
    /// Whether a runtime address is kernel text.
    pub text: &'a dyn TextTest,
    /// Limits and fallbacks.
    pub options: UnwindOptions,
}

impl std::fmt::Debug for UnwindContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnwindContext")
            .field("orc_entries", &self.orc.map(OrcTable::len))
            .field("slide", &self.slide)
            .field("regions", &self.regions)
            .field("options", &self.options)
            .finish()
    }
}

/// How a frame was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The starting registers.
    Initial,
    /// A return address, from ORC (or a frame-pointer chain).
    Call,
    /// Registers saved by the entry code: a full `pt_regs` or an iret frame at `pt_regs`
    /// (the address of the whole `struct pt_regs`). `user`: they are user-mode registers;
    /// such a frame is the last, and its pc and sp are user addresses.
    Regs { pt_regs: u64, user: bool },
    /// A stack word that looks like a kernel text address, found by scanning at `slot`;
    /// Linux prints these with `?`.
    Scanned { slot: u64 },
}

/// One frame of a backtrace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The stack pointer in this frame (for a scanned frame, `slot + 8`).
    pub sp: u64,
    /// The pc: the starting ip, a return address, or an interrupted ip.
    pub pc: u64,
    /// Found by exact unwind data (false after a guess, and for scanned frames).
    pub reliable: bool,
    /// How it was found.
    pub kind: FrameKind,
}

/// Why a walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The unwind data marks the bottom of the stack (a kernel thread's first frame, or
    /// the entry code): a complete backtrace.
    EndOfStack,
    /// Registers saved from user mode were reached: a complete backtrace of a task in a
    /// system call or interrupted in user mode.
    UserMode { pc: u64, sp: u64 },
    /// An address the walk needed (the next sp, or a stack slot it had to read) lies
    /// outside every declared region.
    OutOfBounds { sp: u64 },
    /// The ORC table has no entry for `pc`.
    NoOrc { pc: u64 },
    /// The ORC entry for `pc` says there is no unwind information there.
    UndefinedOrc { pc: u64 },
    /// The ORC entry for `pc` uses a base register the walk cannot use (an undefined
    /// register number).
    BadOrc { pc: u64, reg: OrcReg },
    /// The ORC entry for `pc` needs register `reg`, which is not known here.
    MissingRegister { pc: u64, reg: OrcReg },
    /// A return address is not kernel text.
    NotText { pc: u64, sp: u64 },
    /// Reading guest memory at `addr` failed.
    ReadFault { addr: u64, reason: String },
    /// [`UnwindOptions::max_frames`] frames were found.
    TooManyFrames,
    /// The stack pointer did not grow on one stack, or went back to a stack already left.
    NotProgressing { sp: u64, prev_sp: u64 },
}

impl EndReason {
    /// Why the walk ended, as the last line of a printed stack; `None` for a normal end.
    pub fn note(&self) -> Option<String> {
        Some(match self {
            EndReason::EndOfStack | EndReason::UserMode { .. } => return None,
            EndReason::OutOfBounds { sp } => {
                format!("stack pointer {sp:x} is outside the task's stacks")
            }
            EndReason::NoOrc { pc } => format!("no unwind data for {pc:x}"),
            EndReason::UndefinedOrc { pc } => format!("the unwind data of {pc:x} is undefined"),
            EndReason::BadOrc { pc, reg } => {
                format!("bad unwind data at {pc:x} (register {reg:?})")
            }
            EndReason::MissingRegister { pc, reg } => {
                format!("unwinding {pc:x} needs register {reg:?}, which is not saved")
            }
            EndReason::NotText { pc, sp } => {
                format!("return address {pc:x} at {sp:x} is not kernel text")
            }
            EndReason::ReadFault { addr, reason } => format!("cannot read {addr:x}: {reason}"),
            EndReason::TooManyFrames => "too many frames".to_string(),
            EndReason::NotProgressing { sp, prev_sp } => {
                format!("the stack pointer went from {prev_sp:x} back to {sp:x}")
            }
        })
    }
}

impl EndReason {
    /// Whether the walk reached a real end of the stack (not an error or a limit).
    pub fn is_complete(&self) -> bool {
        matches!(self, EndReason::EndOfStack | EndReason::UserMode { .. })
    }
}

/// The result of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backtrace {
    /// Innermost first.
    pub frames: Vec<Frame>,
    /// Why the unwind proper stopped (scanned frames may follow it).
    pub end: EndReason,
}

/// Unwinds from `start`: with ORC when the context has a table, else by frame pointers;
/// then, if the walk failed and [`UnwindOptions::scan_after_failure`] is set, scans the rest
/// of the last stack region.
pub fn unwind(
    ctx: &UnwindContext<'_>,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
) -> Backtrace {
    unwind_with_modules(ctx, &ModuleOrcs::default(), mem, start)
}

/// [`unwind`], looking pcs inside a loaded module's text up in that module's ORC table
/// (the `text` test of the context should accept module text too).
pub fn unwind_with_modules(
    ctx: &UnwindContext<'_>,
    modules: &ModuleOrcs,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
) -> Backtrace {
    let mut bt = arch::walk(ctx, modules, mem, start);
    if ctx.options.scan_after_failure && scan::should_scan(&bt.end) {
        let from = bt.frames.last().map_or(start.sp, |f| f.sp);
        scan::scan_into(ctx, mem, from, &mut bt.frames);
    }
    bt
}

/// [`UnwindOptions::max_frames`], clamped.
pub(crate) fn max_frames(options: &UnwindOptions) -> usize {
    options.max_frames.min(MAX_FRAMES_LIMIT)
}
