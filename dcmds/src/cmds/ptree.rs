//! `::ptree`: the process tree, as mdb's `::ptree`.
//!
//! Built from the task list: each process's parent is the process of its `real_parent`
//! (which may be one of that process's threads). One walk of the task list, bounded and
//! cycle-checked, gives every parent link; the kernel's `children`/`sibling` lists hold the
//! same links but would be one more list per process to walk, and can be caught mid-update
//! by a fork or exit just as the task list can.

use super::ps::tasks;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::PtreeRow;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::{Scope, Task};
use std::collections::{HashMap, HashSet};

pub const PTREE: DcmdDef = DcmdDef {
    name: "ptree",
    aliases: &[],
    usage: "?",
    description: "the process tree, or one process's relatives",
    help: "Prints the guest's processes as a tree, each under its parent (the process
of its real_parent), children by pid:
  ffff8acb41230000  1 init
  ffff8acb41c70000    148 qmdb-sleeper
  ffff8acb41236100  2 kthreadd
init and kthreadd (whose parent is the idle task, pid 0) are the roots; a
process whose parent is not in the task list is a root too.
ADDR::ptree shows only the process of the task at ADDR: its ancestors from
the root down, then it and its descendants.

In a pipeline, emits the processes' task_struct addresses. With --json, one
object per process: {\"thread\",\"pid\",\"ppid\",\"depth\",\"comm\"}.",
    run,
};

/// A process as the tree needs it: its pid and its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    pub pid: i32,
    /// The parent process's pid; 0 when none.
    pub ppid: i32,
}

/// The processes in tree order, as (index in `procs`, depth): roots (no parent among
/// `procs`) by pid, each followed by its descendants, children by pid. Processes on a cycle
/// of parents (no root above them) come last, each as a root of what is left.
pub(crate) fn tree_order(procs: &[Proc]) -> Vec<(usize, u32)> {
    let index: HashMap<i32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        match index.get(&p.ppid) {
            Some(&parent) if parent != i => children.entry(parent).or_default().push(i),
            _ => roots.push(i),
        }
    }
    for c in children.values_mut() {
        c.sort_by_key(|&i| procs.get(i).map_or(0, |p| p.pid));
    }
    roots.sort_by_key(|&i| procs.get(i).map_or(0, |p| p.pid));
    let mut out = Vec::with_capacity(procs.len());
    let mut seen = HashSet::new();
    let mut starts = roots;
    // What no root reaches is on a cycle of parents: each left in pid order starts a tree.
    let mut rest: Vec<usize> = (0..procs.len()).collect();
    rest.sort_by_key(|&i| procs.get(i).map_or(0, |p| p.pid));
    starts.extend(rest);
    for start in starts {
        let mut stack = vec![(start, 0u32)];
        while let Some((i, depth)) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            out.push((i, depth));
            if let Some(c) = children.get(&i) {
                stack.extend(c.iter().rev().map(|&c| (c, depth + 1)));
            }
        }
    }
    out
}

