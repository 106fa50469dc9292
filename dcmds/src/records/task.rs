//! Tasks as `::ps`, `::pgrep` and `::task` show them.

use crate::record::{hex, Record};
use qmdb_linux::state::state_name;
use qmdb_linux::{Task, TaskList, TaskRef};
use serde::Serialize;

/// One task, a line of `::ps`/`::pgrep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// The `task_struct`.
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub tgid: i32,
    /// The real parent's tgid; 0 when it is not in the list.
    pub ppid: i32,
    pub comm: String,
    /// The state letter of ps(1).
    pub state: String,
    /// `PF_*` flags.
    #[serde(with = "hex")]
    pub flags: u64,
    /// The CPU it runs or last ran on.
    pub cpu: Option<u32>,
}

impl TaskRow {
    /// The row of `t`, its parent looked up in `list`.
    pub fn new(list: &TaskList, t: &Task) -> TaskRow {
        let ppid = list
            .find(TaskRef(qmdb_bridge::VirtAddr(t.real_parent)))
            .map_or(0, |p| p.tgid);
        TaskRow {
            thread: t.addr.0 .0,
            pid: t.pid,
            tgid: t.tgid,
            ppid,
            comm: t.comm.clone(),
            state: t.state_letter().to_string(),
            flags: u64::from(t.flags),
            cpu: t.cpu,
        }
    }

    /// The table header of `::ps`.
    pub fn header() -> String {
        format!(
            "{:1} {:>6} {:>6} {:>6} {:>10} {:>16} {:>3} COMM",
            "S", "PID", "PPID", "TGID", "FLAGS", "ADDR", "CPU"
        )
    }
}

impl Record for TaskRow {
    fn render(&self, lines: &mut Vec<String>) {
        let cpu = self.cpu.map_or_else(|| "-".to_string(), |c| c.to_string());
        lines.push(format!(
            "{:1} {:>6} {:>6} {:>6} {:#010x} {:x} {:>3} {}",
            self.state, self.pid, self.ppid, self.tgid, self.flags, self.thread, cpu, self.comm
        ));
    }
}

/// A `::ps -m` line: the task, and how long ago it last ran (crash's `ps -m`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskLastRan {
    #[serde(flatten)]
    pub row: TaskRow,
    /// Nanoseconds from its last switch-in (`sched_info.last_arrival`) to the scheduler's
    /// "now" (the largest `rq->clock`); `None` when it never ran or could not be read.
    pub last_ran_ns: Option<u64>,
}

impl TaskLastRan {
    /// The table header of `::ps -m`.
    pub fn header() -> String {
        format!("{:>18} {}", "LAST RAN", TaskRow::header())
    }
}

/// Nanoseconds as crash's `[days hh:mm:ss.mss]`.
pub fn days_hms(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let (s, ms) = (ms / 1000, ms % 1000);
    let (m, s) = (s / 60, s % 60);
    let (h, m) = (m / 60, m % 60);
    let (d, h) = (h / 24, h % 24);
    format!("[{d} {h:02}:{m:02}:{s:02}.{ms:03}]")
}

impl Record for TaskLastRan {
    fn render(&self, lines: &mut Vec<String>) {
        let mut row = Vec::new();
        self.row.render(&mut row);
        let ago = self.last_ran_ns.map_or_else(|| "-".to_string(), days_hms);
        for l in row {
            lines.push(format!("{ago:>18} {l}"));
        }
    }
}

/// One task in detail (`::task`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskDetail {
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub tgid: i32,
    /// The real parent's pid; -1 when it cannot be read.
    pub ppid: i32,
    pub comm: String,
    pub state: String,
    pub state_name: String,
    #[serde(skip)]
    pub raw_state: u32,
    #[serde(skip)]
    pub exit_state: u32,
    #[serde(with = "hex")]
    pub flags: u64,
    pub cpu: Option<u32>,
    pub on_cpu: bool,
    /// The stack's base.
    #[serde(with = "hex")]
    pub stack: u64,
    #[serde(skip)]
    pub stack_end: u64,
    /// The saved stack pointer (`thread.sp`).
    #[serde(with = "hex")]
    pub sp: u64,
    /// The real parent's `task_struct`.
    #[serde(with = "hex")]
    pub parent: u64,
    #[serde(with = "hex::option")]
    pub mm: Option<u64>,
    /// ` idle`, ` kthread` or nothing.
    #[serde(skip)]
    pub kind: &'static str,
}

impl TaskDetail {
    /// `t` in detail; `parent_pid` is the real parent's pid when it could be read.
    pub fn new(t: &Task, parent_pid: Option<i32>) -> TaskDetail {
        let letter = t.state_letter();
        let kind = if t.is_idle() {
            " idle"
        } else if t.is_kthread() {
            " kthread"
        } else {
            ""
        };
        TaskDetail {
            thread: t.addr.0 .0,
            pid: t.pid,
            tgid: t.tgid,
            ppid: parent_pid.unwrap_or(-1),
            comm: t.comm.clone(),
            state: letter.to_string(),
            state_name: state_name(letter).to_string(),
            raw_state: t.state,
            exit_state: t.exit_state,
            flags: u64::from(t.flags),
            cpu: t.cpu,
            on_cpu: t.on_cpu,
            stack: t.stack_range().start,
            stack_end: t.stack_range().end,
            sp: t.saved_sp,
            parent: t.real_parent,
            mm: t.mm,
            kind,
        }
    }
}

impl Record for TaskDetail {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "task {:x}: pid {} ({}){}, tgid {}, parent {:x} (pid {})",
            self.thread, self.pid, self.comm, self.kind, self.tgid, self.parent, self.ppid,
        ));
        lines.push(format!(
            "    state {} ({}), __state {:#x}, exit_state {:#x}, flags {:#x}",
            self.state, self.state_name, self.raw_state, self.exit_state, self.flags
        ));
        lines.push(format!(
            "    cpu {}, on_cpu {}, stack {:x}-{:x}, saved sp {:x}, mm {}",
            self.cpu.map_or_else(|| "?".into(), |c| c.to_string()),
            u8::from(self.on_cpu),
            self.stack,
            self.stack_end,
            self.sp,
            self.mm.map_or_else(|| "?".into(), |m| format!("{m:x}")),
        ));
    }
}

#[cfg(test)]
mod last_ran_tests {
    use super::*;

    #[test]
    fn last_ran_is_days_and_time() {
        assert_eq!(days_hms(0), "[0 00:00:00.000]");
        assert_eq!(days_hms(1_234_999_999), "[0 00:00:01.234]");
        let ns = ((2 * 86400 + 3 * 3600 + 4 * 60 + 5) * 1000 + 6) * 1_000_000;
        assert_eq!(days_hms(ns), "[2 03:04:05.006]");
        let row = TaskRow {
            thread: 0x1000,
            pid: 7,
            tgid: 7,
            ppid: 1,
            comm: "x".into(),
            state: "S".into(),
            flags: 0,
            cpu: Some(0),
        };
        let r = TaskLastRan {
            row,
            last_ran_ns: Some(1_000_000),
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["pid"], 7);
        assert_eq!(j["last_ran_ns"], 1_000_000);
        let mut lines = Vec::new();
        r.render(&mut lines);
        assert!(lines[0].starts_with("  [0 00:00:00.001] S"), "{}", lines[0]);
    }
}
