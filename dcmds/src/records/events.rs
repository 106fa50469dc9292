//! Breakpoints and watchpoints as `::events`, `::bp` and `::wp` show them, and the report of
//! a stop.

use crate::record::{hex, Record};
use crate::records::Instruction;
use serde::Serialize;

/// An event's `::evset`-style options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventOptionsInfo {
    /// `-c`: commands run at each hit.
    pub commands: Option<String>,
    /// `-n`: the hit limit.
    pub limit: Option<u64>,
    /// `-d`: disable at the limit.
    pub disable: bool,
    /// `-D`: delete at the limit.
    pub delete: bool,
    /// `-t`: delete at the next stop.
    pub temporary: bool,
    /// `-T`: `::delete all` keeps it.
    pub sticky: bool,
    /// `-p`: the pid or comm it stops for.
    pub task: Option<String>,
}

/// One event: the JSON of `::events`, `::bp` and `::wp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    pub id: u32,
    /// `breakpoint` or `watchpoint`.
    pub kind: &'static str,
    pub enabled: bool,
    /// Whether QEMU holds it now.
    pub planted: bool,
    #[serde(with = "hex")]
    pub addr: u64,
    /// The address as given or as a symbol.
    pub symbol: String,
    /// A watchpoint's mode: `r`, `w` or `rw`.
    pub mode: Option<&'static str>,
    /// A watchpoint's size.
    pub len: Option<u64>,
    pub hits: u64,
    pub options: EventOptionsInfo,
    /// `bp`, or `wp/` plus mode and size (`wp/w8`).
    #[serde(skip)]
    pub kind_text: String,
    /// The options as given (`-n 3 -c '...'`).
    #[serde(skip)]
    pub options_text: String,
}

/// One line of `::events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventRow(pub EventInfo);

impl EventRow {
    /// The table header of `::events`.
    pub fn header() -> String {
        format!(
            "{:>3} S {:<8} {:>4} {:<16} {:<20} OPTIONS",
            "ID", "KIND", "HITS", "ADDR", "WHAT"
        )
    }
}

impl Record for EventRow {
    fn render(&self, lines: &mut Vec<String>) {
        let e = &self.0;
        let line = format!(
            "{:>3} {} {:<8} {:>4} {:<16x} {:<20} {}",
            e.id,
            if e.enabled { '+' } else { '-' },
            e.kind_text,
            e.hits,
            e.addr,
            e.symbol,
            e.options_text
        );
        lines.push(line.trim_end().to_string());
    }
}

/// An event `::bp` or `::wp` has just made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NewEvent(pub EventInfo);

impl Record for NewEvent {
    fn render(&self, lines: &mut Vec<String>) {
        let e = &self.0;
        let detail = match (e.mode, e.len) {
            (Some(mode), Some(len)) => {
                let m = match mode {
                    "r" => "read",
                    "w" => "write",
                    _ => "read/write",
                };
                format!(", {m}, {len} bytes")
            }
            _ => String::new(),
        };
        lines.push(format!(
            "{} {} at {} ({:x}){detail}",
            e.kind, e.id, e.symbol, e.addr
        ));
    }
}

/// Where the guest stopped, with kmdb's report of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopReport {
    /// Why: `breakpoint`, `watchpoint`, `step`, `step-over`, `step-out`, `interrupt`,
    /// `timeout`, `halt`, `signal`, `exited` or `terminated`.
    pub stop: &'static str,
    /// Where the stopped vCPU was; `None` (no keys in the JSON) after `exited` or
    /// `terminated`.
    #[serde(flatten)]
    pub at: Option<StopPlace>,
    /// The why part of the first line (`breakpoint 1 (do_work), hit 1`).
    #[serde(skip)]
    pub why: String,
}

/// The vCPU that stopped and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopPlace {
    /// The event reported (the first of `events`).
    pub event: Option<u32>,
    /// Every event that matched the stop.
    pub events: Option<Vec<u32>>,
    /// The event's hit count.
    pub hits: Option<u64>,
    /// The address a watchpoint reported.
    #[serde(with = "hex::option")]
    pub watch: Option<u64>,
    /// The signal of a stop no event explains.
    pub signal: Option<u8>,
    pub vcpu: u32,
    /// The kernel's CPU number (with a kernel).
    pub cpu: Option<u32>,
    /// The task current on that CPU (with a kernel).
    pub pid: Option<i32>,
    pub comm: Option<String>,
    #[serde(with = "hex::option")]
    pub task: Option<u64>,
    #[serde(with = "hex")]
    pub pc: u64,
    #[serde(with = "hex")]
    pub sp: u64,
    /// `user` or `kernel`.
    pub mode: &'static str,
    /// The kernel symbol holding the pc, in kernel mode.
    pub symbol: Option<String>,
    pub offset: Option<u64>,
    /// The instruction at the pc, AT&T syntax.
    pub instruction: Option<String>,
    /// The instruction at the pc, as `::dis` prints it.
    #[serde(skip)]
    pub insn: Option<Instruction>,
    /// The pc as symbol+offset, for when the instruction cannot be read.
    #[serde(skip)]
    pub pc_label: String,
}

impl Record for StopReport {
    fn render(&self, lines: &mut Vec<String>) {
        let Some(h) = &self.at else {
            lines.push(format!("stopped: {}", self.why));
            return;
        };
        let mut line = format!("stopped: {}, vCPU {}", self.why, h.vcpu);
        if let Some(cpu) = h.cpu {
            line.push_str(&format!(" (CPU {cpu})"));
        }
        if let (Some(pid), Some(comm), Some(task)) = (h.pid, &h.comm, h.task) {
            line.push_str(&format!(", pid {pid} ({comm}), task {task:x}"));
        }
        lines.push(line);
        match &h.insn {
            Some(i) => i.render(lines),
            None => lines.push(format!("{}: (cannot read the instruction)", h.pc_label)),
        }
    }
}
