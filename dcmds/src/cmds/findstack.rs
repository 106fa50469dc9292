//! `addr::findstack [-v]`: a task's kernel stack, as mdb prints a thread's.

use crate::args::getopts;
use crate::error::DcmdError;
use crate::registry::{DcmdDef, Invocation};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::backtrace::{StackOrigin, TaskBacktrace};
use qmdb_linux::modules::frame_symbol;
use qmdb_linux::{self, Task, TaskRef};
use qmdb_unwind::{EndReason, Frame, FrameKind, PtRegs, Reg};
use serde_json::{json, Value};

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

/// `func+0x1a()`, ``module`func+0x1a()`` in a module, or the bare address.
fn frame_name(session: &Session, pc: u64) -> String {
    match session.symbols().lookup_addr(VirtAddr(pc)) {
        Some(hit) if hit.offset == 0 => format!("{}()", hit.name),
        Some(hit) => format!("{}+{:#x}()", hit.name, hit.offset),
        None => format!("{pc:x}()"),
    }
}

/// The header line of one task's stack.
pub(crate) fn header(t: &Task, bt: &TaskBacktrace) -> String {
    let where_ = match &bt.origin {
        StackOrigin::Saved => String::new(),
        StackOrigin::OnVcpu { vcpu, cpu } | StackOrigin::UserMode { vcpu, cpu, .. } => {
            let cpu = cpu.map_or_else(|| "?".to_string(), |c| c.to_string());
            format!(" running on vCPU {} (CPU {cpu})", vcpu.cpu_index())
        }
    };
    format!(
        "stack pointer for thread {} ({} {}){where_}: {:x}",
        t.addr, t.pid, t.comm, bt.sp
    )
}

fn frame_json(session: &Session, f: &Frame) -> Value {
    let hit = frame_symbol(session, f.pc);
    let mut v = json!({
        "sp": format!("{:#x}", f.sp),
        "pc": format!("{:#x}", f.pc),
        "symbol": hit.as_ref().map(|h| h.name.clone()),
        "offset": hit.as_ref().map(|h| h.offset),
        "module": hit.as_ref().and_then(|h| h.module.clone()),
        "reliable": f.reliable,
    });
    if let FrameKind::Regs { pt_regs, user } = f.kind {
        v["pt_regs"] = json!(format!("{pt_regs:#x}"));
        v["user"] = json!(user);
    }
    v
}

/// The frames of the kernel stack: every frame but the user-mode registers that end a
/// walk from a system call or an interrupt of user code (shown as `user_pc`/`user_sp`).
pub(crate) fn kernel_frames(bt: &TaskBacktrace) -> impl Iterator<Item = &Frame> + '_ {
    bt.backtrace
        .iter()
        .flat_map(|b| b.frames.iter())
        .filter(|f| !matches!(f.kind, FrameKind::Regs { user: true, .. }))
}

/// The `--json` record of one task's stack.
pub(crate) fn record(session: &Session, t: &Task, bt: &TaskBacktrace) -> Value {
    let (vcpu, cpu) = match &bt.origin {
        StackOrigin::Saved => (None, None),
        StackOrigin::OnVcpu { vcpu, cpu } | StackOrigin::UserMode { vcpu, cpu, .. } => {
            (Some(vcpu.cpu_index()), *cpu)
        }
    };
    let frames: Vec<Value> = kernel_frames(bt).map(|f| frame_json(session, f)).collect();
    let (user_pc, user_sp) = match (&bt.origin, bt.backtrace.as_ref().map(|b| &b.end)) {
        (StackOrigin::UserMode { pc, sp, .. }, _) => (Some(*pc), Some(*sp)),
        (_, Some(EndReason::UserMode { pc, sp })) => (Some(*pc), Some(*sp)),
        _ => (None, None),
    };
    json!({
        "thread": format!("{:#x}", t.addr.0 .0),
        "pid": t.pid,
        "comm": t.comm,
        "state": t.state_letter().to_string(),
        "cpu": cpu,
        "vcpu": vcpu,
        "sp": format!("{:#x}", bt.sp),
        "frames": frames,
        "user_pc": user_pc.map(|p| format!("{p:#x}")),
        "user_sp": user_sp.map(|p| format!("{p:#x}")),
        "end": bt.backtrace.as_ref().and_then(|b| b.end.note()).or_else(|| bt.note.clone()),
    })
}

