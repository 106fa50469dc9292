//! One CPU's run queue (`per_cpu(runqueues, cpu)`, a `struct rq`): its current task,
//! `nr_running`, and the entities queued in each scheduling class, in the order the kernel
//! keeps them.
//!
//! - Deadline (`rq->dl.root`): an `rb_root_cached` of `sched_dl_entity.rb_node`, ordered by
//!   deadline. On 6.12+ the fair class's deadline server (`rq->fair_server`, on 7.x also
//!   `rq->ext_server`) is queued there too: an entity with `dl_server` set, not a task.
//! - Real-time (`rq->rt.active.queue[prio]`): one `list_head` ring of
//!   `sched_rt_entity.run_list` per priority, highest priority (lowest index) first. With
//!   `CONFIG_RT_GROUP_SCHED` an entity whose `my_q` is set is a group: its own `rt_rq`
//!   follows, one level deeper.
//! - Fair (`rq->cfs.tasks_timeline`): an `rb_root_cached` of `sched_entity.run_node`,
//!   leftmost first (ordered by vruntime up to 6.5, by virtual deadline on later EEVDF
//!   kernels). An entity whose `my_q` is set is a task group's: its `cfs_rq` follows, one
//!   level deeper. The running entity of a `cfs_rq` (`cfs_rq->curr`) is never in its tree:
//!   the current task is shown as the CPU's current task, and a group entity that holds it
//!   is shown first, marked current, since its queue may hold other runnable tasks.
//!   On 6.12+ a task that went to sleep with negative lag stays queued, `sched_delayed`, until
//!   it is picked or its lag is used up ("delayed dequeue"): it is listed, marked delayed.
//!
//! - Stop (`rq->stop`): the CPU's stopper task (`migration/N`), the one task of its class,
//!   listed when it is queued (`on_rq`) but not running.
//!
//! `sched_ext` (7.x) keeps its runnable tasks in BPF-defined queues: they are not listed.

use crate::containers::{list_nodes, rbtree_nodes};
use crate::error::Error;
use crate::memory::{le_u32, le_u64, GuestMemory};
use crate::object::{has_member, member_place, offset_of, StructView};
use crate::percpu::PerCpu;
use crate::state::state_letter;
use crate::Program;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use std::collections::HashSet;

/// How deep task groups nest at most (the kernel's own hierarchy is far shallower).
pub const MAX_GROUP_DEPTH: u32 = 32;

/// A scheduling class whose queue is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedClass {
    /// The stopper (`stop_sched_class`): the CPU's `migration/N` thread.
    Stop,
    /// `SCHED_DEADLINE`.
    Deadline,
    /// `SCHED_FIFO` and `SCHED_RR`.
    RealTime,
    /// `SCHED_NORMAL`, `SCHED_BATCH`, `SCHED_IDLE` (CFS, then EEVDF).
    Fair,
}

impl SchedClass {
    /// `stop`, `dl`, `rt` or `fair`.
    pub fn name(self) -> &'static str {
        match self {
            SchedClass::Stop => "stop",
            SchedClass::Deadline => "dl",
            SchedClass::RealTime => "rt",
            SchedClass::Fair => "fair",
        }
    }
}

/// What a task is, in a few words: enough to name it in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskBrief {
    /// The `task_struct`.
    pub addr: VirtAddr,
    pub pid: i32,
    pub comm: String,
    /// The state letter of ps(1).
    pub state: char,
    /// `task_struct.prio` (0–99 real-time, 100–139 fair, -1 deadline).
    pub prio: Option<i32>,
}

