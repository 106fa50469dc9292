//! Slab cache statistics as `/proc/slabinfo` computes them (SLUB's `get_slabinfo()`), for
//! `::kmastat`.
//!
//! Every cache is on the `slab_caches` list through `kmem_cache.list`. Per NUMA node
//! (`kmem_cache->node[n]`, on 7.x `kmem_cache->per_node[n].node`, for `n < nr_node_ids`), a
//! `struct kmem_cache_node` counts the node's slabs (`nr_slabs`) and their objects
//! (`total_objects`; both `CONFIG_SLUB_DEBUG`) and lists its partially used slabs
//! (`partial`, through `slab.slab_list`). The kernel counts as active every object but the
//! free ones of those partial slabs (`count_partial()`: the sum of `objects - inuse`); the
//! free objects of CPU slabs, CPU partial slabs and sheaves count as active, as there.
//! The slab size is `oo`'s order (`x >> 16`, objects per slab `x & 0xffff`).
//!
//! All of it is guest data: the cache list and each partial list are walked bounded and
//! cycle-checked; a cache or node that cannot be read is a note, and the others go on.

use crate::containers::list_nodes;
use crate::error::Error;
use crate::memory::{le_u64, recoverable, GuestMemory};
use crate::object::{has_member, offset_of, read_cstring, StructView};
use crate::Program;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// The page size (x86_64).
pub const PAGE_SIZE: u64 = 4096;
/// NUMA nodes read at most (`MAX_NUMNODES` on Debian is 1024).
pub const MAX_NODES: u32 = 1024;
/// The longest cache name read.
const MAX_NAME: usize = 64;

/// One cache's figures, as a line of `/proc/slabinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// The `struct kmem_cache`.
    pub addr: VirtAddr,
    pub name: String,
    /// `object_size`: what its users asked for.
    pub object_size: u64,
    /// `size`: the slot each object takes, metadata included (slabinfo's `<objsize>`).
    pub size: u64,
    /// Objects in one slab of the cache's preferred order.
    pub objects_per_slab: u64,
    /// The preferred order of its slabs (pages per slab: `1 << order`).
    pub order: u32,
    /// Objects in use: `total_objects` less the free ones of partial slabs.
    pub active_objects: u64,
    /// Objects of all its slabs.
    pub total_objects: u64,
    /// Its slabs, on every node.
    pub slabs: u64,
    /// `slabs << order` pages, in bytes.
    pub memory: u64,
}

/// Every cache, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct SlabStats {
    /// In `slab_caches` order (newest first).
    pub caches: Vec<CacheStats>,
    /// One line each: a cache or node skipped, a list cut short.
    pub problems: Vec<String>,
}

/// The caches on the guest's `slab_caches` list, at most `limit` of them (and at most
/// `limit` partial slabs per node).
pub fn read_slab_stats(program: &mut Program, btf: &Btf, limit: u64) -> Result<SlabStats, Error> {
    let head = program
        .symbols()
        .lookup_name("slab_caches")
        .ok_or_else(|| Error::missing("slab caches", "no symbol slab_caches in the kernel"))?;
    // Without CONFIG_NUMA, nr_node_ids is the constant 1 (no symbol).
    let nodes = match program.symbols().lookup_name("nr_node_ids") {
        Some(a) => program.read_u32(a, Some("nr_node_ids"))?,
        None => 1,
    };
    if nodes == 0 || nodes > MAX_NODES {
        return Err(Error::Corrupt(format!(
            "nr_node_ids is {nodes}: not a node count (1..={MAX_NODES})"
        )));
    }
    caches_on(program, btf, head, nodes, limit)
}

/// The caches on the `kmem_cache.list` ring at `head`, each with `nodes` nodes.
pub fn caches_on(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    head: VirtAddr,
    nodes: u32,
    limit: u64,
) -> Result<SlabStats, Error> {
    let walked = list_nodes(mem, head, limit)?;
    let list = offset_of(btf, "kmem_cache", "list")?;
    let mut out = SlabStats::default();
    for node in walked.items {
        let cache = VirtAddr(node.0.wrapping_sub(list));
        match cache_stats(mem, btf, cache, nodes, limit) {
            Ok((stats, problems)) => {
                out.caches.push(stats);
                out.problems.extend(problems);
            }
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => out
                .problems
                .push(format!("kmem_cache {cache} skipped: {e}")),
        }
    }
    if let Some(end) = walked.end {
        out.problems.push(format!("slab_caches: {end}"));
    }
    Ok(out)
}

