//! `addr::pmap`: a process's memory maps, as `/proc/PID/maps` shows them.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::MapEntry;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::fs::path::task_root;
use qmdb_linux::mm::{mm_maps, MapsRules};
use qmdb_linux::{Scope, Task, TaskRef};

pub const PMAP: DcmdDef = DcmdDef {
    name: "pmap",
    aliases: &[],
    usage: ":",
    description: "print a process's memory maps",
    help: "Prints the VMAs of a process (its mm's maple tree) as /proc/PID/maps
shows them, each after its vm_area_struct:
  ffff8ead41e3c000 00400000-00401000 r--p 00000000 00:02 172   /bin/busybox
Columns: the address range, the permissions (r w x, then s for a shared
mapping or p), the offset into the file, the file's device (major:minor,
hex) and inode, and the file's path or the kernel's name for the mapping
([heap], [stack], [vdso], [vvar], [vsyscall]). Paths are as the process
sees them, from its own root.

The address is a task_struct, or a pid when below 0x400000 (the largest
pid): 0t104::pmap is pid 104. A kernel thread has no maps. A VMA or name
that cannot be read is a warning, and the rest is printed.

In a pipeline, emits the vm_area_struct addresses instead. With --json,
one object per VMA: {\"start\",\"end\",\"perms\",\"offset\",\"dev\",\"inode\",
\"path\",\"vma\"} (path null for an unnamed mapping).",
    run,
};

/// `PID_MAX_LIMIT` on 64-bit: an address below it is a pid.
pub(crate) const PID_MAX_LIMIT: u64 = 4 * 1024 * 1024;

/// The task at `addr`, or the task whose pid is `addr` when it is below
/// [`PID_MAX_LIMIT`] (any thread's id; `/proc` shows a thread's maps as its process's).
pub(crate) fn task_at(
    session: &mut Session,
    cmd: &str,
    addr: VirtAddr,
    sink: &mut Sink<'_>,
) -> Result<Task, DcmdError> {
    let layout = qmdb_linux::layout(session, cmd)?;
    if addr.0 >= PID_MAX_LIMIT {
        return Ok(qmdb_linux::tasks::read_task(
            session,
            &layout,
            TaskRef(addr),
        )?);
    }
    let limit = session.walk_limit();
    let list = qmdb_linux::walk_tasks(session, &layout, Scope::Threads, limit)?;
    let pid = addr.0;
    match list
        .tasks
        .into_iter()
        .find(|t| u64::try_from(t.pid) == Ok(pid))
    {
        Some(t) => Ok(t),
        None => {
            for p in &list.problems {
                sink.warn(p);
            }
            Err(DcmdError::usage(cmd, format!("no task with pid {pid}")))
        }
    }
}

/// The `mm_struct` of `task`, or an error saying it has none.
pub(crate) fn mm_of(cmd: &str, task: &Task) -> Result<VirtAddr, DcmdError> {
    match task.mm {
        Some(mm) if mm != 0 => Ok(VirtAddr(mm)),
        Some(_) => Err(DcmdError::usage(
            cmd,
            format!(
                "pid {} ({}) has no mm: a kernel thread or an exited task",
                task.pid, task.comm
            ),
        )),
        None => Err(DcmdError::usage(
            cmd,
            "this kernel's task_struct has no mm member",
        )),
    }
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let task = task_at(session, &cmd, inv.addr, sink)?;
    let mm = mm_of(&cmd, &task)?;
    let ctx = qmdb_linux::context(session, &cmd)?;
    let rules = MapsRules::for_program(session)?;
    let limit = session.walk_limit();
    let root = match task_root(&mut **session, &ctx.btf, task.addr.0) {
        Ok(r) => r,
        Err(e) if e.ends_command() => return Err(e.into()),
        Err(e) => {
            sink.warn(&format!(
                "paths from the mount tree's root: the task's root: {e}"
            ));
            None
        }
    };
    let maps = mm_maps(&mut **session, &ctx.btf, &rules, mm, root, limit)?;
    for p in &maps.problems {
        sink.warn(p);
    }
    for v in &maps.vmas {
        if sink.pipe_out() {
            sink.addr(v.addr);
        } else {
            sink.record(MapEntry::new(v));
        }
    }
    Ok(())
}
