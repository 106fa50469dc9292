//! A panicked kernel's summary, as `::panicinfo` shows it.

use crate::record::{hex, Record};
use crate::records::hung::secs;
use serde::Serialize;

/// Where one CPU stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuStop {
    /// The vCPU as the stub numbers it (1-based, QEMU's thread id).
    pub vcpu: u32,
    pub cpu: Option<u32>,
    pub online: Option<bool>,
    /// The task current on it.
    #[serde(with = "hex::option")]
    pub thread: Option<u64>,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    #[serde(with = "hex")]
    pub pc: u64,
    /// `func+0xoff` of the pc, or `user` for a vCPU in user mode.
    pub at: String,
    /// Whether this is the CPU that panicked.
    pub panicking: bool,
}

/// What `::panicinfo` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PanicInfo {
    /// Whether a CPU has panicked (`panic_cpu` set).
    pub panicked: bool,
    /// The text after "Kernel panic - not syncing: " of the last such log line.
    pub message: Option<String>,
    /// When that line was logged, in ns since boot.
    pub panicked_at_ns: Option<u64>,
    /// `panic_cpu`.
    pub cpu: Option<u32>,
    /// The task current on the panicking CPU.
    #[serde(with = "hex::option")]
    pub thread: Option<u64>,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    /// `tainted_mask`.
    #[serde(with = "hex::option")]
    pub tainted_mask: Option<u64>,
    /// Its flags as the kernel's letters (`""` untainted).
    pub taint: Option<String>,
    /// The scheduler's clock now (the largest run-queue clock), ns since boot.
    pub uptime_ns: Option<u64>,
    /// Every vCPU.
    pub cpus: Vec<CpuStop>,
}

impl Record for PanicInfo {
    fn render(&self, lines: &mut Vec<String>) {
        let or = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        lines.push(match (&self.message, self.panicked) {
            (Some(m), _) => format!(
                "panic:    \"{m}\" at {}",
                secs(self.panicked_at_ns).trim_end_matches('s')
            ),
            (None, true) => "panic:    (no panic message in the log)".to_string(),
            (None, false) => "panic:    none (panic_cpu is unset)".to_string(),
        });
        if self.panicked {
            lines.push(format!(
                "cpu:      {} task {} pid {} {}",
                or(self.cpu.map(|c| c.to_string())),
                or(self.thread.map(|t| format!("{t:x}"))),
                or(self.pid.map(|p| p.to_string())),
                or(self.comm.clone())
            ));
        }
        lines.push(match (&self.taint, self.tainted_mask) {
            (Some(t), Some(m)) if m != 0 => format!("tainted:  {t} ({m:#x})"),
            (_, Some(_)) => "tainted:  not tainted".to_string(),
            _ => "tainted:  unknown".to_string(),
        });
        lines.push(format!("uptime:   {}", secs(self.uptime_ns)));
        lines.push(format!(
            "{:>4} {:>3} {:>6} {:<6} {:<16} AT",
            "VCPU", "CPU", "ONLINE", "PID", "COMM"
        ));
        for c in &self.cpus {
            lines.push(format!(
                "{:>4} {:>3} {:>6} {:<6} {:<16} {}{}",
                c.vcpu,
                or(c.cpu.map(|c| c.to_string())),
                or(c.online.map(|o| if o { "yes" } else { "no" }.to_string())),
                or(c.pid.map(|p| p.to_string())),
                or(c.comm.clone()),
                c.at,
                if c.panicking { "  <- panicked" } else { "" }
            ));
        }
    }
}
