//! Walking every task: the process list from `init_task`, each process's threads, and each
//! CPU's idle task.
//!
//! All of it is guest data, possibly corrupt or changing under us: every list is bounded and
//! cycle-checked, a task or list that cannot be read is reported and skipped, and the walk
//! goes on with the others.

use super::layout::{LinuxLayout, ThreadLinks};
use super::percpu::PerCpu;
use super::task::{Task, TaskRef};
use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;
use std::collections::HashSet;

/// Which tasks a walk emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every thread of every process, kernel threads, and each CPU's idle task.
    Threads,
    /// Thread-group leaders only (one per process), with `init_task`.
    Processes,
}

/// The result of a walk: the tasks found, in list order, and what was skipped and why.
#[derive(Debug, Clone, Default)]
pub struct TaskList {
    /// The tasks found, in list order.
    pub tasks: Vec<Task>,
    /// What was skipped and why, one line each.
    pub problems: Vec<String>,
}

impl TaskList {
    /// The task at `addr`, if the walk found it.
    pub fn find(&self, addr: TaskRef) -> Option<&Task> {
        self.tasks.iter().find(|t| t.addr == addr)
    }
}

/// Reads the task at `addr`.
pub fn read_task(
    program: &mut Program,
    layout: &LinuxLayout,
    addr: TaskRef,
) -> Result<Task, Error> {
    let len = layout.task_prefix() as usize;
    let bytes = program.read_bytes(addr.0, len, Some("task_struct"))?;
    Ok(Task::decode(addr, &bytes, layout))
}

/// `init_task`'s address.
pub fn init_task(program: &Program) -> Result<TaskRef, Error> {
    program
        .symbols()
        .lookup_name("init_task")
        .map(TaskRef)
        .ok_or_else(|| Error::Corrupt("no symbol init_task in the kernel".into()))
}

struct Walker<'l> {
    layout: &'l LinuxLayout,
    seen: HashSet<TaskRef>,
    list: TaskList,
    budget: u64,
    /// The walk limit was reported (once, not once per list).
    limit_reported: bool,
}

