//! Registers of a vCPU (`::regs`, `$r`), in mdb's amd64 `$r` layout.

use crate::record::Record;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::{HashMap, HashSet};

/// Every register the stub supplied, in its order. JSON: `{"rax":"0x…",…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registers {
    /// Name and little-endian bytes.
    pub values: Vec<(String, Vec<u8>)>,
    /// `symbol+off` of the values that point into a symbol.
    pub symbols: HashMap<u64, String>,
    /// `-a`: every register, not only the amd64 ones.
    pub all: bool,
}

impl Serialize for Registers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.len()))?;
        for (name, bytes) in &self.values {
            m.serialize_entry(name, &format!("0x{}", hex_bytes(bytes)))?;
        }
        m.end()
    }
}

impl Record for Registers {
    fn render(&self, out: &mut Vec<String>) {
        let mut shown = HashSet::new();
        let is_amd64 = self.has("rax") && self.has("rip");
        if is_amd64 {
            crate::arch::x86_64::regs::amd64(self, &mut shown, out);
        }
        let mut first_extra = true;
        for (name, bytes) in &self.values {
            if shown.contains(name) || (is_amd64 && !self.all) {
                continue;
            }
            if first_extra && is_amd64 {
                out.push(String::new());
            }
            first_extra = false;
            out.push(format!("%{name} = 0x{}", hex_bytes(bytes)));
        }
    }
}

/// The register's bytes as hex, most significant first.
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    let s: String = bytes.iter().rev().map(|b| format!("{b:02x}")).collect();
    let t = s.trim_start_matches('0');
    if t.is_empty() {
        "0".to_string()
    } else {
        t.to_string()
    }
}

impl Registers {
    /// The register `name` when it fits 64 bits.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        let (_, bytes) = self.values.iter().find(|(n, _)| n == name)?;
        if bytes.len() > 8 {
            return None;
        }
        let mut b = [0u8; 8];
        b.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(u64::from_le_bytes(b))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| n == name)
    }

    pub(crate) fn symbol_of(&self, v: u64) -> &str {
        self.symbols.get(&v).map_or("", String::as_str)
    }

    pub(crate) fn gpr_cell(&self, name: &str) -> String {
        let label = format!("%{name:<3}");
        match self.get_u64(name) {
            Some(v) => format!("{label} = 0x{v:016x} {:<15}", self.symbol_of(v)),
            None => format!("{label} = {:<18} {:<15}", "unavailable", ""),
        }
    }
}
