//! What each vCPU runs (`::cpuinfo`).

use crate::record::{hex, Record};
use qmdb_bridge::VcpuId;
use serde::Serialize;

/// One vCPU: its CPU, current task, mode and pc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuRow {
    /// The vCPU's index (QEMU's thread id less one).
    pub vcpu: u32,
    /// The vCPU as the stub names it.
    #[serde(skip)]
    pub vcpu_id: VcpuId,
    /// The kernel's CPU number, when a per-CPU base matched.
    pub cpu: Option<u32>,
    /// Whether the CPU is in `cpu_online_mask` (`None`: unknown).
    pub online: Option<bool>,
    /// The task current on the CPU.
    #[serde(with = "hex::option")]
    pub thread: Option<u64>,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    /// `user` or `kernel`.
    pub mode: &'static str,
    #[serde(with = "hex")]
    pub pc: u64,
    /// The pc as symbol+offset, in kernel mode.
    pub symbol: Option<String>,
}

impl CpuRow {
    /// The table header of `::cpuinfo`.
    pub fn header() -> String {
        format!(
            "{:>4} {:>3} {:>16} {:>6} {:<16} {:<6} PC",
            "VCPU", "CPU", "THREAD", "PID", "COMM", "MODE"
        )
    }
}

impl Record for CpuRow {
    fn render(&self, lines: &mut Vec<String>) {
        let offline = if self.online == Some(false) {
            "  (CPU offline)"
        } else {
            ""
        };
        let pc = self
            .symbol
            .clone()
            .unwrap_or_else(|| format!("{:x}", self.pc));
        lines.push(format!(
            "{:>4} {:>3} {:>16} {:>6} {:<16} {:<6} {pc}{offline}",
            self.vcpu,
            self.cpu.map_or_else(|| "?".into(), |c| c.to_string()),
            self.thread.map_or_else(|| "?".into(), |t| format!("{t:x}")),
            self.pid.map_or_else(|| "?".into(), |p| p.to_string()),
            self.comm.as_deref().unwrap_or("?"),
            self.mode,
        ));
    }
}
