//! `::walk thread` and `::walk proc`: every task, or every process, of the Linux guest.

use crate::args::Arg;
use crate::dcmd::{Walk, WalkerDef};
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_linux::{self, Scope};

pub const THREAD: WalkerDef = WalkerDef {
    name: "thread",
    usage: "",
    description: "every task: all threads, kernel threads, idle tasks",
    help: "Emits the address of every task_struct: init_task, then each process of
init_task's task list followed by its other threads, then the idle task of
each other possible CPU. Pipe it into ::findstack, ::print task_struct,
::task:
  ::walk thread | ::findstack -v

Needs the kernel's types (the kernel found in guest memory or given with
--kernel). The lists are guest data: each is bounded and cycle-checked,
and a task or list that cannot be read is skipped with a warning naming
it; the walk goes on with the others.",
    init: init_threads,
};

pub const PROC: WalkerDef = WalkerDef {
    name: "proc",
    usage: "",
    description: "every process (thread-group leader), from init_task",
    help: "Emits the address of init_task and of each task on its task list: one
task_struct per process (its thread-group leader), kernel threads
included. ::walk thread adds every other thread and the idle tasks.",
    init: init_procs,
};

struct TaskWalk {
    tasks: std::vec::IntoIter<VirtAddr>,
    problems: Vec<String>,
}

impl Walk for TaskWalk {
    fn step(&mut self, _session: &mut Session) -> Result<Option<VirtAddr>, DcmdError> {
        Ok(self.tasks.next())
    }

    fn warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }
}

fn init(
    session: &mut Session,
    name: &str,
    start: Option<VirtAddr>,
    args: &[Arg],
    scope: Scope,
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = format!("::walk {name}");
    if start.is_some() {
        return Err(DcmdError::usage(&cmd, "takes no start address"));
    }
    if let Some(a) = args.first() {
        return Err(DcmdError::usage(
            &cmd,
            format!("unexpected argument '{}'", a.text),
        ));
    }
    let layout = qmdb_linux::layout(session, &cmd)?;
    let limit = session.walk_limit();
    let list = qmdb_linux::walk_tasks(session, &layout, scope, limit)?;
    Ok(Box::new(TaskWalk {
        tasks: list
            .tasks
            .iter()
            .map(|t| t.addr.0)
            .collect::<Vec<_>>()
            .into_iter(),
        problems: list.problems,
    }))
}

fn init_threads(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    init(session, "thread", start, args, Scope::Threads)
}

fn init_procs(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    init(session, "proc", start, args, Scope::Processes)
}
