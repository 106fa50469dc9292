//! Loaded kernel modules as `::lsmod` and `::modinfo` show them.

use crate::record::{hex, Record};
use qmdb_linux::modules::Module;
use serde::Serialize;

/// One module, a line of `::lsmod`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleEntry {
    /// The `struct module`.
    #[serde(with = "hex")]
    pub module: u64,
    pub name: String,
    /// The text base, as `/proc/modules` prints it.
    #[serde(with = "hex")]
    pub base: u64,
    /// Every region's size added up.
    pub size: u64,
    /// The core text's size.
    pub text_size: u64,
    /// `Live`, `Loading`...
    pub state: String,
}

impl ModuleEntry {
    /// The entry of `m`.
    pub fn new(m: &Module) -> ModuleEntry {
        ModuleEntry {
            module: m.addr,
            name: m.name.clone(),
            base: m.base,
            size: m.size,
            text_size: m.text_size,
            state: m.state.clone(),
        }
    }

    /// The table header of `::lsmod`.
    pub fn header() -> String {
        format!("{:>16} {:<20} {:>8} {:>6}", "ADDR", "NAME", "SIZE", "TEXT")
    }
}

impl Record for ModuleEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "{:>16x} {:<20} {:>8} {:>6}",
            self.base, self.name, self.size, self.text_size
        ));
    }
}

/// One module in detail (`::modinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    #[serde(flatten)]
    pub entry: ModuleEntry,
    /// How many symbols its kallsyms holds, in decimal, or why they could not be read
    /// (`unreadable (...)`).
    pub symbols: String,
    /// Its memory regions, `[start, end)`.
    #[serde(skip)]
    pub regions: Vec<(u64, u64)>,
    /// `mod->kallsyms`.
    #[serde(skip)]
    pub kallsyms: u64,
}

impl Record for ModuleInfo {
    fn render(&self, lines: &mut Vec<String>) {
        let e = &self.entry;
        lines.push(format!("module     {:x}", e.module));
        lines.push(format!("name       {}", e.name));
        lines.push(format!("state      {}", e.state));
        lines.push(format!("base       {:x}", e.base));
        lines.push(format!("size       {}", e.size));
        lines.push(format!("text_size  {}", e.text_size));
        for (s, end) in &self.regions {
            lines.push(format!("region     {s:x}-{end:x}"));
        }
        lines.push(format!("kallsyms   {:x}", self.kallsyms));
        lines.push(format!("symbols    {}", self.symbols));
    }
}
