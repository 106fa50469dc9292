//! Symbols as `::nm` lists them.

use crate::record::{hex, Record};
use serde::Serialize;

/// One symbol of the kernel or of a loaded module, at its runtime (KASLR-slid) address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolEntry {
    #[serde(with = "hex")]
    pub addr: u64,
    /// The `/proc/kallsyms` type letter (`T`, `d`...).
    #[serde(rename = "type")]
    pub kind: char,
    /// The bare name.
    pub name: String,
    /// The module defining it; `None` (and no key in the JSON) for the kernel's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl Record for SymbolEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(match &self.module {
            Some(m) => format!("{:016x} {} {m}`{}", self.addr, self.kind, self.name),
            None => format!("{:016x} {} {}", self.addr, self.kind, self.name),
        });
    }
}
