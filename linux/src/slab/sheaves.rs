//! SLUB's per-CPU sheaves and per-node barns (7.x): where a freed object waits when it is
//! on no freelist.
//!
//! Kernel 7.x replaced `struct kmem_cache_cpu` (a CPU's active slab and its freelist) with
//! sheaves: `kmem_cache->cpu_sheaves` is a per-CPU `struct slub_percpu_sheaves` whose
//! `main`, `spare` and `rcu_free` point at `struct slab_sheaf`s, arrays of `size` object
//! pointers; full sheaves a CPU gave up hang on its node's `struct node_barn`
//! (`kmem_cache->per_node[node].barn`, list `sheaves_full` through `slab_sheaf.barn_list`).
//! An object kfree()d into a sheaf is free, though its slab still counts it in use.
//! Everything here is guest data: sheaf sizes and barn lists are bounded.

use crate::layout::{find_member, find_struct};
use crate::memory::{le_u64, recoverable, GuestMemory};
use crate::Error;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// Object pointers read from one sheaf at most (sheaves hold tens).
pub const MAX_SHEAF: u64 = 4096;
/// Sheaves followed on one barn list at most.
pub const MAX_BARN_SHEAVES: usize = 4096;
/// NUMA nodes looked at at most (`MAX_NUMNODES` on Debian is 1024).
pub const MAX_NODES: u64 = 1024;

/// Where a free object was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InSheaf {
    /// In one of CPU `cpu`'s sheaves (`main`, `spare`, or `rcu_free`, waiting for RCU).
    Cpu(u32),
    /// In a full sheaf on node `node`'s barn.
    Barn(u32),
}

/// Offsets of the sheaf structures, from BTF; `None` for a kernel without sheaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheafLayout {
    /// `kmem_cache.cpu_sheaves`.
    pub cpu_sheaves: u64,
    /// `slub_percpu_sheaves.{main, spare, rcu_free}` (`rcu_free` may be missing).
    pub pcs: Vec<u64>,
    /// `slab_sheaf.size` (u32) and `slab_sheaf.objects` (the array).
    pub size: u64,
    pub objects: u64,
    /// `slab_sheaf.barn_list`.
    pub barn_list: u64,
    /// `kmem_cache.per_node`, one entry's size, and `barn` in it.
    pub per_node: u64,
    pub per_node_stride: u64,
    pub barn: u64,
    /// `node_barn.sheaves_full`.
    pub sheaves_full: u64,
}

impl SheafLayout {
    /// Reads the layout from BTF: `None` when the kernel has no `slab_sheaf` (before 7.x)
    /// or a member is missing.
    pub fn from_btf(btf: &Btf) -> Option<SheafLayout> {
        let member = |s: &str, m: &str| {
            let id = find_struct(btf, s).ok()?;
            find_member(btf, id, s, m).ok()
        };
        let off = |s: &str, m: &str| member(s, m).map(|m| m.offset);
        let pcs = ["main", "spare", "rcu_free"]
            .iter()
            .filter_map(|m| off("slub_percpu_sheaves", m))
            .collect::<Vec<_>>();
        if pcs.is_empty() {
            return None;
        }
        let per_node_type = find_struct(btf, "kmem_cache_per_node_ptrs").ok()?;
        Some(SheafLayout {
            cpu_sheaves: off("kmem_cache", "cpu_sheaves")?,
            pcs,
            size: off("slab_sheaf", "size")?,
            objects: off("slab_sheaf", "objects")?,
            barn_list: off("slab_sheaf", "barn_list")?,
            per_node: off("kmem_cache", "per_node")?,
            per_node_stride: btf.size_of(per_node_type).ok()?,
            barn: off("kmem_cache_per_node_ptrs", "barn")?,
            sheaves_full: off("node_barn", "sheaves_full")?,
        })
    }
}

/// The sheaf `what` at `addr` read, `None` when it cannot be (the search is then
/// inconclusive), `Err` only for what ends the command.
fn word(mem: &mut dyn GuestMemory, addr: u64, what: &str) -> Result<Option<u64>, Error> {
    recoverable(mem.read_u64(VirtAddr(addr), Some(what)))
}

/// Whether the sheaf at `sheaf` holds `obj`; `Ok(None)` when it cannot be read.
fn sheaf_holds(
    l: &SheafLayout,
    mem: &mut dyn GuestMemory,
    sheaf: u64,
    obj: u64,
) -> Result<Option<bool>, Error> {
    let at = VirtAddr(sheaf.wrapping_add(l.size));
    let Some(size) = recoverable(mem.read_u32(at, Some("slab_sheaf.size")))? else {
        return Ok(None);
    };
    let size = u64::from(size).min(MAX_SHEAF);
    let Ok(len) = usize::try_from(size * 8) else {
        return Ok(None);
    };
    if len == 0 {
        return Ok(Some(false));
    }
    let at = VirtAddr(sheaf.wrapping_add(l.objects));
    let Some(ptrs) = recoverable(mem.read_bytes(at, len, Some("slab_sheaf.objects")))? else {
        return Ok(None);
    };
    Ok(Some(ptrs.chunks_exact(8).any(|w| le_u64(w) == Some(obj))))
}