impl Walker<'_> {
    /// Reads and records `addr` unless seen; `Ok(None)` when it was seen or unreadable.
    fn visit(
        &mut self,
        program: &mut Program,
        addr: TaskRef,
        what: &str,
    ) -> Result<Option<Task>, Error> {
        if self.seen.contains(&addr) {
            return Ok(None);
        }
        if self.budget == 0 {
            return Ok(None);
        }
        self.budget -= 1;
        match read_task(program, self.layout, addr) {
            Ok(t) => {
                self.seen.insert(addr);
                self.list.tasks.push(t.clone());
                Ok(Some(t))
            }
            Err(e) if e.ends_command() => Err(e),
            Err(e) => {
                self.list
                    .problems
                    .push(format!("skipped task {addr} ({what}): {e}"));
                Ok(None)
            }
        }
    }

    /// Follows a `list_head` ring from `head` whose nodes sit at `node_off` in each task;
    /// `first_next` is the head's `next`. Calls `each` for each task address.
    fn ring(
        &mut self,
        program: &mut Program,
        head: u64,
        first_next: u64,
        node_off: u64,
        what: &str,
        mut each: impl FnMut(&mut Self, &mut Program, TaskRef) -> Result<Option<u64>, Error>,
    ) -> Result<(), Error> {
        let mut nodes = HashSet::new();
        let mut next = first_next;
        while next != head {
            program.check_interrupt()?;
            if next == 0 || !nodes.insert(next) {
                let why = if next == 0 {
                    "a NULL next pointer"
                } else {
                    "a cycle"
                };
                self.list.problems.push(format!(
                    "{what} at {head:x}: {why} at node {next:x}; the rest of this list is skipped"
                ));
                return Ok(());
            }
            if self.budget == 0 {
                if !std::mem::replace(&mut self.limit_reported, true) {
                    self.list
                        .problems
                        .push(format!("{what}: stopped at the walk limit"));
                }
                return Ok(());
            }
            let task = TaskRef(VirtAddr(next.wrapping_sub(node_off)));
            match each(self, program, task)? {
                Some(n) => next = n,
                None => {
                    // Not decoded (seen before or unreadable): read the link itself.
                    match program.read_u64(VirtAddr(next), Some("list next pointer")) {
                        Ok(n) => next = n,
                        Err(e) if e.ends_command() => return Err(e),
                        Err(e) => {
                            self.list
                                .problems
                                .push(format!("{what}: {e}; the rest of this list is skipped"));
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn threads_of(&mut self, program: &mut Program, leader: &Task) -> Result<(), Error> {
        match self.layout.task.threads {
            ThreadLinks::SignalHead {
                thread_head,
                thread_node,
                ..
            } => {
                if leader.signal == 0 {
                    return Ok(());
                }
                let head = leader.signal.wrapping_add(thread_head);
                let first = match program.read_u64(VirtAddr(head), Some("signal->thread_head")) {
                    Ok(n) => n,
                    Err(e) if e.ends_command() => return Err(e),
                    Err(e) => {
                        self.list.problems.push(format!(
                            "threads of {} (pid {}): {e}",
                            leader.addr, leader.pid
                        ));
                        return Ok(());
                    }
                };
                self.ring(
                    program,
                    head,
                    first,
                    thread_node,
                    "thread list",
                    |w, s, t| Ok(w.visit(s, t, "thread")?.map(|t| t.thread_next)),
                )
            }
            ThreadLinks::Ring { thread_group } => {
                let head = leader.addr.0 .0.wrapping_add(thread_group);
                self.ring(
                    program,
                    head,
                    leader.thread_next,
                    thread_group,
                    "thread group",
                    |w, s, t| Ok(w.visit(s, t, "thread")?.map(|t| t.thread_next)),
                )
            }
        }
    }
}

/// Walks the tasks of `scope`, at most `limit` of them.
pub fn walk_tasks(
    program: &mut Program,
    layout: &LinuxLayout,
    scope: Scope,
    limit: u64,
) -> Result<TaskList, Error> {
    let init = init_task(program)?;
    let mut w = Walker {
        layout,
        seen: HashSet::new(),
        list: TaskList::default(),
        budget: limit,
        limit_reported: false,
    };
    let init_task = read_task(program, layout, init)?;
    w.seen.insert(init);
    w.list.tasks.push(init_task.clone());
    let head = init.0 .0.wrapping_add(layout.task.tasks);
    let mut leaders = Vec::new();
    w.ring(
        program,
        head,
        init_task.tasks_next,
        layout.task.tasks,
        "task list",
        |w, s, t| {
            let task = w.visit(s, t, "process")?;
            Ok(task.map(|task| {
                let next = task.tasks_next;
                leaders.push(task);
                next
            }))
        },
    )?;
    if scope == Scope::Processes {
        return Ok(w.list);
    }
    // Threads other than the leaders, each after its process.
    let processes = std::mem::take(&mut w.list.tasks);
    for p in &processes {
        w.list.tasks.push(p.clone());
        if p.addr != init {
            w.threads_of(program, p)?;
        }
    }
    idle_tasks(program, &mut w)?;
    Ok(w.list)
}

/// Adds each possible CPU's idle task (`per_cpu(runqueues, cpu).idle`) not yet seen; CPU 0's
/// is `init_task`.
fn idle_tasks(program: &mut Program, w: &mut Walker<'_>) -> Result<(), Error> {
    let percpu = match PerCpu::read(program) {
        Ok(p) => p,
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => {
            w.list
                .problems
                .push(format!("idle tasks of other CPUs skipped: {e}"));
            return Ok(());
        }
    };
    for cpu in percpu.cpus().collect::<Vec<_>>() {
        match current_and_idle(program, w.layout, &percpu, cpu) {
            Ok((_, idle)) => {
                w.visit(program, idle, "idle task")?;
            }
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => w.list.problems.push(format!("idle task of CPU {cpu}: {e}")),
        }
    }
    Ok(())
}

/// `per_cpu(runqueues, cpu)`'s `curr` and `idle`.
pub fn current_and_idle(
    program: &mut Program,
    layout: &LinuxLayout,
    percpu: &PerCpu,
    cpu: u32,
) -> Result<(TaskRef, TaskRef), Error> {
    let rq = program
        .symbols()
        .lookup_name("runqueues")
        .ok_or_else(|| Error::Corrupt("no symbol runqueues in the kernel".into()))?;
    let rq = percpu
        .ptr(cpu, rq)
        .ok_or_else(|| Error::Corrupt(format!("CPU {cpu} is not a possible CPU")))?;
    let curr = program.read_u64(rq.add(layout.rq.curr), Some("rq->curr"))?;
    let idle = program.read_u64(rq.add(layout.rq.idle), Some("rq->idle"))?;
    Ok((TaskRef(VirtAddr(curr)), TaskRef(VirtAddr(idle))))
}
