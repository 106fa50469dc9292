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
            amd64(self, &mut shown, out);
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

const LEFT: [&str; 7] = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8"];
const RIGHT: [&str; 7] = ["r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const POINTERS: [&str; 3] = ["rip", "rbp", "rsp"];
const SEGMENTS: [[&str; 3]; 2] = [["cs", "ds", "es"], ["fs", "gs", "ss"]];
const BASES: [&str; 3] = ["fs_base", "gs_base", "k_gs_base"];
const CONTROL: [[&str; 2]; 3] = [["cr0", "cr2"], ["cr3", "cr4"], ["cr8", "efer"]];
const FLAGS_NAME: [&str; 2] = ["eflags", "rflags"];

/// `(bit, name)` of the one-bit status flags, in mdb's order.
const STATUS_FLAGS: [(u32, &str); 9] = [
    (11, "of"),
    (10, "df"),
    (9, "if"),
    (8, "tf"),
    (7, "sf"),
    (6, "zf"),
    (4, "af"),
    (2, "pf"),
    (0, "cf"),
];

/// The register's bytes as hex, most significant first.
fn hex_bytes(bytes: &[u8]) -> String {
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

    fn has(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| n == name)
    }

    fn symbol_of(&self, v: u64) -> &str {
        self.symbols.get(&v).map_or("", String::as_str)
    }

    fn gpr_cell(&self, name: &str) -> String {
        let label = format!("%{name:<3}");
        match self.get_u64(name) {
            Some(v) => format!("{label} = 0x{v:016x} {:<15}", self.symbol_of(v)),
            None => format!("{label} = {:<18} {:<15}", "unavailable", ""),
        }
    }
}

/// The decoded flag lines under `%rflags`.
pub fn flag_lines(v: u64) -> [String; 2] {
    let bit = |n: u32| (v >> n) & 1;
    let control = format!(
        "  id={} vip={} vif={} ac={} vm={} rf={} nt={} iopl={:#x}",
        bit(21),
        bit(20),
        bit(19),
        bit(18),
        bit(17),
        bit(16),
        bit(14),
        (v >> 12) & 3
    );
    let status: Vec<String> = STATUS_FLAGS
        .iter()
        .map(|&(b, n)| {
            if bit(b) == 1 {
                n.to_uppercase()
            } else {
                n.to_string()
            }
        })
        .collect();
    [control, format!("  status=<{}>", status.join(","))]
}

fn amd64(regs: &Registers, shown: &mut HashSet<String>, out: &mut Vec<String>) {
    for (l, r) in LEFT.iter().zip(RIGHT.iter()) {
        let line = format!("{} {}", regs.gpr_cell(l), regs.gpr_cell(r));
        out.push(line.trim_end().to_string());
        shown.insert(l.to_string());
        shown.insert(r.to_string());
    }
    out.push(String::new());
    for p in POINTERS {
        shown.insert(p.to_string());
        let line = match regs.get_u64(p) {
            Some(v) => format!("%{p} = 0x{v:016x} {}", regs.symbol_of(v)),
            None => format!("%{p} = unavailable"),
        };
        out.push(line.trim_end().to_string());
    }
    out.push(String::new());
    if let Some((name, v)) = FLAGS_NAME
        .iter()
        .find_map(|n| regs.get_u64(n).map(|v| (*n, v)))
    {
        shown.insert(name.to_string());
        out.push(format!("%rflags = 0x{v:08x}"));
        for l in flag_lines(v) {
            out.push(l);
        }
        out.push(String::new());
    }
    for row in SEGMENTS {
        let cells: Vec<String> = row
            .iter()
            .filter_map(|s| {
                shown.insert(s.to_string());
                regs.get_u64(s).map(|v| format!("%{s} = 0x{v:04x}"))
            })
            .collect();
        if !cells.is_empty() {
            out.push(cells.join("    "));
        }
    }
    out.push(String::new());
    for b in BASES {
        shown.insert(b.to_string());
        if let Some(v) = regs.get_u64(b) {
            out.push(format!("%{b:<9} = 0x{v:016x}"));
        }
    }
    out.push(String::new());
    for row in CONTROL {
        let cells: Vec<String> = row
            .iter()
            .filter_map(|c| {
                shown.insert(c.to_string());
                regs.get_u64(c).map(|v| format!("%{c:<4} = 0x{v:016x}"))
            })
            .collect();
        if !cells.is_empty() {
            out.push(cells.join("    "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_decode_like_mdb() {
        let [control, status] = flag_lines(0x286);
        assert_eq!(control, "  id=0 vip=0 vif=0 ac=0 vm=0 rf=0 nt=0 iopl=0x0");
        assert_eq!(status, "  status=<of,df,IF,tf,SF,zf,af,PF,cf>");
        let [control, status] = flag_lines(0x203046 | (1 << 21));
        assert_eq!(control, "  id=1 vip=0 vif=0 ac=0 vm=0 rf=0 nt=0 iopl=0x3");
        assert_eq!(status, "  status=<of,df,if,tf,sf,ZF,af,PF,cf>");
    }

    #[test]
    fn wide_registers_print_whole() {
        assert_eq!(
            hex_bytes(&[0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0xff]),
            "ff000000000000000201"
        );
        assert_eq!(hex_bytes(&[0; 16]), "0");
    }
}