/// Looks for `obj` in every CPU's sheaves (`cpus`: each CPU and its `slub_percpu_sheaves`
/// address) and then in the full sheaves of the barns of `nodes` nodes of the cache at
/// `cache`. `Some(None)`: in none of them; `None`: something could not be read; `Err`
/// only for what ends the command (connection lost, interrupted).
pub fn find(
    l: &SheafLayout,
    mem: &mut dyn GuestMemory,
    cpus: &[(u32, u64)],
    cache: u64,
    nodes: u64,
    obj: u64,
) -> Result<Option<Option<InSheaf>>, Error> {
    for &(cpu, pcs) in cpus {
        for &m in &l.pcs {
            let Some(sheaf) = word(mem, pcs.wrapping_add(m), "slub_percpu_sheaves")? else {
                return Ok(None);
            };
            if sheaf == 0 {
                continue;
            }
            match sheaf_holds(l, mem, sheaf, obj)? {
                Some(true) => return Ok(Some(Some(InSheaf::Cpu(cpu)))),
                Some(false) => {}
                None => return Ok(None),
            }
        }
    }
    for node in 0..nodes.min(MAX_NODES) {
        let entry = cache
            .wrapping_add(l.per_node)
            .wrapping_add(node.wrapping_mul(l.per_node_stride));
        let Some(barn) = word(mem, entry.wrapping_add(l.barn), "kmem_cache.per_node")? else {
            return Ok(None);
        };
        if barn == 0 {
            continue;
        }
        let head = barn.wrapping_add(l.sheaves_full);
        let Some(mut next) = word(mem, head, "node_barn.sheaves_full")? else {
            return Ok(None);
        };
        let mut seen = 0;
        while next != head {
            seen += 1;
            if seen > MAX_BARN_SHEAVES || next == 0 {
                return Ok(None);
            }
            let sheaf = next.wrapping_sub(l.barn_list);
            match sheaf_holds(l, mem, sheaf, obj)? {
                Some(true) => return Ok(u32::try_from(node).ok().map(|n| Some(InSheaf::Barn(n)))),
                Some(false) => {}
                None => return Ok(None),
            }
            let Some(n) = word(mem, next, "slab_sheaf.barn_list")? else {
                return Ok(None);
            };
            next = n;
        }
    }
    Ok(Some(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Mem = crate::mock::SparseMemory;

    // The layout of Debian's 7.2.13 (its BTF): sheaves at 0 of kmem_cache, per_node at
    // 0xd0 (16-byte entries, barn first), main/spare/rcu_free at 8/16/24, a sheaf's size
    // at 0x18 and objects at 0x20, barn_list at 0, sheaves_full at 8 of node_barn.
    fn layout() -> SheafLayout {
        SheafLayout {
            cpu_sheaves: 0,
            pcs: vec![8, 16, 24],
            size: 0x18,
            objects: 0x20,
            barn_list: 0,
            per_node: 0xd0,
            per_node_stride: 16,
            barn: 0,
            sheaves_full: 8,
        }
    }

    fn sheaf(m: &mut Mem, at: u64, objs: &[u64]) {
        m.put_u64(at + 0x18, objs.len() as u64);
        for (i, o) in objs.iter().enumerate() {
            m.put_u64(at + 0x20 + 8 * i as u64, *o);
        }
    }

    #[test]
    fn objects_in_cpu_sheaves_and_barns() {
        let l = layout();
        let mut m = Mem::default();
        let (cache, pcs0, pcs1, barn) = (0x1000, 0x2000, 0x3000, 0x4000);
        // CPU 0: main holds a and b, no spare, no rcu_free; CPU 1: spare holds c.
        for (a, v) in [(pcs0 + 8, 0x5000), (pcs0 + 16, 0), (pcs0 + 24, 0)] {
            m.put_u64(a, v);
        }
        for (a, v) in [(pcs1 + 8, 0), (pcs1 + 16, 0x6000), (pcs1 + 24, 0)] {
            m.put_u64(a, v);
        }
        sheaf(&mut m, 0x5000, &[0xa0, 0xb0]);
        sheaf(&mut m, 0x6000, &[0xc0]);
        // Node 0's barn: two full sheaves, holding d and e.
        m.put_u64(cache + 0xd0, barn);
        m.put_u64(barn + 8, 0x7000);
        m.put_u64(0x7000, 0x8000);
        m.put_u64(0x8000, barn + 8);
        sheaf(&mut m, 0x7000, &[0xd0]);
        sheaf(&mut m, 0x8000, &[0x1, 0xe0]);
        let cpus = [(0, pcs0), (1, pcs1)];
        let f = |m: &mut Mem, obj| find(&l, m, &cpus, cache, 1, obj).unwrap();
        assert_eq!(f(&mut m, 0xb0), Some(Some(InSheaf::Cpu(0))));
        assert_eq!(f(&mut m, 0xc0), Some(Some(InSheaf::Cpu(1))));
        assert_eq!(f(&mut m, 0xe0), Some(Some(InSheaf::Barn(0))));
        assert_eq!(f(&mut m, 0xf0), Some(None));
        // A barn list that never comes back is cut, and unreadable memory is unknown.
        m.put_u64(0x8000, 0x7000);
        assert_eq!(f(&mut m, 0xf0), None);
        m.remove(pcs1 + 16, 8);
        assert_eq!(f(&mut m, 0xf0), None);
    }

    #[test]
    fn sheaf_sizes_are_bounded() {
        let l = layout();
        let mut m = Mem::default();
        m.put_u64(0x5000 + 0x18, u64::from(u32::MAX));
        // Only MAX_SHEAF pointers would be read, and they are not there.
        assert_eq!(sheaf_holds(&l, &mut m, 0x5000, 1).unwrap(), None);
        m.put_u64(0x5000 + 0x18, 0);
        assert_eq!(sheaf_holds(&l, &mut m, 0x5000, 1).unwrap(), Some(false));
    }
}
