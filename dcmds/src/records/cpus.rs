//! The vCPUs as `::cpus` lists them, and the one `::cpu` selects.

use crate::record::Record;
use serde::Serialize;

/// One vCPU, a line of `::cpus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VcpuEntry {
    /// The CPU index (QEMU's thread id less one).
    pub cpu: u32,
    /// The stub's thread id for it (`p1.1`).
    pub thread: String,
    /// What the stub says about it (QEMU: `CPU#0 [halted ]`).
    pub info: String,
    /// Whether it supplies registers and page tables now.
    pub selected: bool,
}

impl VcpuEntry {
    /// The table header of `::cpus`.
    pub fn header() -> String {
        format!(" {:>3} {:<8} INFO", "CPU", "THREAD")
    }
}

impl Record for VcpuEntry {
    fn render(&self, lines: &mut Vec<String>) {
        let mark = if self.selected { '*' } else { ' ' };
        let line = format!("{mark}{:>3} {:<8} {}", self.cpu, self.thread, self.info);
        lines.push(line.trim_end().to_string());
    }
}

/// The selected vCPU: what `::cpu` shows, or the one it has just selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectedVcpu {
    /// The CPU index.
    pub cpu: u32,
    /// The stub's thread id (`p1.2`) when `::cpu` shows the selection; `None` when it
    /// made it, which prints nothing.
    #[serde(skip)]
    pub thread: Option<String>,
}

impl Record for SelectedVcpu {
    fn render(&self, lines: &mut Vec<String>) {
        if let Some(t) = &self.thread {
            lines.push(format!("vCPU {} (thread {t}) is selected", self.cpu));
        }
    }
}
