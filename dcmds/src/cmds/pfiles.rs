//! `addr::pfiles`: a task's open files, as `/proc/PID/fd` and `/proc/PID/fdinfo` show them.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::OpenFileRow;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::fs::files::task_files;
use qmdb_linux::fs::path::{d_path, task_root, Dnames, PathRef};
use qmdb_linux::{Scope, Task, TaskRef};

pub const PFILES: DcmdDef = DcmdDef {
    name: "pfiles",
    aliases: &[],
    usage: ":",
    description: "list a task's open files",
    help: "Lists the open files of a task: the task_struct at the address, or the
task whose pid is the address when it is a pid (below 0x400000; write
decimal pids as 0t123). One line per open descriptor, by number:
  FD TYPE    FLAGS                   POS             FILE PATH
   0 CHR     O_RDONLY|O_LARGEFILE      0 ffff8880042d8e00 /dev/console
TYPE is the inode's type (REG DIR CHR BLK FIFO SOCK LNK; ANON for an
inode without one), FLAGS the open flags as /proc/PID/fdinfo gives them
(O_CLOEXEC included), POS the file position, FILE the struct file, PATH
the path as /proc/PID/fd shows it to a process in the initial root
(init_task's fs->root): pipe:[INO], socket:[INO], anon_inode:[NAME] for
pseudo files, ' (deleted)' after a deleted file. A path that could not
be built whole (a corrupt dentry chain) starts with ? and a note says why.
  0t1::pfiles
  ::pgrep sleeper | ::pfiles
In a pipeline, emits the struct file addresses. With --json, one object
per descriptor: {\"pid\",\"fd\",\"type\",\"flags\",\"flags_text\",\"pos\",
\"file\",\"path\",\"note\",\"dentry\",\"inode\",\"ino\",\"rdev\"}.",
    run,
};

/// The largest pid (`PID_MAX_LIMIT` on 64-bit): an address up to it is a pid.
const PID_MAX_LIMIT: u64 = 0x40_0000;

/// The task `addr` names: the task whose pid it is when it is a pid, the task_struct
/// there otherwise.
pub(crate) fn task_of(
    session: &mut Session,
    cmd: &str,
    addr: VirtAddr,
    sink: &mut Sink<'_>,
) -> Result<Task, DcmdError> {
    let ctx = qmdb_linux::context(session, cmd)?;
    if addr.0 > PID_MAX_LIMIT {
        return Ok(qmdb_linux::tasks::read_task(
            session,
            &ctx.layout,
            TaskRef(addr),
        )?);
    }
    let limit = session.walk_limit();
    let list = qmdb_linux::walk_tasks(session, &ctx.layout, Scope::Threads, limit)?;
    let found = list.tasks.iter().find(|t| t.pid as u64 == addr.0);
    match found {
        Some(t) => Ok(t.clone()),
        None => {
            for p in &list.problems {
                sink.warn(p);
            }
            Err(DcmdError::usage(
                cmd,
                format!("no task with pid {} (0t{})", addr.0, addr.0),
            ))
        }
    }
}

/// The root paths are printed from: `init_task`'s `fs->root`.
pub(crate) fn init_root(session: &mut Session, cmd: &str) -> Result<PathRef, DcmdError> {
    let btf = qmdb_linux::context(session, cmd)?.btf.clone();
    let init = qmdb_linux::tasks::init_task(session)?;
    task_root(session.program_mut(), &btf, init.0)?
        .ok_or_else(|| DcmdError::usage(cmd, "init_task has no fs_struct"))
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if let Some(extra) = inv.args.first() {
        return Err(inv.usage_error(format!("unexpected argument '{}'", extra.text)));
    }
    let task = task_of(session, &cmd, inv.addr, sink)?;
    let btf = qmdb_linux::context(session, &cmd)?.btf.clone();
    let limit = session.walk_limit();
    let list = task_files(session.program_mut(), &btf, task.addr.0, limit)?;
    for p in &list.problems {
        sink.warn(&format!("{cmd}: {p}"));
    }
    if sink.pipe_out() {
        for f in &list.files {
            sink.addr(f.file.addr);
        }
        return Ok(());
    }
    let root = init_root(session, &cmd)?;
    let dnames = Dnames::from_symbols(session.symbols());
    sink.line(&format!("{}: {}", task.pid, task.comm));
    if inv.flags.header() {
        sink.line(&OpenFileRow::header());
    }
    for f in &list.files {
        let path = d_path(session.program_mut(), &btf, &dnames, f.file.path, root)?;
        sink.record(OpenFileRow::new(task.pid, f, path));
    }
    Ok(())
}