/// The text lines of one task's stack.
/// The registers saved in each `pt_regs` frame of `bt`, by address (`-v` prints them).
fn saved_regs(session: &mut Session, bt: &TaskBacktrace) -> Result<Vec<(u64, PtRegs)>, DcmdError> {
    let mut out = Vec::new();
    for f in bt.backtrace.iter().flat_map(|b| b.frames.iter()) {
        let FrameKind::Regs { pt_regs, .. } = f.kind else {
            continue;
        };
        if let Some(p) = qmdb_linux::backtrace::read_pt_regs(session, pt_regs)? {
            out.push((pt_regs, p));
        }
    }
    Ok(out)
}

/// Two lines of saved registers: the system call number and arguments first.
fn regs_lines(p: &PtRegs, indent: &str) -> [String; 2] {
    let g = |r: Reg| p.get(r);
    [
        format!(
            "{indent}orig_ax {:x}  di {:x}  si {:x}  dx {:x}  r10 {:x}  r8 {:x}  r9 {:x}",
            g(Reg::OrigAx),
            g(Reg::Di),
            g(Reg::Si),
            g(Reg::Dx),
            g(Reg::R10),
            g(Reg::R8),
            g(Reg::R9)
        ),
        format!(
            "{indent}ax {:x}  bx {:x}  cx {:x}  bp {:x}  flags {:x}  cs {:x}",
            g(Reg::Ax),
            g(Reg::Bx),
            g(Reg::Cx),
            g(Reg::Bp),
            g(Reg::Flags),
            g(Reg::Cs)
        ),
    ]
}

/// The text lines of one task's stack; `regs` are the saved registers of its `pt_regs`
/// frames, printed under them (and under the user-mode end) when `verbose`.
pub(crate) fn lines(
    session: &Session,
    t: &Task,
    bt: &TaskBacktrace,
    verbose: bool,
    regs: &[(u64, PtRegs)],
) -> Vec<String> {
    let saved = |addr: u64| regs.iter().find(|(a, _)| *a == addr).map(|(_, p)| p);
    let mut out = vec![header(t, bt)];
    if let Some(note) = &bt.note {
        out.push(format!("  ({note})"));
    }
    let Some(b) = &bt.backtrace else {
        if let (true, StackOrigin::UserMode { pc, sp, .. }) = (verbose, &bt.origin) {
            out.push(format!("  user mode: pc {pc:x} sp {sp:x}"));
        }
        return out;
    };
    for (i, f) in kernel_frames(bt).enumerate() {
        let mark = if f.reliable { "" } else { "? " };
        let name = frame_name(session, f.pc);
        let mut line = if i == 0 {
            // As mdb: the first frame is shown at the thread's stack pointer.
            format!("[ {:x} {mark}{name} ]", bt.sp)
        } else {
            format!("  {:x} {mark}{name}", f.sp)
        };
        if verbose {
            let how = match f.kind {
                FrameKind::Initial => "start".to_string(),
                FrameKind::Call => "call".to_string(),
                FrameKind::Regs { pt_regs, user } => {
                    format!("pt_regs {pt_regs:x}{}", if user { " (user)" } else { "" })
                }
                FrameKind::Scanned { slot } => format!("scanned at {slot:x}"),
            };
            line = format!("{line:<60} pc {:x} {how}", f.pc);
        }
        out.push(line);
        if let (true, FrameKind::Regs { pt_regs, .. }) = (verbose, f.kind) {
            if let Some(p) = saved(pt_regs) {
                out.extend(regs_lines(p, "      "));
            }
        }
    }
    match &b.end {
        EndReason::UserMode { pc, sp } if verbose => {
            out.push(format!("  user mode: pc {pc:x} sp {sp:x}"));
            let user = b.frames.iter().rev().find_map(|f| match f.kind {
                FrameKind::Regs {
                    pt_regs,
                    user: true,
                } => saved(pt_regs),
                _ => None,
            });
            if let Some(p) = user {
                out.extend(regs_lines(p, "    "));
            }
        }
        end => {
            if let Some(note) = end.note() {
                out.push(format!("  (walk ended: {note})"));
            }
        }
    }
    out
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
    for l in lines(session, &task, &bt, verbose, &regs) {
        sink.line(&l);
    }
    sink.data(record(session, &task, &bt));
    Ok(())
}
