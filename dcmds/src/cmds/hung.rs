//! `::hung`: the hung-task detector on demand, with the locks blocked tasks wait for and
//! who holds them.

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{ChainStep, HungTask, LockChainRecord, LockWait};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::hung::{hung_tasks, ChainEnd, HungReport, LockChain};
use qmdb_linux::locks::{BlockedOn, FoundBy, LockKind, Owner};
use qmdb_linux::{Program, TaskRef};

pub const HUNG: DcmdDef = DcmdDef {
    name: "hung",
    aliases: &[],
    usage: "[-s secs]",
    description: "tasks blocked in D, their locks and the lock holders",
    help: "Lists every task in uninterruptible sleep (D), as the kernel's hung-task
detector would, without waiting for it: TASK, PID, COMM, BLOCKED, WAITING
IN and LOCK, and below a task the lock chain that starts at it. On the
fixture's hung guest (7.2):
  ffff888602411a40 147 qmdb-pipe-w 350.710s anon_pipe_write+0x13c
    mutex ffff888601860c00 held by 142 qmdb-pipe-r
    chain: 147 qmdb-pipe-w -> mutex ffff888601860c00 -> 142 qmdb-pipe-r
    -> percpu_rwsem ffff888601efdac8 -> (no owner task recorded)
(one line each on the screen).
BLOCKED is how long since it last ran (the largest run-queue clock of all
CPUs minus its se.exec_start). WAITING IN is its innermost frame outside
the scheduler. LOCK is the mutex, rw_semaphore, semaphore, rt_mutex or
percpu_rw_semaphore it waits for, found from task_struct.blocker where the
kernel keeps it (7.x) or from the waiter record on its stack, and who holds
it when the lock records an owner (an rwsem held for reading records only
its last reader, a hint). Below a task, its lock chain: A waits for a lock
B holds, B waits for ..., ending at a task that waits for no lock, at a
lock with no owner (a frozen superblock), or at a cycle: a DEADLOCK.

  -s SECS   only tasks blocked at least SECS seconds (decimal, e.g. 120)

In a pipeline, emits the blocked tasks' task_structs. With --json, one
object per task: {\"thread\",\"pid\",\"comm\",\"blocked_ns\",\"wait\",
\"lock\":{\"kind\",\"lock\",\"held\",\"owner\",\"owner_pid\",...},\"chain\"}.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "s:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let min_ns = match opts.value('s') {
        None => 0,
        Some(t) => {
            let secs: f64 = t
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| inv.usage_error(format!("-s: '{t}' is not a number of seconds")))?;
            (secs * 1e9) as u64
        }
    };
    let ctx = qmdb_linux::context(session, &cmd)?;
    let (setup, problems) = qmdb_linux::stack_setup(session, &ctx)?;
    for p in &problems {
        sink.warn(p);
    }
    let report = hung_tasks(session, &ctx, &setup, min_ns)?;
    for p in &report.problems {
        sink.warn(p);
    }
    if sink.pipe_out() {
        for t in &report.tasks {
            sink.addr(t.task.addr.0);
        }
        return Ok(());
    }
    if inv.flags.header() {
        sink.line(&HungTask::header());
    }
    for t in &report.tasks {
        let chain = report
            .chains
            .iter()
            .find(|c| c.links.first().is_some_and(|l| l.waiter == t.task.addr))
            .map(|c| chain_record(session, &report, c));
        let lock =
            t.on.map(|on| lock_wait(session, &report, &on, t.owner.unwrap_or(Owner::None)));
        sink.record(HungTask {
            thread: t.task.addr.0 .0,
            pid: t.task.pid,
            tgid: t.task.tgid,
            comm: t.task.comm.clone(),
            blocked_ns: t.blocked_ns,
            blocked_since_ns: report
                .now_ns
                .zip(t.blocked_ns)
                .map(|(n, b)| n.saturating_sub(b)),
            wait_pc: t.wait_pc,
            wait: t.wait_pc.map(|pc| session.symbolize(VirtAddr(pc))),
            lock,
            chain,
        });
    }
    Ok(())
}

fn kind_name(k: LockKind) -> &'static str {
    match k {
        LockKind::Mutex => "mutex",
        LockKind::RwsemRead => "rwsem_read",
        LockKind::RwsemWrite => "rwsem_write",
        LockKind::PercpuRwsem => "percpu_rwsem",
        LockKind::Semaphore => "semaphore",
        LockKind::RtMutex => "rt_mutex",
        LockKind::WaitQueue => "wait_queue",
    }
}

fn lock_wait(program: &Program, report: &HungReport, on: &BlockedOn, owner: Owner) -> LockWait {
    let held = match owner {
        Owner::Task(_) => "task",
        Owner::Readers { .. } => "readers",
        Owner::LastHolder(_) => "last_holder",
        Owner::WriteHeld => "write_held",
        Owner::None => "none",
    };
    let who = owner.task();
    let named = who.and_then(|t| report.all.find(t));
    let symbol = program
        .symbols()
        .lookup_addr(on.lock)
        .map(|_| program.symbolize(on.lock));
    LockWait {
        kind: kind_name(on.kind).to_string(),
        lock: on.lock.0,
        symbol,
        found_by: match on.found_by {
            FoundBy::Blocker => "blocker",
            FoundBy::StackWaiter => "stack_waiter",
        }
        .to_string(),
        held: held.to_string(),
        owner: who.map(|t| t.0 .0),
        owner_pid: named.map(|t| t.pid),
        owner_comm: named.map(|t| t.comm.clone()),
    }
}

fn chain_record(program: &Program, report: &HungReport, c: &LockChain) -> LockChainRecord {
    let name = |t: TaskRef| report.all.find(t).map(|t| (t.pid, t.comm.clone()));
    let steps = c
        .links
        .iter()
        .map(|l| {
            let (pid, comm) = name(l.waiter).unwrap_or((0, "?".into()));
            ChainStep {
                thread: l.waiter.0 .0,
                pid,
                comm,
                waits_for: lock_wait(program, report, &l.on, l.owner),
            }
        })
        .collect();
    let (end, at) = match c.end {
        ChainEnd::Holder(t) => ("holder", Some(t)),
        ChainEnd::Deadlock(t) => ("deadlock", Some(t)),
        ChainEnd::NoOwner => ("no_owner", None),
        ChainEnd::TooLong => ("too_long", None),
    };
    let named = at.and_then(name);
    LockChainRecord {
        steps,
        end: end.to_string(),
        end_pid: named.as_ref().map(|n| n.0),
        end_comm: named.map(|n| n.1),
    }
}
