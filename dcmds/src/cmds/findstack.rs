//! `addr::findstack [-v]`: a task's kernel stack, as mdb prints a thread's.

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::stack::{kernel_frames, SavedRegs};
use crate::records::TaskStack;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::backtrace::TaskBacktrace;
use qmdb_linux::{self, TaskRef};
use qmdb_unwind::FrameKind;

pub const FINDSTACK: DcmdDef = DcmdDef {
    name: "findstack",
    aliases: &[],
    usage: ":[-v]",
    description: "print a task's kernel stack",
    help: "Walks the kernel stack of the task_struct at the address and prints it as
mdb prints a thread's stack:
stack pointer for thread ffff8ead41bf4800 (89 qmdb-sleeper): ffffb3f2c0267d68
[ ffffb3f2c0267d68 __schedule+0x34d() ]
  ffffb3f2c0267dd0 schedule+0x5d()
  ffffb3f2c0267de8 do_nanosleep+0x6b()
  ...
The first line gives the stack pointer the walk started from: the task's
saved thread.sp when it is not running, the registers of the vCPU it runs
on otherwise (the header then says which). Each frame shows the stack
pointer in that frame and the function (module`function in a loadable
module, as mdb names module symbols); a frame found by scanning the
stack for text addresses, not by unwind data, is marked ? as Linux marks
unreliable frames. A walk that ends before the bottom of the stack says
why. Use it on every task with:
  ::walk thread | ::findstack -v

  -v   also each frame's pc, how it was found (ORC call frame, registers
       saved at entry with the pt_regs address, scan), the registers saved
       in each pt_regs (system call number in orig_ax and its arguments
       in di si dx r10 r8 r9 first), and where a stack ends in user mode,
       the user pc and sp

Stacks are unwound with the kernel's ORC data and each loaded module's
(frame pointers for a kernel without it), within the task's stack and its
CPU's IRQ and exception stacks; a frame outside them ends the walk. With
--json, one object per task (see the README for the schema; a frame in a
module has \"module\":\"NAME\").",
    run,
};

/// The text lines of one task's stack.
/// The registers saved in each `pt_regs` frame of `bt`, by address (`-v` prints them).
fn saved_regs(session: &mut Session, bt: &TaskBacktrace) -> Result<Vec<SavedRegs>, DcmdError> {
    let mut out = Vec::new();
    for f in bt.backtrace.iter().flat_map(|b| b.frames.iter()) {
        let FrameKind::Regs { pt_regs, .. } = f.kind else {
            continue;
        };
        if let Some(p) = qmdb_linux::backtrace::read_pt_regs(session, pt_regs)? {
            out.push(SavedRegs {
                at: pt_regs,
                regs: p,
            });
        }
    }
    Ok(out)
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "v")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let ctx = qmdb_linux::context(session, &cmd)?;
    let (setup, problems) = qmdb_linux::stack_setup(session, &ctx)?;
    for p in &problems {
        sink.warn(p);
    }
    let task = qmdb_linux::tasks::read_task(session, &ctx.layout, TaskRef(inv.addr))?;
    let bt = setup.backtrace(session, &ctx.layout, &task)?;
    if sink.pipe_out() {
        for f in kernel_frames(&bt) {
            sink.addr(VirtAddr(f.pc));
        }
        return Ok(());
    }
    let verbose = opts.flag('v');
    let regs = if verbose {
        saved_regs(session, &bt)?
    } else {
        Vec::new()
    };
    let rec = TaskStack::new(session, &task, &bt, verbose, regs);
    sink.record(rec);
    Ok(())
}
