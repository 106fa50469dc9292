//! The hung-task detector on demand: every task in uninterruptible sleep (D), how long it
//! has been blocked, where it waits, the lock it waits for and who holds it, and the chains
//! those make (A waits for a lock B holds, B waits for ...), cycles being deadlocks.
//!
//! "Blocked for" is `now - se.exec_start`: the scheduler sets `exec_start` to its run-queue
//! clock each time it accounts the running task, last when the task went to sleep. `now` is
//! the largest `rq->clock` over all CPUs (each CPU's clock was last updated at its last
//! tick or schedule, so an idle CPU's lags; the busiest CPU's is the closest to the time
//! the guest stopped).

use crate::backtrace::StackSetup;
use crate::error::Error;
use crate::locks::waiter::{self, ScanContext};
use crate::locks::{blocker, owner_of, BlockedOn, Owner};
use crate::memory::{recoverable, GuestMemory};
use crate::object::{has_member, offset_of};
use crate::task::{Task, TaskRef, THREAD_SIZE};
use crate::tasks::{walk_tasks, Scope, TaskList};
use crate::{LinuxContext, Program};
use qmdb_bridge::VirtAddr;
use std::collections::{HashMap, HashSet};

/// A lock a task waits for, and who holds it.
type LockWait = (BlockedOn, Owner);

/// The bound on links followed in one lock chain.
pub const MAX_CHAIN: usize = 64;

/// One task in D.
#[derive(Debug, Clone)]
pub struct BlockedTask {
    pub task: Task,
    /// How long since it last ran, in ns; `None` when the clocks could not be read.
    pub blocked_ns: Option<u64>,
    /// Where it waits: the innermost frame outside the scheduler and lock functions, as
    /// `/proc/PID/stack` would show first.
    pub wait_pc: Option<u64>,
    /// The lock it waits for, if one was found.
    pub on: Option<BlockedOn>,
    /// Who holds that lock.
    pub owner: Option<Owner>,
}

/// One link of a lock chain: `waiter` waits for `on`, held by `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    pub waiter: TaskRef,
    pub on: BlockedOn,
    pub owner: Owner,
}

/// How a lock chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEnd {
    /// The last owner is not waiting for a lock qmdb could find: it holds the chain up.
    Holder(TaskRef),
    /// The last lock records no owner task (e.g. a frozen superblock's percpu rwsem).
    NoOwner,
    /// The last owner is one of the chain's waiters: a deadlock.
    Deadlock(TaskRef),
    /// Longer than [`MAX_CHAIN`].
    TooLong,
}

/// A chain of waiters and owners from a blocked task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockChain {
    pub links: Vec<ChainLink>,
    pub end: ChainEnd,
}

/// What `::hung` reports.
#[derive(Debug, Clone)]
pub struct HungReport {
    /// The clock "blocked for" is measured against, in ns since boot.
    pub now_ns: Option<u64>,
    /// The tasks in D, blocked at least the minimum asked for, in task-list order.
    pub tasks: Vec<BlockedTask>,
    /// The lock chains that start at a blocked task (each chain once).
    pub chains: Vec<LockChain>,
    /// Every task (threads included), to name owners.
    pub all: TaskList,
    /// What could not be read, one line each.
    pub problems: Vec<String>,
}

/// Finds the lock `task` waits for: `task_struct.blocker` where the kernel keeps it, else
/// the waiter record on its stack (the kind told by the stack's `functions`).
pub fn blocked_on(
    mem: &mut dyn GuestMemory,
    cx: &ScanContext<'_>,
    task: &Task,
    functions: &[String],
) -> Result<Option<BlockedOn>, Error> {
    if has_member(cx.btf, "task_struct", "blocker") {
        let off = offset_of(cx.btf, "task_struct", "blocker")?;
        let v = recoverable(mem.read_u64(task.addr.0.add(off), Some("task_struct.blocker")))?;
        if let Some(on) = v.and_then(blocker::decode) {
            return Ok(Some(on));
        }
    }
    match waiter::kind_from_frames(functions) {
        Some(kind) => waiter::find(mem, cx, task, kind),
        None => Ok(None),
    }
}