/// The ancestors of `procs[i]`, root first (a cycle of parents ends them).
pub(crate) fn ancestors(procs: &[Proc], i: usize) -> Vec<usize> {
    let index: HashMap<i32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let mut seen = HashSet::from([i]);
    let mut up = Vec::new();
    let mut cur = i;
    while let Some(&parent) = procs.get(cur).and_then(|p| index.get(&p.ppid)) {
        if !seen.insert(parent) {
            break;
        }
        up.push(parent);
        cur = parent;
    }
    up.reverse();
    up
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if let Some(extra) = inv.args.first() {
        return Err(inv.usage_error(format!("unexpected argument '{}'", extra.text)));
    }
    let list = tasks(session, &cmd, Scope::Threads, sink)?;
    // Every task's process (tgid), to find the process of a real_parent that is a thread.
    let tgid_of: HashMap<u64, i32> = list.tasks.iter().map(|t| (t.addr.0 .0, t.tgid)).collect();
    let leaders: Vec<&Task> = list
        .tasks
        .iter()
        .filter(|t| t.pid == t.tgid && t.pid != 0)
        .collect();
    let procs: Vec<Proc> = leaders
        .iter()
        .map(|t| Proc {
            pid: t.pid,
            ppid: tgid_of.get(&t.real_parent).copied().unwrap_or(0),
        })
        .collect();
    let order = if inv.flags.addrspec {
        let tgid = *tgid_of.get(&inv.addr.0).ok_or_else(|| {
            DcmdError::usage(
                &cmd,
                format!("{:x} is not a task of the task list", inv.addr.0),
            )
        })?;
        let me = leaders
            .iter()
            .position(|t| t.pid == tgid)
            .ok_or_else(|| DcmdError::usage(&cmd, format!("no process {tgid} (pid 0?)")))?;
        let up = ancestors(&procs, me);
        let below = subtree(&procs, me);
        let base = up.len() as u32;
        let mut order: Vec<(usize, u32)> = up.into_iter().zip(0..).collect();
        order.extend(below.into_iter().map(|(i, d)| (i, d + base)));
        order
    } else {
        tree_order(&procs)
    };
    for (i, depth) in order {
        let (Some(t), Some(p)) = (leaders.get(i), procs.get(i)) else {
            continue;
        };
        if sink.pipe_out() {
            sink.addr(t.addr.0);
            continue;
        }
        sink.record(PtreeRow {
            thread: t.addr.0 .0,
            pid: t.pid,
            ppid: p.ppid,
            depth,
            comm: t.comm.clone(),
        });
    }
    Ok(())
}

/// `procs[i]` and its descendants in tree order, depths from 0.
fn subtree(procs: &[Proc], i: usize) -> Vec<(usize, u32)> {
    // The tree of everything, cut to the part under i: i is a root of its own order when
    // its parent is hidden.
    let mut cut: Vec<Proc> = procs.to_vec();
    if let Some(p) = cut.get_mut(i) {
        p.ppid = 0;
    }
    let order = tree_order(&cut);
    let start = order.iter().position(|&(j, _)| j == i).unwrap_or(0);
    let mut out = Vec::new();
    for &(j, d) in order.get(start..).unwrap_or_default() {
        if j != i && d == 0 {
            break;
        }
        out.push((j, d));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32) -> Proc {
        Proc { pid, ppid }
    }

    #[test]
    fn a_tree_by_pid() {
        // init (1) with 90 and 80 (80 has 95), kthreadd (2) with 3, an orphan 50.
        let procs = [
            p(90, 1),
            p(2, 0),
            p(1, 0),
            p(80, 1),
            p(3, 2),
            p(95, 80),
            p(50, 77),
        ];
        let got: Vec<(i32, u32)> = tree_order(&procs)
            .into_iter()
            .map(|(i, d)| (procs[i].pid, d))
            .collect();
        assert_eq!(
            got,
            [(1, 0), (80, 1), (95, 2), (90, 1), (2, 0), (3, 1), (50, 0)]
        );
        let up: Vec<i32> = ancestors(&procs, 5)
            .into_iter()
            .map(|i| procs[i].pid)
            .collect();
        assert_eq!(up, [1, 80]);
        let below: Vec<(i32, u32)> = subtree(&procs, 3)
            .into_iter()
            .map(|(i, d)| (procs[i].pid, d))
            .collect();
        assert_eq!(below, [(80, 0), (95, 1)]);
    }

    #[test]
    fn a_cycle_of_parents_ends() {
        // 10 -> 11 -> 10: no root; both still printed once, and ancestors stop.
        let procs = [p(1, 0), p(10, 11), p(11, 10), p(12, 12)];
        let got: Vec<(i32, u32)> = tree_order(&procs)
            .into_iter()
            .map(|(i, d)| (procs[i].pid, d))
            .collect();
        assert_eq!(got, [(1, 0), (12, 0), (10, 0), (11, 1)]);
        assert_eq!(ancestors(&procs, 1), vec![2]);
        assert_eq!(ancestors(&procs, 3), Vec::<usize>::new());
    }
}
