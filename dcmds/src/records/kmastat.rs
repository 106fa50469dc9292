//! Slab caches as `::kmastat` shows them (`/proc/slabinfo`'s figures).

use crate::record::{hex, Record};
use qmdb_linux::slab::stats::CacheStats;
use serde::Serialize;

/// One slab cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmastatRow {
    /// The `struct kmem_cache`.
    #[serde(with = "hex")]
    pub cache: u64,
    pub name: String,
    /// `object_size`: what the cache's users asked for.
    pub object_size: u64,
    /// `size`: the slot of each object (slabinfo's `<objsize>`).
    pub size: u64,
    /// Objects in use (slabinfo's `<active_objs>`).
    pub active: u64,
    /// Objects of all its slabs (`<num_objs>`).
    pub total: u64,
    /// Its slabs (`<num_slabs>`).
    pub slabs: u64,
    pub objects_per_slab: u64,
    pub pages_per_slab: u64,
    /// Bytes of its slabs.
    pub memory: u64,
}

impl KmastatRow {
    /// The row of `c`.
    pub fn new(c: &CacheStats) -> KmastatRow {
        KmastatRow {
            cache: c.addr.0,
            name: c.name.clone(),
            object_size: c.object_size,
            size: c.size,
            active: c.active_objects,
            total: c.total_objects,
            slabs: c.slabs,
            objects_per_slab: c.objects_per_slab,
            pages_per_slab: 1u64 << c.order.min(63),
            memory: c.memory,
        }
    }

    /// The table header.
    pub fn header() -> String {
        format!(
            "{:<24} {:>7} {:>6} {:>8} {:>8} {:>6} {:>8}",
            "NAME", "OBJSIZE", "SIZE", "ACTIVE", "TOTAL", "SLABS", "MEMORY"
        )
    }
}

/// Bytes as `512`, `86.0K`, `12.3M`, `1.2G`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    UNITS.iter().find(|(u, _)| n >= *u).map_or_else(
        || n.to_string(),
        |(u, s)| format!("{:.1}{s}", n as f64 / *u as f64),
    )
}

impl Record for KmastatRow {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "{:<24} {:>7} {:>6} {:>8} {:>8} {:>6} {:>8}",
            self.name,
            self.object_size,
            self.size,
            self.active,
            self.total,
            self.slabs,
            human_bytes(self.memory)
        ));
    }
}

/// The total over every cache listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmastatTotal {
    pub caches: u64,
    pub slabs: u64,
    /// Bytes.
    pub memory: u64,
}

impl Record for KmastatTotal {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!(
            "Total: {} caches, {} slabs, {} in use",
            self.caches,
            self.slabs,
            human_bytes(self.memory)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reads_as_people_write_it() {
        assert_eq!(human_bytes(512), "512");
        assert_eq!(human_bytes(86016), "84.0K");
        assert_eq!(human_bytes(3 << 20), "3.0M");
        assert_eq!(human_bytes(5 << 30), "5.0G");
    }
}