/// Every task in D blocked at least `min_ns`, with its lock and the lock chains.
pub fn hung_tasks(
    program: &mut Program,
    ctx: &LinuxContext,
    setup: &StackSetup,
    min_ns: u64,
) -> Result<HungReport, Error> {
    let btf = ctx.btf.clone();
    let limit = program.walk_limit();
    let all = walk_tasks(program, &ctx.layout, Scope::Threads, limit)?;
    let mut problems = all.problems.clone();
    let mut stacks: Vec<(u64, u64)> = all
        .tasks
        .iter()
        .filter(|t| t.stack != 0)
        .map(|t| (t.stack, t.stack.saturating_add(THREAD_SIZE)))
        .collect();
    stacks.sort_unstable();
    let on_a_stack = |a: u64| {
        let i = stacks.partition_point(|&(lo, _)| lo <= a);
        i.checked_sub(1)
            .and_then(|i| stacks.get(i))
            .is_some_and(|&(_, hi)| a < hi)
    };
    let now = match crate::clock::now_ns(program, &btf) {
        Ok(n) => n,
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => {
            problems.push(format!("no clock, no blocked times: {e}"));
            None
        }
    };
    let exec_start = offset_of(&btf, "task_struct", "se.exec_start").ok();
    let cx = ScanContext {
        btf: &btf,
        percpu_wake: program.symbols().lookup_name("percpu_rwsem_wake_function"),
        on_a_stack: &on_a_stack,
        limit,
    };

    // The lock of every task that waits for one, found on first need.
    let mut waits: HashMap<TaskRef, Option<LockWait>> = HashMap::new();

    let mut tasks = Vec::new();
    for t in all.tasks.iter().filter(|t| t.state_letter() == 'D') {
        let blocked_ns = match (now, exec_start) {
            (Some(now), Some(off)) => {
                recoverable(program.read_u64(t.addr.0.add(off), Some("se.exec_start")))?
                    .map(|s| now.saturating_sub(s))
            }
            _ => None,
        };
        if blocked_ns.is_some_and(|b| b < min_ns) {
            continue;
        }
        let (found, wait_pc) = lock_and_owner(program, ctx, setup, &cx, t, &mut problems)?;
        waits.insert(t.addr, found);
        tasks.push(BlockedTask {
            task: t.clone(),
            blocked_ns,
            wait_pc,
            on: found.map(|(on, _)| on),
            owner: found.map(|(_, o)| o),
        });
    }

    let mut chains = Vec::new();
    for bt in &tasks {
        let chain = follow(
            program,
            ctx,
            setup,
            &cx,
            &all,
            &mut waits,
            bt.task.addr,
            &mut problems,
        )?;
        let trivial = chain.links.len() == 1 && chain.end == ChainEnd::NoOwner;
        if !chain.links.is_empty() && !trivial {
            chains.push(chain);
        }
    }
    Ok(HungReport {
        now_ns: now,
        tasks,
        chains: dedupe(chains),
        all,
        problems,
    })
}

/// The function names of `pcs`, where symbols name them.
fn function_names(program: &Program, pcs: impl Iterator<Item = u64>) -> Vec<String> {
    pcs.filter_map(|pc| program.symbols().lookup_addr(VirtAddr(pc)).map(|h| h.name))
        .collect()
}

/// The chain from `start`, following owners through the locks they wait for (the lock of a
/// task found on first need and kept in `waits`).
#[allow(clippy::too_many_arguments)]
fn follow(
    program: &mut Program,
    ctx: &LinuxContext,
    setup: &StackSetup,
    cx: &ScanContext<'_>,
    all: &TaskList,
    waits: &mut HashMap<TaskRef, Option<LockWait>>,
    start: TaskRef,
    problems: &mut Vec<String>,
) -> Result<LockChain, Error> {
    follow_chain(start, |t| {
        if let Some(f) = waits.get(&t) {
            return Ok(*f);
        }
        let f = match all.find(t) {
            Some(task) if task.state_letter() != 'R' => {
                let task = task.clone();
                lock_and_owner(program, ctx, setup, cx, &task, problems)?.0
            }
            _ => None,
        };
        waits.insert(t, f);
        Ok(f)
    })
}

/// The lock `t` waits for and its owner (a lock or owner that cannot be read is a line in
/// `problems`), and where `t` waits: its innermost frame outside the scheduler and lock
/// functions. `Err` only for what ends the command.
fn lock_and_owner(
    program: &mut Program,
    ctx: &LinuxContext,
    setup: &StackSetup,
    cx: &ScanContext<'_>,
    t: &Task,
    problems: &mut Vec<String>,
) -> Result<(Option<LockWait>, Option<u64>), Error> {
    let bt = setup.backtrace(program, &ctx.layout, t)?;
    let frames = bt.backtrace.map(|b| b.frames).unwrap_or_default();
    let functions = function_names(program, frames.iter().map(|f| f.pc));
    let wait_pc = frames
        .iter()
        .find(|f| !setup.in_sched_functions(f.pc))
        .map(|f| f.pc);
    let found = match blocked_on(program, cx, t, &functions) {
        Ok(Some(on)) => match owner_of(program, cx.btf, &on) {
            Ok(owner) => Some((on, owner)),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                problems.push(format!("pid {}: lock {}: {e}", t.pid, on.lock));
                Some((on, Owner::None))
            }
        },
        Ok(None) => None,
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => {
            problems.push(format!("pid {}: {e}", t.pid));
            None
        }
    };
    Ok((found, wait_pc))
}

