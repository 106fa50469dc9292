//! `$c` / `::stack` and `$C`: the kernel stack of the selected vCPU.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::stack::kernel_frames;
use crate::records::{Frame, VcpuStack};
use crate::session::Session;
use crate::sink::Sink;

pub const STACK: DcmdDef = DcmdDef {
    name: "stack",
    aliases: &["$c"],
    usage: "",
    description: "backtrace of the selected vCPU",
    help: "Prints the kernel stack of the selected vCPU (see ::cpus, ::cpu), innermost
frame first, one function+offset per line, unwound from the vCPU's
registers within the stacks of the task it runs and of its CPU. A frame
found by scanning, not by unwind data, is marked ?. When the vCPU is in
user mode there is no kernel stack: qmdb says so and shows its pc.
$C also shows each frame's stack pointer.",
    run: run_plain,
};

pub const STACK_FRAMES: DcmdDef = DcmdDef {
    name: "stackregs",
    aliases: &["$C"],
    usage: "",
    description: "backtrace of the selected vCPU, with stack pointers",
    help: "As $c, with the stack pointer of each frame before its function:
  ffffffffba603e98 native_safe_halt+0xb()",
    run: run_sp,
};

fn run_plain(s: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    run(s, inv, sink, false)
}

fn run_sp(s: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    run(s, inv, sink, true)
}

fn run(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
    with_sp: bool,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let ctx = qmdb_linux::context(session, &cmd)?;
    let (setup, problems) = qmdb_linux::stack_setup(session, &ctx)?;
    for p in &problems {
        sink.warn(p);
    }
    let selected = session.target().selected_vcpu();
    let Some(vcpu) = setup.vcpus.iter().find(|v| v.vcpu == selected) else {
        return Err(DcmdError::usage(
            &cmd,
            "the selected vCPU is not in the vCPU list",
        ));
    };
    let Some(current) = vcpu.current else {
        return Err(DcmdError::usage(
            &cmd,
            format!(
                "cannot tell which task vCPU {} runs (no per-CPU base matches)",
                selected.cpu_index()
            ),
        ));
    };
    let task = qmdb_linux::tasks::read_task(session, &ctx.layout, current)?;
    let bt = setup.backtrace(session, &ctx.layout, &task)?;
    let rec = VcpuStack {
        vcpu: selected.cpu_index(),
        thread: task.addr.0 .0,
        pid: task.pid,
        comm: task.comm.clone(),
        frames: kernel_frames(&bt).map(|f| Frame::new(session, f)).collect(),
        note: bt
            .note
            .as_ref()
            .map(|n| format!("({n}; pc {:x})", vcpu.pc())),
        end_note: bt.backtrace.as_ref().and_then(|b| b.end.note()),
        with_sp,
    };
    sink.record(rec);
    Ok(())
}
