//! The scheduler's view: each CPU's run queue (`::runq`, `::cpuinfo -v`) and the process
//! tree (`::ptree`).

use crate::record::{hex, Record};
use qmdb_linux::sched::{EntityKind, Queued, RunQueue, TaskBrief};
use serde::Serialize;

/// A task named in a run queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunqTask {
    /// The `task_struct`.
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub comm: String,
    /// The state letter of ps(1).
    pub state: String,
    /// `task_struct.prio`.
    pub prio: Option<i32>,
}

impl RunqTask {
    fn new(t: &TaskBrief) -> RunqTask {
        RunqTask {
            thread: t.addr.0,
            pid: t.pid,
            comm: t.comm.clone(),
            state: t.state.to_string(),
            prio: t.prio,
        }
    }
}

/// One entity queued on a run queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunqEntry {
    /// `stop`, `dl`, `rt` or `fair`.
    pub class: &'static str,
    /// `task`, `group`, `server` or `unreadable` (a task whose `task_struct` failed).
    pub kind: &'static str,
    /// The scheduling entity.
    #[serde(with = "hex")]
    pub entity: u64,
    /// The task, for `task`.
    pub task: Option<RunqTask>,
    /// The task's address, for `task` and `unreadable`.
    #[serde(with = "hex::option")]
    pub thread: Option<u64>,
    /// The group's `cfs_rq` or `rt_rq`, for `group`.
    #[serde(with = "hex::option")]
    pub queue: Option<u64>,
    /// `fair_server` or `ext_server`, for `server`.
    pub name: Option<String>,
    /// Nesting in task groups (0: the CPU's own queue).
    pub depth: u32,
    /// A group entity current on its `cfs_rq` (holding the running task), not in the tree.
    pub current: bool,
    #[serde(with = "hex::option")]
    pub vruntime: Option<u64>,
    /// The virtual deadline (fair, EEVDF) or the deadline (dl).
    #[serde(with = "hex::option")]
    pub deadline: Option<u64>,
    /// Asleep but still queued (6.12+ delayed dequeue).
    pub delayed: bool,
    /// The real-time priority queue it is on.
    pub rt_queue: Option<u32>,
}

impl RunqEntry {
    fn new(q: &Queued) -> RunqEntry {
        let (kind, task, thread, queue, name) = match &q.kind {
            EntityKind::Task(t) => ("task", Some(RunqTask::new(t)), Some(t.addr.0), None, None),
            EntityKind::Unreadable { task, .. } => ("unreadable", None, Some(task.0), None, None),
            EntityKind::Group { queue } => ("group", None, None, Some(queue.0), None),
            EntityKind::Server { name } => ("server", None, None, None, Some(name.clone())),
        };
        RunqEntry {
            class: q.class.name(),
            kind,
            entity: q.entity.0,
            task,
            thread,
            queue,
            name,
            depth: q.depth,
            current: q.current,
            vruntime: q.vruntime,
            deadline: q.deadline,
            delayed: q.delayed,
            rt_queue: q.rt_queue,
        }
    }

    fn line(&self) -> String {
        let mut s = match (&self.task, self.kind) {
            (Some(t), _) => {
                let prio = t.prio.map_or_else(|| "?".into(), |p| p.to_string());
                format!(
                    "[{prio}] PID {} {:x} {} {}",
                    t.pid, t.thread, t.state, t.comm
                )
            }
            (None, "group") => format!(
                "group: {} {:x}, entity {:x}",
                if self.class == "rt" {
                    "rt_rq"
                } else {
                    "cfs_rq"
                },
                self.queue.unwrap_or(0),
                self.entity
            ),
            (None, "server") => format!(
                "deadline server {} {:x}",
                self.name.as_deref().unwrap_or("?"),
                self.entity
            ),
            (None, _) => format!(
                "task {:x}: unreadable (entity {:x})",
                self.thread.unwrap_or(0),
                self.entity
            ),
        };
        if let Some(v) = self.vruntime {
            s.push_str(&format!("  vruntime {v:#x}"));
        }
        if let Some(d) = self.deadline {
            s.push_str(&format!("  deadline {d:#x}"));
        }
        if self.current {
            s.push_str("  (current)");
        }
        if self.delayed {
            s.push_str("  (delayed dequeue)");
        }
        s
    }
}

/// One CPU's run queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunqueueRecord {
    pub cpu: u32,
    /// The `struct rq`.
    #[serde(with = "hex")]
    pub rq: u64,
    /// `rq->curr`.
    #[serde(with = "hex")]
    pub curr_thread: u64,
    /// The current task, when readable.
    pub curr: Option<RunqTask>,
    /// Whether the current task is the CPU's idle task.
    pub idle: bool,
    /// `rq->nr_running`: runnable tasks, the current one included.
    pub nr_running: u64,
    /// `rq->clock` (ns).
    pub clock: u64,
    /// Whether the run queue's lock was held when the guest stopped.
    pub lock_held: Option<bool>,
    /// Queued entities: stop, deadline, real-time, then fair, each in the kernel's order.
    pub queued: Vec<RunqEntry>,
}