impl TaskBrief {
    /// Reads the task at `addr`: pid, comm, state and priority, by member name.
    pub fn read(mem: &mut dyn GuestMemory, btf: &Btf, addr: VirtAddr) -> Result<TaskBrief, Error> {
        let ts = "task_struct";
        let pid = mem.read_u32(
            addr.add(offset_of(btf, ts, "pid")?),
            Some("task_struct.pid"),
        )?;
        let comm = member_place(btf, ts, "comm")?;
        let raw = mem.read_bytes(
            addr.add(comm.offset),
            comm.size.min(64) as usize,
            Some("task_struct.comm"),
        )?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let comm = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned();
        let state_name = if has_member(btf, ts, "__state") {
            "__state"
        } else {
            "state"
        };
        let state = mem.read_u32(
            addr.add(offset_of(btf, ts, state_name)?),
            Some("task_struct.__state"),
        )?;
        let exit_state = match offset_of(btf, ts, "exit_state") {
            Ok(o) => mem.read_u32(addr.add(o), Some("task_struct.exit_state"))?,
            Err(_) => 0,
        };
        let prio = match offset_of(btf, ts, "prio") {
            Ok(o) => Some(mem.read_u32(addr.add(o), Some("task_struct.prio"))? as i32),
            Err(_) => None,
        };
        Ok(TaskBrief {
            addr,
            pid: pid as i32,
            comm,
            state: state_letter(state, exit_state),
            prio,
        })
    }
}

/// What a queued scheduling entity stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityKind {
    /// A task.
    Task(TaskBrief),
    /// A task whose `task_struct` could not be read (`why`).
    Unreadable { task: VirtAddr, why: String },
    /// A task group's entity; the entities of `queue` (a `cfs_rq` or `rt_rq`) follow it,
    /// one level deeper.
    Group { queue: VirtAddr },
    /// A deadline server (6.12+): `fair_server` or `ext_server` of the run queue.
    Server { name: String },
}

/// One entity queued on a run queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub class: SchedClass,
    /// The `sched_entity`, `sched_rt_entity` or `sched_dl_entity`.
    pub entity: VirtAddr,
    pub kind: EntityKind,
    /// Nesting in task groups: 0 for the run queue's own queue.
    pub depth: u32,
    /// A group entity that is its `cfs_rq`'s current one (it holds the running task): not
    /// in the tree.
    pub current: bool,
    /// Fair class: `vruntime`.
    pub vruntime: Option<u64>,
    /// Fair class on EEVDF kernels (6.6+) and deadline class: the (virtual) deadline.
    pub deadline: Option<u64>,
    /// Fair class, 6.12+: `sched_delayed`, asleep but still queued (delayed dequeue).
    pub delayed: bool,
    /// Real-time class: the priority queue it is on.
    pub rt_queue: Option<u32>,
}

/// One CPU's run queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQueue {
    pub cpu: u32,
    /// The `struct rq`.
    pub rq: VirtAddr,
    /// `rq->curr`.
    pub curr_addr: VirtAddr,
    /// The current task, when it could be read.
    pub curr: Option<TaskBrief>,
    /// `rq->idle`: when it is `curr_addr`, the CPU is idle.
    pub idle: VirtAddr,
    /// `rq->nr_running`: the runnable tasks, the current one included.
    pub nr_running: u64,
    /// `rq->clock` (ns), as last updated on this CPU.
    pub clock: u64,
    /// Whether the run queue's lock was held when the guest stopped (its counts may then be
    /// mid-update); `None` when it cannot be told.
    pub lock_held: Option<bool>,
    /// The queued entities: stop, deadline, real-time, then fair, each in queue order.
    pub queued: Vec<Queued>,
    /// What could not be walked, one line each.
    pub problems: Vec<String>,
}

impl RunQueue {
    /// Whether the CPU runs its idle task.
    pub fn is_idle(&self) -> bool {
        self.curr_addr == self.idle
    }

    /// The queued tasks (not groups or servers), in order.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskBrief> {
        self.queued.iter().filter_map(|q| match &q.kind {
            EntityKind::Task(t) => Some(t),
            _ => None,
        })
    }
}