/// Where a cache's node pointers are: `node[]` (up to 6.x) or `per_node[].node` (7.x),
/// as (offset of the first, stride).
fn node_array(btf: &Btf) -> Result<(u64, u64), Error> {
    if has_member(btf, "kmem_cache", "node") {
        return Ok((offset_of(btf, "kmem_cache", "node")?, 8));
    }
    let base = offset_of(btf, "kmem_cache", "per_node")?;
    let (_, stride) = crate::object::struct_type(btf, "kmem_cache_per_node_ptrs")?;
    Ok((
        base + offset_of(btf, "kmem_cache_per_node_ptrs", "node")?,
        stride,
    ))
}

/// The figures of the cache at `cache` with `nodes` nodes, and what was skipped.
pub fn cache_stats(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    cache: VirtAddr,
    nodes: u32,
    limit: u64,
) -> Result<(CacheStats, Vec<String>), Error> {
    let (node_off, stride) = node_array(btf)?;
    // Only the part before the node array: the kernel allocates nr_node_ids entries of it.
    let head = mem.read_bytes(cache, node_off as usize, Some("struct kmem_cache"))?;
    let v = StructView::from_bytes(btf, "kmem_cache", cache, head)?;
    let name_ptr = v.ptr(btf, "name")?;
    let name = read_cstring(mem, name_ptr, MAX_NAME)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::Corrupt(format!(
            "kmem_cache {cache} has no readable name (at {name_ptr})"
        )));
    }
    let size = v.uint(btf, "size")?;
    let object_size = v.uint(btf, "object_size")?;
    let oo = v.uint(btf, "oo.x")?;
    let order = (oo >> 16) as u32;
    if size == 0 || object_size > size || order > 20 {
        return Err(Error::Corrupt(format!(
            "kmem_cache {cache} ({name}): size {size}, object size {object_size}, order {order}"
        )));
    }
    let mut problems = Vec::new();
    let (mut slabs, mut total, mut free) = (0u64, 0u64, 0u64);
    for n in 0..u64::from(nodes) {
        let at = cache.add(node_off + n * stride);
        let node = match recoverable(mem.read_u64(at, Some("kmem_cache node pointer")))? {
            Some(0) => continue,
            Some(p) => VirtAddr(p),
            None => {
                problems.push(format!("{name}: node {n}'s pointer at {at} cannot be read"));
                continue;
            }
        };
        match node_stats(mem, btf, node, limit) {
            Ok(s) => {
                slabs = slabs.saturating_add(s.slabs);
                total = total.saturating_add(s.objects);
                free = free.saturating_add(s.free);
                if let Some(end) = s.end {
                    problems.push(format!("{name}: node {n}'s partial slabs: {end}"));
                }
            }
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => problems.push(format!("{name}: node {n} ({node}) skipped: {e}")),
        }
    }
    Ok((
        CacheStats {
            addr: cache,
            name,
            object_size,
            size,
            objects_per_slab: oo & 0xffff,
            order,
            active_objects: total.saturating_sub(free),
            total_objects: total,
            slabs,
            memory: slabs.saturating_mul(PAGE_SIZE << order),
        },
        problems,
    ))
}

/// One node's counts: slabs, objects, and the free objects of its partial slabs.
struct NodeStats {
    slabs: u64,
    objects: u64,
    free: u64,
    /// Why the partial list was not walked to its end.
    end: Option<String>,
}

/// `atomic_long_t` member `m` of `v` (`m.counter`).
fn atomic_long(v: &StructView, btf: &Btf, m: &str) -> Result<u64, Error> {
    v.uint(btf, &format!("{m}.counter"))
        .or_else(|_| v.uint(btf, m))
}

