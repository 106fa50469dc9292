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
