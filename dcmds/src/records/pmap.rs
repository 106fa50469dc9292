//! A process's memory maps as `::pmap` shows them.

use crate::record::{hex, Record};
use qmdb_linux::mm::Vma;
use serde::Serialize;

/// One VMA: its `vm_area_struct` and its line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapEntry {
    #[serde(with = "hex")]
    pub start: u64,
    #[serde(with = "hex")]
    pub end: u64,
    /// `rwxp` as `/proc/PID/maps` prints them (`s` for a shared mapping).
    pub perms: String,
    /// The offset into the file, in bytes.
    #[serde(with = "hex")]
    pub offset: u64,
    /// The file's device, `MAJOR:MINOR` in hex (`00:00` without a file).
    pub dev: String,
    /// The file's inode number (0 without a file).
    pub inode: u64,
    /// The file's path or the kernel's name (`[heap]`, `[stack]`, `[vdso]`), if any.
    pub path: Option<String>,
    /// The `struct vm_area_struct`.
    #[serde(with = "hex")]
    pub vma: u64,
    /// The line `/proc/PID/maps` prints, byte for byte.
    #[serde(skip)]
    pub maps_line: String,
}

impl MapEntry {
    pub fn new(v: &Vma) -> MapEntry {
        MapEntry {
            start: v.start,
            end: v.end,
            perms: v.perms(),
            offset: v.offset,
            dev: format!("{:02x}:{:02x}", v.major(), v.minor()),
            inode: v.inode,
            path: v.name.clone(),
            vma: v.addr.0,
            maps_line: v.maps_line(),
        }
    }
}

impl Record for MapEntry {
    /// The `vm_area_struct`, then the `/proc/PID/maps` line (without its final space).
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("{:16x} {}", self.vma, self.maps_line.trim_end()));
    }
}
