//! `::ps` and `::pgrep`: the guest's tasks, as a table or filtered by name.

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{TaskLastRan, TaskRow};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::{self, Scope, Task, TaskList};

pub const PS: DcmdDef = DcmdDef {
    name: "ps",
    aliases: &[],
    usage: "[-mt]",
    description: "list processes (with -t, every thread)",
    help: "Lists the guest's processes, one line each, in task-list order:
  S    PID   PPID   TGID      FLAGS             ADDR CPU COMM
  S     97      1     97 0x00400100 ffff8ead41d1c000   1 qmdb-sleeper
S is the state letter of ps(1) (R S D T t X Z P I), FLAGS the task's
PF_* flags, ADDR its task_struct, CPU the CPU it runs or last ran on.

  -t   every thread, and each CPU's idle task, not only processes
  -m   first, how long ago each task last ran, as crash's ps -m:
       [days hh:mm:ss.mss] from its sched_info.last_arrival to the largest
       rq->clock of the CPUs (the busiest CPU's clock, the freshest); - for
       a task that never ran (idle tasks). JSON adds \"last_ran_ns\".

In a pipeline, emits the task_struct addresses instead. With --json, one
object per task: {\"thread\",\"pid\",\"tgid\",\"ppid\",\"comm\",\"state\",
\"flags\",\"cpu\"}.",
    run: ps,
};

pub const PGREP: DcmdDef = DcmdDef {
    name: "pgrep",
    aliases: &[],
    usage: "[-t] [-x] pattern",
    description: "find tasks whose name matches a regular expression",
    help: "Prints (or, in a pipeline, emits) the tasks whose comm matches PATTERN, a
regular expression, in ::ps format:
  ::pgrep sleeper | ::findstack
  -x   the whole name must match
  -t   threads too, not only processes",
    run: pgrep,
};

/// The tasks of `scope`, with the walk's problems printed as warnings.
pub(crate) fn tasks(
    session: &mut Session,
    cmd: &str,
    scope: Scope,
    sink: &mut Sink<'_>,
) -> Result<TaskList, DcmdError> {
    let layout = qmdb_linux::layout(session, cmd)?;
    let limit = session.walk_limit();
    let list = qmdb_linux::walk_tasks(session, &layout, scope, limit)?;
    for p in &list.problems {
        sink.warn(p);
    }
    Ok(list)
}

fn print(list: &TaskList, shown: &[&Task], inv: &Invocation<'_>, sink: &mut Sink<'_>) {
    if sink.pipe_out() {
        for t in shown {
            sink.addr(t.addr.0);
        }
        return;
    }
    if inv.flags.header() {
        sink.line(&TaskRow::header());
    }
    for t in shown {
        sink.record(TaskRow::new(list, t));
    }
}

fn ps(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "mt")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let scope = if opts.flag('t') {
        Scope::Threads
    } else {
        Scope::Processes
    };
    let list = tasks(session, &cmd, scope, sink)?;
    let shown: Vec<&Task> = list.tasks.iter().collect();
    if opts.flag('m') && !sink.pipe_out() {
        return print_last_ran(session, &cmd, &list, &shown, inv, sink);
    }
    print(&list, &shown, inv, sink);
    Ok(())
}

/// `::ps -m`: each task's row after how long ago it last ran.
fn print_last_ran(
    session: &mut Session,
    cmd: &str,
    list: &TaskList,
    shown: &[&Task],
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let btf = qmdb_linux::context(session, cmd)?.btf.clone();
    // Checked once: without CONFIG_SCHED_INFO there is no last_arrival to read.
    qmdb_linux::object::offset_of(&btf, "task_struct", "sched_info.last_arrival")?;
    let now = qmdb_linux::clock::now_ns(session, &btf)?.ok_or_else(|| {
        qmdb_linux::Error::missing(cmd, "no run queue clock: no symbol runqueues")
    })?;
    if inv.flags.header() {
        sink.line(&TaskLastRan::header());
    }
    for t in shown {
        let arrival = qmdb_linux::sched::last_arrival(session.program_mut(), &btf, t.addr.0);
        let last_ran_ns = match arrival {
            Ok(a) => qmdb_linux::sched::ran_ago(now, a),
            Err(e) if e.ends_command() => return Err(e.into()),
            Err(e) => {
                sink.warn(&format!("task {} (pid {}): {e}", t.addr, t.pid));
                None
            }
        };
        sink.record(TaskLastRan {
            row: TaskRow::new(list, t),
            last_ran_ns,
        });
    }
    Ok(())
}

fn pgrep(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "tx")?;
    let [pattern] = opts.rest.as_slice() else {
        return Err(inv.usage_error("give one pattern"));
    };
    let source = if opts.flag('x') {
        format!("^(?:{pattern})$")
    } else {
        pattern.to_string()
    };
    let re = regex::Regex::new(&source)
        .map_err(|e| DcmdError::usage(&cmd, format!("bad pattern '{pattern}': {e}")))?;
    let scope = if opts.flag('t') {
        Scope::Threads
    } else {
        Scope::Processes
    };
    let list = tasks(session, &cmd, scope, sink)?;
    let shown: Vec<&Task> = list.tasks.iter().filter(|t| re.is_match(&t.comm)).collect();
    print(&list, &shown, inv, sink);
    Ok(())
}
