//! What the container dcmds print: `::list`'s entries, `::xarray`'s and `::idr`'s
//! (index, entry) pairs, and `::percpu`'s per-CPU addresses.

use crate::record::{hex, Record};
use serde::Serialize;

/// One entry of a list walked by `::list`: the containing structure's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListEntry {
    #[serde(with = "hex")]
    pub addr: u64,
}

impl Record for ListEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("{:x}", self.addr));
    }
}

/// One present entry of an xarray or IDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct XarrayEntry {
    /// The index (for an IDR, the id: `idr_base` added).
    pub index: u64,
    /// The entry as stored (for a value entry, `(value << 1) | 1`).
    #[serde(with = "hex")]
    pub entry: u64,
    /// For a value entry (`xa_is_value`), the integer it holds; absent for a pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<u64>,
}

impl XarrayEntry {
    /// The header over [`XarrayEntry`] lines.
    pub fn header() -> String {
        format!("{:>10} {:>16}", "INDEX", "ENTRY")
    }
}

impl Record for XarrayEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(match self.value {
            Some(v) => format!(
                "{:>10} {:>16} (value {v:#x})",
                self.index,
                format!("{:x}", self.entry)
            ),
            None => format!("{:>10} {:>16x}", self.index, self.entry),
        });
    }
}

/// One CPU's copy of a per-CPU variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PerCpuAddr {
    pub cpu: u32,
    #[serde(with = "hex")]
    pub addr: u64,
}

impl PerCpuAddr {
    /// The header over [`PerCpuAddr`] lines.
    pub fn header() -> String {
        format!("{:>3} {:>16}", "CPU", "ADDR")
    }
}

impl Record for PerCpuAddr {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("{:>3} {:>16x}", self.cpu, self.addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AnyRecord;

    #[test]
    fn text_and_json() {
        let e = ListEntry {
            addr: 0xffff_8880_0001_0000,
        };
        assert_eq!(e.lines(), vec!["ffff888000010000"]);
        assert_eq!(e.json()["addr"], "0xffff888000010000");
        let x = XarrayEntry {
            index: 7,
            entry: 0xffff_8880_0000_1000,
            value: None,
        };
        assert_eq!(x.lines(), vec!["         7 ffff888000001000"]);
        assert!(x.json().get("value").is_none());
        let v = XarrayEntry {
            index: 8,
            entry: 0x55,
            value: Some(0x2a),
        };
        assert!(v.lines()[0].ends_with("55 (value 0x2a)"), "{:?}", v.lines());
        assert_eq!(v.json()["value"], 42);
        let p = PerCpuAddr {
            cpu: 1,
            addr: 0xffff_8880_3ec2_c340,
        };
        assert_eq!(p.lines(), vec!["  1 ffff88803ec2c340"]);
        assert_eq!(p.json()["cpu"], 1);
        assert_eq!(PerCpuAddr::header(), "CPU             ADDR");
    }
}