impl RunqueueRecord {
    /// The record of `rq`.
    pub fn new(rq: &RunQueue) -> RunqueueRecord {
        RunqueueRecord {
            cpu: rq.cpu,
            rq: rq.rq.0,
            curr_thread: rq.curr_addr.0,
            curr: rq.curr.as_ref().map(RunqTask::new),
            idle: rq.is_idle(),
            nr_running: rq.nr_running,
            clock: rq.clock,
            lock_held: rq.lock_held,
            queued: rq.queued.iter().map(RunqEntry::new).collect(),
        }
    }
}

impl Record for RunqueueRecord {
    fn render(&self, lines: &mut Vec<String>) {
        let locked = if self.lock_held == Some(true) {
            "  (rq lock held)"
        } else {
            ""
        };
        lines.push(format!(
            "CPU {} RUNQUEUE {:x}  nr_running {}  clock {}.{:09}{locked}",
            self.cpu,
            self.rq,
            self.nr_running,
            self.clock / 1_000_000_000,
            self.clock % 1_000_000_000
        ));
        let curr = match &self.curr {
            Some(t) => format!("PID {} {:x} {} {}", t.pid, t.thread, t.state, t.comm),
            None => format!("{:x} (unreadable)", self.curr_thread),
        };
        let idle = if self.idle { "  (idle)" } else { "" };
        lines.push(format!("  CURRENT: {curr}{idle}"));
        let classes = [
            ("stop", "STOP:"),
            ("dl", "DL:  "),
            ("rt", "RT:  "),
            ("fair", "FAIR:"),
        ];
        for (class, label) in classes {
            let mine: Vec<&RunqEntry> = self.queued.iter().filter(|q| q.class == class).collect();
            if mine.is_empty() && class == "stop" {
                continue;
            }
            if mine.is_empty() {
                lines.push(format!("  {label} [no tasks queued]"));
                continue;
            }
            for (i, q) in mine.iter().enumerate() {
                let head = if i == 0 { label } else { "     " };
                let indent = "  ".repeat(q.depth as usize);
                let rtq = q
                    .rt_queue
                    .map_or_else(String::new, |p| format!("queue {p}: "));
                lines.push(format!("  {head} {indent}{rtq}{}", q.line()));
            }
        }
    }
}

/// One process of `::ptree`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PtreeRow {
    /// The process's `task_struct` (its thread-group leader).
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    /// The parent process's pid (0 for init, kthreadd and orphans of a broken chain).
    pub ppid: i32,
    /// Depth in the tree (0: a root).
    pub depth: u32,
    pub comm: String,
}

impl Record for PtreeRow {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "{:16x}  {}{} {}",
            self.thread,
            "  ".repeat(self.depth as usize),
            self.pid,
            self.comm
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_bridge::VirtAddr;
    use qmdb_linux::sched::SchedClass;

    #[test]
    fn a_runqueue_renders_by_class() {
        let t = |pid, comm: &str| TaskBrief {
            addr: VirtAddr(0xffff_0000_0000_1000 + pid as u64),
            pid,
            comm: comm.into(),
            state: 'R',
            prio: Some(120),
        };
        let rq = RunQueue {
            cpu: 1,
            rq: VirtAddr(0xffff_8880_7dc2_c1c0),
            curr_addr: VirtAddr(0xffff_0000_0000_1061),
            curr: Some(t(97, "qmdb-busy")),
            idle: VirtAddr(0x1),
            nr_running: 2,
            clock: 12_000_000_123,
            lock_held: Some(false),
            queued: vec![Queued {
                class: SchedClass::Fair,
                entity: VirtAddr(0x2000),
                kind: EntityKind::Task(t(98, "qmdb-napper")),
                depth: 0,
                current: false,
                vruntime: Some(0x10),
                deadline: Some(0x20),
                delayed: false,
                rt_queue: None,
            }],
            problems: vec![],
        };
        let r = RunqueueRecord::new(&rq);
        let mut lines = Vec::new();
        r.render(&mut lines);
        assert_eq!(
            lines[0],
            "CPU 1 RUNQUEUE ffff88807dc2c1c0  nr_running 2  clock 12.000000123"
        );
        assert!(lines[1].contains("PID 97") && lines[1].contains("qmdb-busy"));
        assert_eq!(lines[2], "  DL:   [no tasks queued]");
        assert!(lines[4].starts_with("  FAIR: [120] PID 98"), "{}", lines[4]);
        assert!(
            lines[4].ends_with("vruntime 0x10  deadline 0x20"),
            "{}",
            lines[4]
        );
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["queued"][0]["task"]["comm"], "qmdb-napper");
        assert_eq!(j["queued"][0]["kind"], "task");
        assert_eq!(j["curr"]["pid"], 97);
    }
}
