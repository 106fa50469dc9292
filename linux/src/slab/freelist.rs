//! Whether a slab object is free: on its slab's freelist, on the freelist of a CPU whose
//! active slab it is (`kmem_cache_cpu`, up to 6.x), or in a sheaf (7.x, [`super::sheaves`]).
//! Free pointers may be hardened (`CONFIG_SLAB_FREELIST_HARDENED`); every walk is bounded by
//! the slab's object count.

use super::sheaves::{self, SheafLayout};
use super::{Cache, ObjectState, SlabLayout};
use crate::memory::{recoverable, u32_at, u64_at, GuestMemory};
use crate::percpu::PerCpu;
use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;

/// The hardened free pointer stored at `ptr_addr` decoded (`freelist_ptr_decode`).
pub fn decode_free_pointer(raw: u64, random: Option<u64>, ptr_addr: u64) -> u64 {
    match random {
        Some(r) => raw ^ r ^ ptr_addr.swap_bytes(),
        None => raw,
    }
}

/// Follows a freelist from `first` looking for `obj`; at most `objects` steps.
fn on_freelist(
    mem: &mut dyn GuestMemory,
    cache: &Cache,
    first: u64,
    objects: u64,
    obj: u64,
) -> Result<bool, Error> {
    let mut p = first;
    for _ in 0..=objects {
        if p == 0 {
            return Ok(false);
        }
        if p == obj {
            return Ok(true);
        }
        let at = p.wrapping_add(cache.offset);
        let raw = mem.read_u64(VirtAddr(at), Some("free pointer"))?;
        p = decode_free_pointer(raw, cache.random, at);
    }
    Ok(false)
}

/// Whether the object at `obj` is free: on the slab's freelist, on the freelist of a CPU
/// whose active slab this is, or in a sheaf. `None` when that cannot be read.
pub(super) fn object_state(
    program: &mut Program,
    l: &SlabLayout,
    cache: &Cache,
    slab: u64,
    hb: &[u8],
    objects: u64,
    obj: u64,
) -> Result<Option<ObjectState>, Error> {
    let Some(fl) = l.freelist else {
        return Ok(None);
    };
    match recoverable(on_freelist(program, cache, u64_at(hb, fl), objects, obj))? {
        Some(true) => return Ok(Some(ObjectState::Free)),
        Some(false) => {}
        None => return Ok(None),
    }
    // A kernel may have CPU freelists (up to 6.x), sheaves (7.x), or both (6.18-era
    // caches with sheaves kept `kmem_cache_cpu` too): an object is free if either has it.
    let cpu_freelist = l.cpu_freelist.filter(|_| cache.cpu_slab != 0);
    let sheaves = l.sheaves.as_ref().filter(|_| cache.cpu_sheaves != 0);
    if cpu_freelist.is_none() && sheaves.is_none() {
        return Ok(None);
    }
    if let Some(fields) = cpu_freelist {
        match on_cpu_freelist(program, fields, cache, slab, objects, obj)? {
            None => return Ok(None),
            Some(Some(cpu)) => return Ok(Some(ObjectState::FreeOnCpu(cpu))),
            Some(None) => {}
        }
    }
    match sheaves {
        Some(sl) => in_sheaves(program, sl, cache, obj),
        None => Ok(Some(ObjectState::Allocated)),
    }
}

/// The CPU on whose freelist `obj` is, if `slab` is a CPU's active slab (`kmem_cache_cpu`'s
/// `freelist` and `slab` fields at `(c_freelist, c_slab)`): `Some(None)` when on none,
/// `None` when that cannot be read.
fn on_cpu_freelist(
    program: &mut Program,
    (c_freelist, c_slab): (u64, u64),
    cache: &Cache,
    slab: u64,
    objects: u64,
    obj: u64,
) -> Result<Option<Option<u32>>, Error> {
    let Some(percpu) = recoverable(PerCpu::read(program))? else {
        return Ok(None);
    };
    let len = (c_freelist.max(c_slab) + 8) as usize;
    for cpu in percpu.cpus() {
        let Some(c) = percpu.ptr(cpu, VirtAddr(cache.cpu_slab)) else {
            continue;
        };
        let Some(b) = recoverable(program.read_bytes(c, len, Some("struct kmem_cache_cpu")))?
        else {
            return Ok(None);
        };
        if u64_at(&b, c_slab) != slab {
            continue;
        }
        let first = u64_at(&b, c_freelist);
        return Ok(
            recoverable(on_freelist(program, cache, first, objects, obj))?
                .map(|free| free.then_some(cpu)),
        );
    }
    Ok(Some(None))
}

/// 7.x: free when in a CPU's sheaf or a node's barn, allocated otherwise.
fn in_sheaves(
    program: &mut Program,
    sl: &SheafLayout,
    cache: &Cache,
    obj: u64,
) -> Result<Option<ObjectState>, Error> {
    let Some(percpu) = recoverable(PerCpu::read(program))? else {
        return Ok(None);
    };
    let cpus: Vec<(u32, u64)> = percpu
        .cpus()
        .filter_map(|c| Some((c, percpu.ptr(c, VirtAddr(cache.cpu_sheaves))?.0)))
        .collect();
    let nodes = match program.symbols().lookup_name("nr_node_ids") {
        Some(a) => recoverable(program.read_bytes(a, 4, Some("nr_node_ids")))?
            .map_or(1, |b| u64::from(u32_at(&b, 0))),
        None => 1,
    };
    let found = sheaves::find(sl, program, &cpus, cache.addr, nodes, obj)?;
    Ok(found.map(|f| f.map_or(ObjectState::Allocated, ObjectState::FreeInSheaf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;

    fn cache(random: Option<u64>) -> Cache {
        Cache {
            addr: 0x1000,
            name: "kmalloc-64".into(),
            size: 0x40,
            object_size: 0x40,
            red_left_pad: 0,
            offset: 8,
            random,
            cpu_slab: 0,
            cpu_sheaves: 0,
        }
    }

    #[test]
    fn freelists_are_followed_decoded_and_bounded() {
        let random = 0x1234_5678_9abc_def0;
        let c = cache(Some(random));
        let mut m = SparseMemory::default();
        // 0x10000 -> 0x10080 -> 0x10040 -> end, hardened.
        for (obj, next) in [(0x10000u64, 0x10080u64), (0x10080, 0x10040), (0x10040, 0)] {
            let at = obj + 8;
            m.put_u64(at, next ^ random ^ at.swap_bytes());
        }
        assert!(on_freelist(&mut m, &c, 0x10000, 4, 0x10040).unwrap());
        assert!(!on_freelist(&mut m, &c, 0x10000, 4, 0x100c0).unwrap());
        // A cycle ends at the object count.
        m.put_u64(0x10048, 0x10000 ^ random ^ 0x10048u64.swap_bytes());
        assert!(!on_freelist(&mut m, &c, 0x10000, 4, 0x100c0).unwrap());
        // An unreadable free pointer is an error naming it, not the end of the list.
        let e = on_freelist(&mut m, &c, 0x20000, 4, 0x100c0).unwrap_err();
        assert!(e.to_string().contains("free pointer at 20008"), "{e}");
    }
}
