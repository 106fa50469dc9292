//! Tasks blocked in D and the locks they wait for, as `::hung` shows them.

use crate::record::{hex, Record};
use serde::Serialize;

/// A lock a task waits for, and its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockWait {
    /// `mutex`, `rwsem_read`, `rwsem_write`, `percpu_rwsem`, `semaphore`, `rt_mutex` or
    /// `wait_queue`.
    pub kind: String,
    /// The lock (a `wait_queue_head` for a wait queue).
    #[serde(with = "hex")]
    pub lock: u64,
    /// The kernel symbol the lock is (part of), when it is a global.
    pub symbol: Option<String>,
    /// `blocker` (`task_struct.blocker`) or `stack_waiter` (a waiter record on the stack).
    pub found_by: String,
    /// `task` (the owner), `readers` (held for reading; `owner` is the last reader, a
    /// hint), `last_holder` (a semaphore's), `write_held` (no task recorded) or `none`.
    pub held: String,
    /// The holding task's `task_struct`.
    #[serde(with = "hex::option")]
    pub owner: Option<u64>,
    pub owner_pid: Option<i32>,
    pub owner_comm: Option<String>,
}

impl LockWait {
    /// `mutex ffff888004b2c0a8 held by 142 qmdb-pipe-r`.
    pub fn describe(&self) -> String {
        let what = match &self.symbol {
            Some(s) => format!("{} {:x} ({s})", self.kind, self.lock),
            None => format!("{} {:x}", self.kind, self.lock),
        };
        let who = match (self.owner_pid, &self.owner_comm, self.owner) {
            (Some(p), Some(c), _) => format!("{p} {c}"),
            (_, _, Some(o)) => format!("task {o:x}"),
            _ => String::new(),
        };
        let held = match self.held.as_str() {
            "task" => format!("held by {who}"),
            "readers" if who.is_empty() => "held by readers".to_string(),
            "readers" => format!("held by readers (last {who})"),
            "last_holder" => format!("last held by {who}"),
            "write_held" => "write-held, no owner task recorded".to_string(),
            _ => "no owner recorded".to_string(),
        };
        format!("{what} {held}")
    }
}

/// One link of a lock chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStep {
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub comm: String,
    pub waits_for: LockWait,
}

/// A chain of waiters and holders from a blocked task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockChainRecord {
    pub steps: Vec<ChainStep>,
    /// `holder` (the last owner waits for no lock qmdb found), `no_owner`, `deadlock` or
    /// `too_long`.
    pub end: String,
    /// For `holder` and `deadlock`: the task the chain ends at.
    pub end_pid: Option<i32>,
    pub end_comm: Option<String>,
}

impl LockChainRecord {
    fn render_into(&self, lines: &mut Vec<String>) {
        let mut text = String::from("    chain:");
        for s in &self.steps {
            text.push_str(&format!(
                " {} {} -> {} {:x} ->",
                s.pid, s.comm, s.waits_for.kind, s.waits_for.lock
            ));
        }
        let who = || match (self.end_pid, &self.end_comm) {
            (Some(p), Some(c)) => format!("{p} {c}"),
            _ => "?".to_string(),
        };
        text.push_str(&match self.end.as_str() {
            "holder" => format!(" {} (runs or waits on no lock found)", who()),
            "deadlock" => format!(" {} : DEADLOCK", who()),
            "no_owner" => " (no owner task recorded)".to_string(),
            _ => " ... (too long)".to_string(),
        });
        lines.push(text);
    }
}

/// One task in D, a line of `::hung`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HungTask {
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub tgid: i32,
    pub comm: String,
    /// Nanoseconds since it last ran (`now - se.exec_start`); `null` if unknown.
    pub blocked_ns: Option<u64>,
    /// When it last ran, in ns since boot on the scheduler's clock (as printk timestamps):
    /// `se.exec_start`.
    pub blocked_since_ns: Option<u64>,
    /// Where it waits: the innermost frame outside `.sched.text`.
    #[serde(with = "hex::option")]
    pub wait_pc: Option<u64>,
    pub wait: Option<String>,
    /// The lock it waits for, if found.
    pub lock: Option<LockWait>,
    /// The lock chain that starts here, if one does (each chain is given once).
    pub chain: Option<LockChainRecord>,
}

impl HungTask {
    /// The table header of `::hung`.
    pub fn header() -> String {
        format!(
            "{:<16} {:>6} {:<15} {:>10} {:<32} LOCK",
            "TASK", "PID", "COMM", "BLOCKED", "WAITING IN"
        )
    }
}

/// Seconds with millisecond precision, or `-`.
pub fn secs(ns: Option<u64>) -> String {
    ns.map_or_else(
        || "-".to_string(),
        |n| format!("{}.{:03}s", n / 1_000_000_000, (n / 1_000_000) % 1000),
    )
}

impl Record for HungTask {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "{:<16x} {:>6} {:<15} {:>10} {:<32} {}",
            self.thread,
            self.pid,
            self.comm,
            secs(self.blocked_ns),
            self.wait.as_deref().unwrap_or("?"),
            self.lock
                .as_ref()
                .map_or_else(|| "-".to_string(), LockWait::describe)
        ));
        if let Some(c) = &self.chain {
            c.render_into(lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutex_wait_names_the_holder() {
        let l = LockWait {
            kind: "mutex".into(),
            lock: 0xffff_8880_0400_0010,
            symbol: None,
            found_by: "stack_waiter".into(),
            held: "task".into(),
            owner: Some(0xffff_8880_0300_0000),
            owner_pid: Some(142),
            owner_comm: Some("qmdb-pipe-r".into()),
        };
        assert_eq!(
            l.describe(),
            "mutex ffff888004000010 held by 142 qmdb-pipe-r"
        );
        assert_eq!(secs(Some(12_345_678_901)), "12.345s");
        assert_eq!(secs(None), "-");
    }
}
