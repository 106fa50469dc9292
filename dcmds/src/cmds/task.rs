//! `addr::task`: one task's summary.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::TaskDetail;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::{self, TaskRef};

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
    sink.record(TaskDetail::new(&t, parent.as_ref().map(|p| p.pid)));
    Ok(())
}