/// `per_cpu(runqueues, cpu)`.
pub fn runqueue_addr(program: &Program, percpu: &PerCpu, cpu: u32) -> Result<VirtAddr, Error> {
    let rq = program
        .symbols()
        .lookup_name("runqueues")
        .ok_or_else(|| Error::missing("run queues", "no symbol runqueues in the kernel"))?;
    percpu
        .ptr(cpu, rq)
        .ok_or_else(|| Error::Corrupt(format!("CPU {cpu} is not a possible CPU")))
}

/// Reads CPU `cpu`'s run queue at `rq`, listing at most `limit` queued entities.
///
/// An `Err` is an unreadable `struct rq` (or a missing member of it) or an error that ends
/// the command; a queue that cannot be walked to its end is a line of
/// [`RunQueue::problems`], with what was found before.
pub fn read_runqueue(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    cpu: u32,
    rq: VirtAddr,
    limit: u64,
) -> Result<RunQueue, Error> {
    let v = StructView::read(mem, btf, "rq", rq)?;
    let curr_addr = v.ptr(btf, "curr")?;
    let idle = v.ptr(btf, "idle")?;
    let nr_running = v.uint(btf, "nr_running")?;
    let clock = v.uint(btf, "clock")?;
    let lock_held = ["__lock", "lock"]
        .into_iter()
        .find(|m| has_member(btf, "rq", m))
        .and_then(|m| v.member_bytes(btf, m).ok())
        .and_then(le_u32)
        .map(|w| w != 0);
    let mut problems = Vec::new();
    let curr = match TaskBrief::read(mem, btf, curr_addr) {
        Ok(t) => Some(t),
        Err(e) if e.ends_command() => return Err(e),
        Err(e) => {
            problems.push(format!("CPU {cpu}: current task {curr_addr}: {e}"));
            None
        }
    };
    let mut w = Walk {
        mem,
        btf,
        cpu,
        rq,
        budget: limit,
        queued: Vec::new(),
        problems,
        queues: HashSet::new(),
        limit_noted: false,
    };
    if has_member(btf, "rq", "stop") {
        w.stop(v.ptr(btf, "stop")?, curr_addr)?;
    }
    w.deadline(v.member_addr(btf, "dl.root")?)?;
    w.rt(v.member_addr(btf, "rt")?, 0)?;
    w.cfs(v.member_addr(btf, "cfs")?, 0)?;
    Ok(RunQueue {
        cpu,
        rq,
        curr_addr,
        curr,
        idle,
        nr_running,
        clock,
        lock_held,
        queued: w.queued,
        problems: w.problems,
    })
}

/// The state of one run queue's walk.
struct Walk<'a> {
    mem: &'a mut dyn GuestMemory,
    btf: &'a Btf,
    cpu: u32,
    rq: VirtAddr,
    /// Entities still to be listed.
    budget: u64,
    queued: Vec<Queued>,
    problems: Vec<String>,
    /// The group queues walked (a group that holds itself is a cycle).
    queues: HashSet<VirtAddr>,
    limit_noted: bool,
}

