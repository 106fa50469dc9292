//! `addr::task`: one task's summary.

use crate::error::DcmdError;
use crate::registry::{DcmdDef, Invocation};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::{self, state::state_name, TaskRef};
use serde_json::json;

pub const TASK: DcmdDef = DcmdDef {
    name: "task",
    aliases: &["thread"],
    usage: ":",
    description: "summarize the task_struct at the address",
    help: "Prints what qmdb reads of a task: its ids, name, state, flags, CPU, its
kernel stack and saved stack pointer, its parent and mm (0 for a kernel
thread):
  ::walk thread | ::task
  init_task::task
With --json, one object per task.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let layout = qmdb_linux::layout(session, &cmd)?;
    let t = qmdb_linux::tasks::read_task(session, &layout, TaskRef(inv.addr))?;
    let parent = qmdb_linux::tasks::read_task(
        session,
        &layout,
        TaskRef(qmdb_bridge::VirtAddr(t.real_parent)),
    )
    .ok();
    let letter = t.state_letter();
    let kind = if t.is_idle() {
        " idle"
    } else if t.is_kthread() {
        " kthread"
    } else {
        ""
    };
    sink.line(&format!(
        "task {}: pid {} ({}){kind}, tgid {}, parent {} (pid {})",
        t.addr,
        t.pid,
        t.comm,
        t.tgid,
        hex(t.real_parent),
        parent.as_ref().map_or(-1, |p| p.pid),
    ));
    sink.line(&format!(
        "    state {letter} ({}), __state {:#x}, exit_state {:#x}, flags {:#x}",
        state_name(letter),
        t.state,
        t.exit_state,
        t.flags
    ));
    sink.line(&format!(
        "    cpu {}, on_cpu {}, stack {:x}-{:x}, saved sp {:x}, mm {}",
        t.cpu.map_or_else(|| "?".into(), |c| c.to_string()),
        u8::from(t.on_cpu),
        t.stack_range().start,
        t.stack_range().end,
        t.saved_sp,
        t.mm.map_or_else(|| "?".into(), hex),
    ));
    sink.data(json!({
        "thread": format!("{:#x}", t.addr.0 .0),
        "pid": t.pid,
        "tgid": t.tgid,
        "comm": t.comm,
        "state": letter.to_string(),
        "flags": format!("{:#x}", t.flags),
        "cpu": t.cpu,
        "on_cpu": t.on_cpu,
        "stack": format!("{:#x}", t.stack),
        "sp": format!("{:#x}", t.saved_sp),
        "parent": format!("{:#x}", t.real_parent),
        "mm": t.mm.map(|m| format!("{m:#x}")),
    }));
    Ok(())
}

fn hex(v: u64) -> String {
    format!("{v:x}")
}