fn node_stats(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    node: VirtAddr,
    limit: u64,
) -> Result<NodeStats, Error> {
    let v = StructView::read(mem, btf, "kmem_cache_node", node)?;
    let slabs = atomic_long(&v, btf, "nr_slabs")?;
    let objects = atomic_long(&v, btf, "total_objects")?;
    let walked = list_nodes(mem, v.member_addr(btf, "partial")?, limit)?;
    let mut end = walked.end;
    // struct slab (5.17+) overlays struct page, which held these fields before.
    let sname = if has_member(btf, "slab", "slab_list") {
        "slab"
    } else {
        "page"
    };
    let list = offset_of(btf, sname, "slab_list")?;
    let (inuse, objs) = (
        crate::object::member_place(btf, sname, "inuse")?,
        crate::object::member_place(btf, sname, "objects")?,
    );
    // Both bitfields share one word (`counters`).
    let word = inuse.offset.min(objs.offset);
    let mut free = 0u64;
    for n in &walked.items {
        let slab = VirtAddr(n.0.wrapping_sub(list));
        let b = match recoverable(mem.read_bytes(slab.add(word), 8, Some("slab counters")))? {
            Some(b) => b,
            None => {
                end.get_or_insert_with(|| format!("slab {slab} cannot be read"));
                continue;
            }
        };
        let field = |p: crate::object::Place| {
            let w = le_u64(&b).unwrap_or(0) >> (8 * (p.offset - word) + u64::from(p.bit));
            let bits = if p.bits == 0 {
                p.size * 8
            } else {
                u64::from(p.bits)
            };
            w & 1u64.checked_shl(bits as u32).map_or(u64::MAX, |m| m - 1)
        };
        free = free.saturating_add(field(objs).saturating_sub(field(inuse)));
    }
    Ok(NodeStats {
        slabs,
        objects,
        free,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    const NODE_ARRAY: u64 = 0x40;

    /// `kmem_cache`, `kmem_cache_node` and `slab` as 6.x lays them out, at our offsets.
    fn btf() -> Btf {
        let mut b = BtfBuilder::new();
        let u32t = b.int("unsigned int", 4, 32, 0);
        let u64t = b.int("long unsigned int", 8, 64, 0);
        let ptr = b.ptr(u64t);
        let lh = b.struct_("list_head", 16, &[("next", ptr, 0), ("prev", ptr, 64)]);
        let atomic = b.struct_("atomic_long_t", 8, &[("counter", u64t, 0)]);
        let oo = b.struct_("kmem_cache_order_objects", 4, &[("x", u32t, 0)]);
        let nodes = b.array(ptr, u32t, 4);
        b.struct_(
            "kmem_cache",
            (NODE_ARRAY + 32) as u32,
            &[
                ("size", u32t, 0),
                ("object_size", u32t, 32),
                ("oo", oo, 64),
                ("name", ptr, 128),
                ("list", lh, 192),
                ("node", nodes, (NODE_ARRAY * 8) as u32),
            ],
        );
        b.struct_(
            "kmem_cache_node",
            0x40,
            &[
                ("nr_partial", u64t, 64),
                ("partial", lh, 128),
                ("nr_slabs", atomic, 256),
                ("total_objects", atomic, 320),
            ],
        );
        b.struct_bitfields(
            "slab",
            0x40,
            &[
                ("slab_list", lh, 64, 0),
                ("inuse", u32t, 256, 16),
                ("objects", u32t, 272, 15),
                ("frozen", u32t, 287, 1),
            ],
        );
        Btf::parse(&b.build()).unwrap()
    }

    const HEAD: u64 = 0x1000;

    /// A cache at `at` named `name` with one node at `node` (0: none).
    fn cache(m: &mut SparseMemory, at: u64, name: &str, size: u32, node: u64) {
        m.put(at, &vec![0u8; (NODE_ARRAY + 32) as usize]);
        m.put(at, &size.to_le_bytes());
        m.put(at + 4, &(size / 2).to_le_bytes());
        m.put(at + 8, &((1u32 << 16) | 42).to_le_bytes());
        m.put_u64(at + 16, at + 0x800);
        m.put(at + 0x800, format!("{name}\0").as_bytes());
        m.put_u64(at + NODE_ARRAY, node);
    }

    /// The list of caches, in order.
    fn link(m: &mut SparseMemory, caches: &[u64]) {
        let ring: Vec<u64> = std::iter::once(HEAD)
            .chain(caches.iter().map(|c| c + 24))
            .collect();
        for (i, &n) in ring.iter().enumerate() {
            m.put_u64(n, ring.get(i + 1).copied().unwrap_or(HEAD));
        }
    }

    /// A node with `slabs` slabs of `objects` objects and partial slabs of `(objects, inuse)`.
    fn node(m: &mut SparseMemory, at: u64, slabs: u64, objects: u64, partial: &[(u32, u32)]) {
        m.put(at, &[0u8; 0x40]);
        m.put_u64(at + 8, partial.len() as u64);
        m.put_u64(at + 32, slabs);
        m.put_u64(at + 40, objects);
        let head = at + 16;
        let slab = |i: usize| at + 0x1000 + 0x100 * i as u64;
        let mut prev = head;
        for (i, &(objs, inuse)) in partial.iter().enumerate() {
            let s = slab(i);
            m.put(s, &[0u8; 0x40]);
            m.put_u64(prev, s + 8);
            m.put(s + 32, &(inuse | (objs << 16) | (1 << 31)).to_le_bytes());
            prev = s + 8;
        }
        m.put_u64(prev, head);
    }

    #[test]
    fn slabinfo_counts() {
        let btf = btf();
        let mut m = SparseMemory::default();
        cache(&mut m, 0x10_000, "kmalloc-64", 64, 0x50_000);
        cache(&mut m, 0x20_000, "dentry", 192, 0);
        node(&mut m, 0x50_000, 3, 192, &[(64, 60), (64, 10)]);
        link(&mut m, &[0x10_000, 0x20_000]);
        let s = caches_on(&mut m, &btf, VirtAddr(HEAD), 2, 100).unwrap();
        assert_eq!(s.problems, Vec::<String>::new());
        let c = &s.caches[0];
        assert_eq!(
            (c.name.as_str(), c.size, c.object_size),
            ("kmalloc-64", 64, 32)
        );
        assert_eq!((c.objects_per_slab, c.order), (42, 1));
        assert_eq!(
            (c.slabs, c.total_objects, c.active_objects),
            (3, 192, 192 - 4 - 54)
        );
        assert_eq!(c.memory, 3 * 8192);
        assert_eq!(
            (s.caches[1].name.as_str(), s.caches[1].slabs),
            ("dentry", 0)
        );
    }

    #[test]
    fn corrupt_lists_end_with_notes() {
        let btf = btf();
        let mut m = SparseMemory::default();
        cache(&mut m, 0x10_000, "kmalloc-64", 64, 0x50_000);
        cache(&mut m, 0x20_000, "dentry", 192, 0x60_000);
        node(&mut m, 0x50_000, 3, 192, &[(64, 60), (64, 10)]);
        // A third cache has no name.
        cache(&mut m, 0x30_000, "x", 64, 0);
        m.put_u64(0x30_000 + 16, 0xdead_0000);
        link(&mut m, &[0x10_000, 0x20_000, 0x30_000]);
        // The cache list cycles back to the first cache, not the head.
        m.put_u64(0x30_000 + 24, 0x10_000 + 24);
        // dentry's node: 8 bytes of it only.
        m.put_u64(0x60_000 + 8, 0x60_000 + 8);
        let s = caches_on(&mut m, &btf, VirtAddr(HEAD), 1, 100).unwrap();
        let all = s.problems.join("\n");
        assert_eq!(s.caches.len(), 2, "{all}");
        assert!(all.contains("dentry: node 0"), "{all}");
        assert!(
            all.contains("no readable name") || all.contains("failed to read"),
            "{all}"
        );
        assert!(
            all.contains("slab_caches") && all.contains("cycle"),
            "{all}"
        );
        // A partial list that cycles: counted up to the cycle, with a note.
        node(&mut m, 0x50_000, 3, 192, &[(64, 60), (64, 10)]);
        m.put_u64(0x51_100 + 8, 0x51_000 + 8);
        let (c, notes) = cache_stats(&mut m, &btf, VirtAddr(0x10_000), 1, 100).unwrap();
        assert_eq!(c.active_objects, 192 - 4 - 54);
        assert!(notes.join("\n").contains("cycle"), "{notes:?}");
        // The bound.
        let s = caches_on(&mut m, &btf, VirtAddr(HEAD), 1, 1).unwrap();
        assert_eq!(s.caches.len(), 1);
        assert!(s.problems.join("\n").contains("bound"));
    }
}