impl Walk<'_> {
    fn note(&mut self, what: &str, e: impl std::fmt::Display) {
        self.problems.push(format!("CPU {} {what}: {e}", self.cpu));
    }

    /// Takes one entity from the budget; false (noted once) when it is spent.
    fn take(&mut self) -> bool {
        if self.budget == 0 {
            if !std::mem::replace(&mut self.limit_noted, true) {
                let cpu = self.cpu;
                self.problems.push(format!(
                    "CPU {cpu}: stopped at the walk limit; the rest of the run queue is not listed"
                ));
            }
            return false;
        }
        self.budget -= 1;
        true
    }

    /// Whether a group queue may be entered: not seen before, not too deep.
    fn enter(&mut self, what: &str, queue: VirtAddr, depth: u32) -> bool {
        if depth > MAX_GROUP_DEPTH {
            self.note(
                what,
                format!("{queue} is nested over {MAX_GROUP_DEPTH} groups deep; not walked"),
            );
            return false;
        }
        if !self.queues.insert(queue) {
            self.note(
                what,
                format!("{queue} was already walked: a cycle of groups"),
            );
            return false;
        }
        true
    }

    fn task(&mut self, task: VirtAddr) -> Result<EntityKind, Error> {
        match TaskBrief::read(self.mem, self.btf, task) {
            Ok(t) => Ok(EntityKind::Task(t)),
            Err(e) if e.ends_command() => Err(e),
            Err(e) => Ok(EntityKind::Unreadable {
                task,
                why: e.to_string(),
            }),
        }
    }

    /// The stopper task `stop`, when it is queued (`on_rq`) and not `curr`.
    fn stop(&mut self, stop: VirtAddr, curr: VirtAddr) -> Result<(), Error> {
        if stop.0 == 0 || stop == curr {
            return Ok(());
        }
        let on_rq = match offset_of(self.btf, "task_struct", "on_rq") {
            Ok(o) => match self.mem.read_u32(stop.add(o), Some("task_struct.on_rq")) {
                Ok(v) => v,
                Err(e) if e.ends_command() => return Err(e),
                Err(e) => {
                    self.note("stop task", e);
                    return Ok(());
                }
            },
            Err(_) => return Ok(()),
        };
        // TASK_ON_RQ_QUEUED; TASK_ON_RQ_MIGRATING (2) is between run queues.
        if on_rq != 1 || !self.take() {
            return Ok(());
        }
        let kind = self.task(stop)?;
        self.queued.push(Queued {
            class: SchedClass::Stop,
            entity: stop,
            kind,
            depth: 0,
            current: false,
            vruntime: None,
            deadline: None,
            delayed: false,
            rt_queue: None,
        });
        Ok(())
    }

    /// The deadline class's tree at `root`.
    fn deadline(&mut self, root: VirtAddr) -> Result<(), Error> {
        let btf = self.btf;
        let walked = match rbtree_nodes(self.mem, root, self.budget) {
            Ok(w) => w,
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                self.note("deadline queue", e);
                return Ok(());
            }
        };
        if let Some(end) = walked.end {
            self.note("deadline queue", end);
        }
        let node_off = offset_of(btf, "sched_dl_entity", "rb_node")?;
        let servers: Vec<(VirtAddr, &str)> = ["fair_server", "ext_server"]
            .into_iter()
            .filter_map(|m| Some((self.rq.add(offset_of(btf, "rq", m).ok()?), m)))
            .collect();
        for node in walked.items {
            if !self.take() {
                return Ok(());
            }
            let entity = VirtAddr(node.0.wrapping_sub(node_off));
            let v = match StructView::read(self.mem, btf, "sched_dl_entity", entity) {
                Ok(v) => v,
                Err(e) if e.ends_command() => return Err(e),
                Err(e) => {
                    self.note("deadline queue", e);
                    continue;
                }
            };
            let is_server =
                has_member(btf, "sched_dl_entity", "dl_server") && v.uint(btf, "dl_server")? != 0;
            let named = servers.iter().find(|(a, _)| *a == entity).map(|(_, n)| *n);
            let kind = match (is_server, named) {
                (_, Some(name)) => EntityKind::Server { name: name.into() },
                (true, None) => EntityKind::Server {
                    name: "dl server".into(),
                },
                (false, None) => {
                    let off = offset_of(btf, "task_struct", "dl")?;
                    self.task(VirtAddr(entity.0.wrapping_sub(off)))?
                }
            };
            self.queued.push(Queued {
                class: SchedClass::Deadline,
                entity,
                kind,
                depth: 0,
                current: false,
                vruntime: None,
                deadline: Some(v.uint(btf, "deadline")?),
                delayed: false,
                rt_queue: None,
            });
        }
        Ok(())
    }

    /// The real-time class's priority queues of the `rt_rq` at `rt_rq`.
    fn rt(&mut self, rt_rq: VirtAddr, depth: u32) -> Result<(), Error> {
        let btf = self.btf;
        let queues = member_place(btf, "rt_rq", "active.queue")?;
        let n = queues.size / 16;
        let heads = match self.mem.read_bytes(
            rt_rq.add(queues.offset),
            queues.size as usize,
            Some("rt_rq.active.queue"),
        ) {
            Ok(b) => b,
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                self.note("real-time queue", e);
                return Ok(());
            }
        };
        let run_list = offset_of(btf, "sched_rt_entity", "run_list")?;
        let my_q = offset_of(btf, "sched_rt_entity", "my_q").ok();
        let task_rt = offset_of(btf, "task_struct", "rt")?;
        for prio in 0..n {
            let head = rt_rq.add(queues.offset + prio * 16);
            let next = heads
                .get((prio * 16) as usize..)
                .and_then(le_u64)
                .unwrap_or(head.0);
            if next == head.0 {
                continue;
            }
            let walked = match list_nodes(self.mem, head, self.budget) {
                Ok(w) => w,
                Err(e) if e.ends_command() => return Err(e),
                Err(e) => {
                    self.note("real-time queue", e);
                    continue;
                }
            };
            if let Some(end) = walked.end {
                self.note(&format!("real-time queue {prio}"), end);
            }
            for node in walked.items {
                if !self.take() {
                    return Ok(());
                }
                let entity = VirtAddr(node.0.wrapping_sub(run_list));
                let group = match my_q {
                    Some(o) => match self
                        .mem
                        .read_u64(entity.add(o), Some("sched_rt_entity.my_q"))
                    {
                        Ok(q) => q,
                        Err(e) if e.ends_command() => return Err(e),
                        Err(e) => {
                            self.note("real-time queue", e);
                            continue;
                        }
                    },
                    None => 0,
                };
                let kind = if group != 0 {
                    EntityKind::Group {
                        queue: VirtAddr(group),
                    }
                } else {
                    self.task(VirtAddr(entity.0.wrapping_sub(task_rt)))?
                };
                self.queued.push(Queued {
                    class: SchedClass::RealTime,
                    entity,
                    kind,
                    depth,
                    current: false,
                    vruntime: None,
                    deadline: None,
                    delayed: false,
                    rt_queue: u32::try_from(prio).ok(),
                });
                if group != 0 && self.enter("real-time group", VirtAddr(group), depth + 1) {
                    self.rt(VirtAddr(group), depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// The fair class's tree of the `cfs_rq` at `cfs_rq`, after its current group entity.
    fn cfs(&mut self, cfs_rq: VirtAddr, depth: u32) -> Result<(), Error> {
        let btf = self.btf;
        let curr = match self.mem.read_u64(
            cfs_rq.add(offset_of(btf, "cfs_rq", "curr")?),
            Some("cfs_rq.curr"),
        ) {
            Ok(c) => c,
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                self.note("fair queue", e);
                return Ok(());
            }
        };
        if curr != 0 {
            self.fair_entity(VirtAddr(curr), depth, true)?;
        }
        let root = cfs_rq.add(offset_of(btf, "cfs_rq", "tasks_timeline")?);
        let walked = match rbtree_nodes(self.mem, root, self.budget) {
            Ok(w) => w,
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                self.note("fair queue", e);
                return Ok(());
            }
        };
        if let Some(end) = walked.end {
            self.note("fair queue", end);
        }
        let node_off = offset_of(btf, "sched_entity", "run_node")?;
        for node in walked.items {
            self.fair_entity(VirtAddr(node.0.wrapping_sub(node_off)), depth, false)?;
        }
        Ok(())
    }

    /// One fair entity: a task, or a group whose queue is walked next. A current entity
    /// (`cfs_rq->curr`) is listed only when it is a group.
    fn fair_entity(&mut self, se: VirtAddr, depth: u32, current: bool) -> Result<(), Error> {
        let btf = self.btf;
        let v = match StructView::read(self.mem, btf, "sched_entity", se) {
            Ok(v) => v,
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                self.note("fair queue", e);
                return Ok(());
            }
        };
        let se_has = |m: &str| has_member(btf, "sched_entity", m);
        let my_q = if se_has("my_q") {
            v.ptr(btf, "my_q")?
        } else {
            VirtAddr(0)
        };
        if current && my_q.0 == 0 {
            return Ok(());
        }
        if !self.take() {
            return Ok(());
        }
        let kind = if my_q.0 != 0 {
            EntityKind::Group { queue: my_q }
        } else {
            let off = offset_of(btf, "task_struct", "se")?;
            self.task(VirtAddr(se.0.wrapping_sub(off)))?
        };
        self.queued.push(Queued {
            class: SchedClass::Fair,
            entity: se,
            kind,
            depth,
            current,
            vruntime: Some(v.uint(btf, "vruntime")?),
            deadline: if se_has("deadline") {
                Some(v.uint(btf, "deadline")?)
            } else {
                None
            },
            delayed: se_has("sched_delayed") && v.uint(btf, "sched_delayed")? != 0,
            rt_queue: None,
        });
        if my_q.0 != 0 && self.enter("fair group", my_q, depth + 1) {
            self.cfs(my_q, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use crate::sched::testbtf::*;

    fn names(rq: &RunQueue) -> Vec<String> {
        rq.queued
            .iter()
            .map(|q| {
                let what = match &q.kind {
                    EntityKind::Task(t) => t.comm.clone(),
                    EntityKind::Unreadable { .. } => "?".into(),
                    EntityKind::Group { .. } => "group".into(),
                    EntityKind::Server { name } => name.clone(),
                };
                format!("{}:{}:{what}", q.class.name(), q.depth)
            })
            .collect()
    }

    fn run_node(task: u64) -> u64 {
        task + T_SE + SE_RUN_NODE
    }

    #[test]
    fn every_class_in_kernel_order() {
        let btf = btf();
        let mut g = Guest::new();
        g.rq(RQ, 0x9000, 0x9000, 3, 777);
        g.task(0x9000, 0, "swapper/0", 0);
        for (a, pid, comm) in [
            (0xa000, 10, "napper"),
            (0xb000, 11, "busy"),
            (0xc000, 12, "ingroup"),
            (0xd000, 13, "rtask"),
            (0xe000, 14, "dltask"),
        ] {
            g.task(a, pid, comm, 0);
        }
        // Fair: a group current on the root cfs_rq (it holds the running task) with one
        // more task queued in it; two tasks in the root tree, busy leftmost.
        let group_q = 0x7_0000;
        g.cfs_rq(group_q, 0, 0);
        g.se(SE + 0x200, group_q, 6);
        g.task_se(0xa000, 1, 0);
        g.task_se(0xb000, 2, 0);
        g.task_se(0xc000, 3, 0);
        g.cfs_rq(RQ + RQ_CFS, SE + 0x200, 0);
        g.tree(
            RQ + RQ_CFS + CFS_TIMELINE,
            &[run_node(0xb000), run_node(0xa000)],
        );
        g.tree(group_q + CFS_TIMELINE, &[run_node(0xc000)]);
        g.rt_queue(RQ + RQ_RT, 5, &[0xd000 + T_RT]);
        g.dl(RQ + RQ_FAIR_SERVER, 1, 50);
        g.dl(0xe000 + T_DL, 0, 60);
        g.tree(RQ + RQ_DL, &[RQ + RQ_FAIR_SERVER, 0xe000 + T_DL]);
        // The stopper, queued (on_rq 1).
        g.task(0xf000, 15, "migration/0", 0);
        g.mem.put(0xf000 + T_ON_RQ, &1u32.to_le_bytes());
        g.mem.put_u64(RQ + RQ_STOP, 0xf000);
        let rq = read_runqueue(&mut g.mem, &btf, 0, VirtAddr(RQ), 100).unwrap();
        assert_eq!(rq.problems, Vec::<String>::new());
        assert!(rq.is_idle());
        assert_eq!(
            (rq.nr_running, rq.clock, rq.lock_held),
            (3, 777, Some(false))
        );
        assert_eq!(rq.curr.as_ref().unwrap().comm, "swapper/0");
        assert_eq!(
            names(&rq),
            [
                "stop:0:migration/0",
                "dl:0:fair_server",
                "dl:0:dltask",
                "rt:0:rtask",
                "fair:0:group",
                "fair:1:ingroup",
                "fair:0:busy",
                "fair:0:napper"
            ]
        );
        let q = &rq.queued[1..];
        assert!(q[3].current && !q[5].current);
        assert_eq!(q[2].rt_queue, Some(5));
        assert_eq!(q[1].deadline, Some(60));
        assert_eq!(q[5].vruntime, Some(2));
        assert_eq!(q[5].deadline, Some(1002));
        assert_eq!(rq.tasks().count(), 6);
        // A stopper that is not queued is not listed.
        g.mem.put(0xf000 + T_ON_RQ, &0u32.to_le_bytes());
        let rq = read_runqueue(&mut g.mem, &btf, 0, VirtAddr(RQ), 100).unwrap();
        assert_eq!(rq.tasks().count(), 5);
        // A task that cannot be read is still listed, as unreadable.
        g.mem.remove(0xa000 + T_PID, 4);
        let rq = read_runqueue(&mut g.mem, &btf, 0, VirtAddr(RQ), 100).unwrap();
        assert!(
            matches!(rq.queued[6].kind, EntityKind::Unreadable { task, .. } if task.0 == 0xa000)
        );
    }

    #[test]
    fn corrupt_queues_end_with_notes() {
        let btf = btf();
        let mut g = Guest::new();
        g.rq(RQ, 0x9000, 0x9000, 1, 1);
        g.task(0x9000, 0, "swapper/0", 0);
        g.cfs_rq(RQ + RQ_CFS, 0, 0);
        g.task(0xa000, 10, "a", 0);
        g.task_se(0xa000, 1, 0);
        // A cyclic tree: the node's right child is itself.
        g.tree(RQ + RQ_CFS + CFS_TIMELINE, &[run_node(0xa000)]);
        g.mem.put_u64(run_node(0xa000) + 8, run_node(0xa000));
        // A real-time ring through a wild pointer.
        g.mem.put_u64(RQ + RQ_RT + RT_QUEUE + 16 * 7, 0xdead_0000);
        // A group that holds itself, current on the root.
        let gq = 0x7_0000;
        g.se(SE + 0x300, gq, 9);
        g.cfs_rq(gq, SE + 0x300, 0);
        g.mem.put_u64(RQ + RQ_CFS + CFS_CURR, SE + 0x300);
        let rq = read_runqueue(&mut g.mem, &btf, 2, VirtAddr(RQ), 100).unwrap();
        let all = rq.problems.join("\n");
        assert!(all.contains("already visited"), "{all}");
        assert!(all.contains("real-time queue 7"), "{all}");
        assert!(all.contains("a cycle of groups"), "{all}");
        assert_eq!(names(&rq), ["fair:0:group", "fair:1:group", "fair:0:a"]);
        // The bound.
        let rq = read_runqueue(&mut g.mem, &btf, 2, VirtAddr(RQ), 1).unwrap();
        assert_eq!(rq.queued.len(), 1);
        assert!(rq.problems.join("\n").contains("walk limit"));
        // An unreadable rq is an error naming it.
        let mut empty = SparseMemory::default();
        let e = read_runqueue(&mut empty, &btf, 2, VirtAddr(RQ), 10).unwrap_err();
        assert!(e.to_string().contains("struct rq"), "{e}");
    }
}
