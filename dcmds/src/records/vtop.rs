//! Page-table walks as `addr::vtop` shows them.

use crate::record::{hex, Record};
use serde::Serialize;

/// The name and size of a page: `4K`, `2M`, `1G`.
fn size_name(size: u64) -> String {
    match size {
        s if s >= 1 << 30 => format!("{}G", s >> 30),
        s if s >= 1 << 20 => format!("{}M", s >> 20),
        s => format!("{}K", s >> 10),
    }
}

/// One level of a walk: the entry read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageLevel {
    /// Linux's name of the level: `PGD`, `P4D`, `PUD`, `PMD`, `PTE`.
    pub level: &'static str,
    /// The entry's physical address.
    #[serde(with = "hex")]
    pub entry_addr: u64,
    /// The entry's value.
    #[serde(with = "hex")]
    pub value: u64,
    /// The entry's index in its table.
    #[serde(skip)]
    pub index: u64,
}

impl PageLevel {
    /// The level's line: `  PGD [511] entry at 0x…: 0x…`.
    pub fn line(&self) -> String {
        format!(
            "  {:<3} [{:3}] entry at {:#x}: {:#018x}",
            self.level, self.index, self.entry_addr, self.value
        )
    }
}

/// A translated virtual address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    #[serde(with = "hex")]
    pub va: u64,
    #[serde(with = "hex")]
    pub pa: u64,
    /// The size of the page mapping it, in bytes.
    pub page_size: u64,
    /// The physical address of the top-level table walked.
    #[serde(with = "hex")]
    pub pgd: u64,
    /// Whether that table is the kernel PGD paired with the vCPU's PTI user PGD.
    pub pti_kernel_pgd: bool,
    /// With `-p`: the process whose page tables were walked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// With `-p`: whether the table walked is that process's PTI user PGD.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pti_user_pgd: bool,
    /// The entries read, from the top.
    pub levels: Vec<PageLevel>,
    /// Writable at every level.
    pub writable: bool,
    /// User-accessible at every level.
    pub user: bool,
    /// No-execute at some level.
    pub nx: bool,
    /// Whether the tables have 5 levels.
    #[serde(skip)]
    pub five_level: bool,
}

impl Record for Translation {
    fn render(&self, lines: &mut Vec<String>) {
        let pgd_note = match (self.pid, self.pti_kernel_pgd, self.pti_user_pgd) {
            (Some(pid), _, true) => format!(" (pid {pid}'s PTI user PGD)"),
            (Some(pid), _, false) => format!(" (pid {pid}'s PGD)"),
            (None, true, _) => " (PTI kernel PGD)".to_string(),
            (None, false, _) => String::new(),
        };
        lines.push(format!(
            "virtual {:x} -> physical {:#x}, {} page, {}-level, pgd {:#x}{pgd_note}",
            self.va,
            self.pa,
            size_name(self.page_size),
            if self.five_level { 5 } else { 4 },
            self.pgd
        ));
        lines.extend(self.levels.iter().map(PageLevel::line));
        lines.push(format!(
            "  {}{}{}",
            if self.writable {
                "writable"
            } else {
                "read-only"
            },
            if self.user { ", user" } else { ", kernel" },
            if self.nx { ", nx" } else { ", exec" },
        ));
    }
}