/// Follows waiter -> lock -> owner from `start`, `wait_of` telling what a task waits for;
/// bounded by [`MAX_CHAIN`], a task seen twice ending it as a deadlock.
pub fn follow_chain(
    start: TaskRef,
    mut wait_of: impl FnMut(TaskRef) -> Result<Option<(BlockedOn, Owner)>, Error>,
) -> Result<LockChain, Error> {
    let mut links = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = start;
    while links.len() < MAX_CHAIN {
        seen.insert(cur);
        let Some((on, owner)) = wait_of(cur)? else {
            return Ok(LockChain {
                links,
                end: ChainEnd::Holder(cur),
            });
        };
        links.push(ChainLink {
            waiter: cur,
            on,
            owner,
        });
        let end = match owner.task() {
            None => ChainEnd::NoOwner,
            Some(o) if seen.contains(&o) => ChainEnd::Deadlock(o),
            Some(o) => {
                cur = o;
                continue;
            }
        };
        return Ok(LockChain { links, end });
    }
    Ok(LockChain {
        links,
        end: ChainEnd::TooLong,
    })
}

/// Drops chains contained in a longer one (a chain from a task another chain passes
/// through), and keeps one rotation of each deadlock cycle.
pub fn dedupe(chains: Vec<LockChain>) -> Vec<LockChain> {
    let inner: HashSet<TaskRef> = chains
        .iter()
        .flat_map(|c| c.links.iter().skip(1).map(|l| l.waiter))
        .collect();
    let mut out: Vec<LockChain> = Vec::new();
    let mut cycles: Vec<HashSet<TaskRef>> = Vec::new();
    for c in chains {
        let start = c.links.first().map(|l| l.waiter);
        if let ChainEnd::Deadlock(_) = c.end {
            let members: HashSet<TaskRef> = c.links.iter().map(|l| l.waiter).collect();
            if cycles.iter().any(|m| m == &members) {
                continue;
            }
            cycles.push(members);
            out.push(c);
        } else if !start.is_some_and(|s| inner.contains(&s)) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locks::{FoundBy, LockKind};

    fn task(n: u64) -> TaskRef {
        TaskRef(VirtAddr(0xffff_8880_0000_0000 + n * 0x1000))
    }

    fn mutex_held_by(lock: u64, owner: u64) -> Option<(BlockedOn, Owner)> {
        Some((
            BlockedOn {
                kind: LockKind::Mutex,
                lock: VirtAddr(0xffff_8880_1000_0000 + lock),
                found_by: FoundBy::StackWaiter,
            },
            Owner::Task(task(owner)),
        ))
    }

    #[test]
    fn a_chain_ends_at_the_task_holding_it_up() {
        // 1 waits for a mutex 2 holds; 2 for one 3 holds; 3 waits for nothing.
        let c = follow_chain(task(1), |t| {
            Ok(match t {
                t if t == task(1) => mutex_held_by(1, 2),
                t if t == task(2) => mutex_held_by(2, 3),
                _ => None,
            })
        })
        .unwrap();
        assert_eq!(c.links.len(), 2);
        assert_eq!(c.end, ChainEnd::Holder(task(3)));
    }

    #[test]
    fn a_cycle_is_a_deadlock_reported_once() {
        // 1 waits for 2's mutex, 2 for 3's, 3 for 1's.
        let wait_of = |t: TaskRef| {
            Ok(match t {
                t if t == task(1) => mutex_held_by(1, 2),
                t if t == task(2) => mutex_held_by(2, 3),
                _ => mutex_held_by(3, 1),
            })
        };
        let chains: Vec<LockChain> = [1, 2, 3]
            .iter()
            .map(|&n| follow_chain(task(n), wait_of).unwrap())
            .collect();
        for c in &chains {
            assert_eq!(c.links.len(), 3);
            assert!(matches!(c.end, ChainEnd::Deadlock(_)));
        }
        let kept = dedupe(chains);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].end, ChainEnd::Deadlock(task(1)));
    }

    #[test]
    fn an_owner_waiting_on_itself_and_a_runaway_chain_end() {
        let c = follow_chain(task(1), |_| Ok(mutex_held_by(1, 1))).unwrap();
        assert_eq!((c.links.len(), c.end), (1, ChainEnd::Deadlock(task(1))));
        // Every task waits for the next one's lock: bounded.
        let mut n = 0;
        let c = follow_chain(task(0), |_| {
            n += 1;
            Ok(mutex_held_by(n, n))
        })
        .unwrap();
        assert_eq!((c.links.len(), c.end), (MAX_CHAIN, ChainEnd::TooLong));
    }

    #[test]
    fn inner_chains_are_dropped() {
        let w = |t: TaskRef| {
            Ok(match t {
                t if t == task(1) => mutex_held_by(1, 2),
                t if t == task(2) => Some((
                    BlockedOn {
                        kind: LockKind::PercpuRwsem,
                        lock: VirtAddr(0xffff_8880_2000_0000),
                        found_by: FoundBy::StackWaiter,
                    },
                    Owner::WriteHeld,
                )),
                _ => None,
            })
        };
        let chains = vec![
            follow_chain(task(1), w).unwrap(),
            follow_chain(task(2), w).unwrap(),
        ];
        let kept = dedupe(chains);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].links.len(), 2);
        assert_eq!(kept[0].end, ChainEnd::NoOwner);
    }
}
