//! What of the unwinder is x86_64's own:
//!
//! - [`regs`]: the `struct pt_regs` layout the entry code saves, its register set ([`Reg`])
//!   and the hardware iret frame;
//! - [`frame`]: the ORC walk (ORC exists only on x86; objtool generates it), including the
//!   entry code's `pt_regs`/iret frames that take the walk from an IRQ or exception (IST)
//!   stack back to the interrupted one;
//! - [`fp`]: the frame-pointer walk of kernels without ORC, with x86's
//!   `ENCODE_FRAME_POINTER` marking of `pt_regs`;
//! - [`modules`]: loaded modules' ORC tables;
//! - [`THREAD_SIZE`], and [`walk`], which picks ORC or frame pointers.
//!
//! An arm64 module would provide the same shape: its `struct pt_regs` (x0..x30, sp, pc,
//! pstate) and register names; a frame-record walk (`[fp] = caller's fp, [fp + 8] = lr`,
//! ending at the `pt_regs`' final frame record, pointer authentication bits stripped from
//! lr) in place of ORC; the IRQ and overflow/SDEI stacks' rules; and its `THREAD_SIZE`.

pub mod fp;
pub mod frame;
pub mod modules;
pub mod regs;

pub use modules::{ModuleLookup, ModuleOrc, ModuleOrcs};
pub use regs::{IretFrame, PtRegs, Reg};

use crate::stack::StackMemory;
use crate::{Backtrace, UnwindContext, UnwindStart};

/// x86_64's `THREAD_SIZE` without KASAN: 16 KiB.
pub const THREAD_SIZE: u64 = 0x4000;

/// The architecture's walk from `start`: ORC when the context has a table (a pc in a
/// module's text is looked up in that module's), else the frame-pointer chain. No scan:
/// [`crate::unwind_with_modules`] adds it.
pub fn walk(
    ctx: &UnwindContext<'_>,
    modules: &ModuleOrcs,
    mem: &mut dyn StackMemory,
    start: &UnwindStart,
) -> Backtrace {
    match ctx.orc {
        Some(table) => frame::unwind_orc_with_modules(ctx, table, modules, mem, start),
        None => fp::unwind_fp(ctx, mem, start),
    }
}
