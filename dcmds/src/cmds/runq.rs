//! `::runq`: each CPU's run queue, as crash's `runq`.

use crate::args::{getopts, number};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::RunqueueRecord;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::sched::{read_runqueue, runqueue_addr, EntityKind};
use qmdb_linux::PerCpu;

pub const RUNQ: DcmdDef = DcmdDef {
    name: "runq",
    aliases: &[],
    usage: "[-c cpu]",
    description: "each CPU's run queue: current and queued tasks",
    help: "For each possible CPU, its run queue (per_cpu(runqueues)): the current
task, nr_running and rq->clock, then the queued entities of each class in
the order the kernel keeps them:
  DL    deadline tree (by deadline); on 6.12+ also the fair class's
        deadline server (fair_server), which is not a task
  RT    one queue per priority, highest first
  FAIR  the tasks_timeline tree, leftmost first, with vruntime (and on
        EEVDF kernels, 6.6+, the virtual deadline). A task group's entity
        is followed by its own cfs_rq, indented; the group holding the
        running task is not in the tree and is listed first, (current)
STOP, the CPU's stopper (migration/N), is listed when queued, not running.
The current task is in no tree. On 6.12+ a task that slept with negative
lag stays queued until picked: it is marked (delayed dequeue).
A CPU whose run queue lock was held when the guest stopped is marked
(rq lock held): its counts may be mid-update.

  -c cpu   only that CPU

In a pipeline, emits the current and queued tasks' addresses. With --json,
one object per CPU: {\"cpu\",\"rq\",\"curr\",\"nr_running\",\"clock\",\"queued\"...}.
Also `::cpuinfo -v`.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "c:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let only = match opts.value('c') {
        Some(c) => Some(
            u32::try_from(number(&cmd, c)?)
                .map_err(|_| DcmdError::usage(&cmd, format!("bad CPU '{c}'")))?,
        ),
        None => None,
    };
    runqueues(session, &cmd, only, sink)
}

/// Prints (or, in a pipeline, emits the tasks of) every possible CPU's run queue, or only
/// `only`'s.
pub(crate) fn runqueues(
    session: &mut Session,
    cmd: &str,
    only: Option<u32>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let btf = qmdb_linux::context(session, cmd)?.btf.clone();
    let percpu = PerCpu::read(session)?;
    let cpus: Vec<u32> = percpu
        .cpus()
        .filter(|c| only.is_none_or(|o| o == *c))
        .collect();
    if let (Some(o), true) = (only, cpus.is_empty()) {
        return Err(DcmdError::usage(
            cmd,
            format!("CPU {o} is not a possible CPU"),
        ));
    }
    let limit = session.walk_limit();
    for cpu in cpus {
        let rq = runqueue_addr(session, &percpu, cpu)?;
        let q = match read_runqueue(session.program_mut(), &btf, cpu, rq, limit) {
            Ok(q) => q,
            Err(e) if e.ends_command() => return Err(e.into()),
            Err(e) => {
                sink.warn(&format!("CPU {cpu}: run queue {rq}: {e}"));
                continue;
            }
        };
        for p in &q.problems {
            sink.warn(p);
        }
        if sink.pipe_out() {
            sink.addr(q.curr_addr);
            for e in &q.queued {
                match &e.kind {
                    EntityKind::Task(t) => sink.addr(t.addr),
                    EntityKind::Unreadable { task, .. } => sink.addr(VirtAddr(task.0)),
                    _ => {}
                }
            }
            continue;
        }
        sink.record(RunqueueRecord::new(&q));
    }
    Ok(())
}
