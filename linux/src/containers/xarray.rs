//! XArrays (and the radix tree of an IDR, which is one since 4.20): `struct xarray`'s
//! `xa_head` is NULL, one entry (index 0) or a node; a `struct xa_node` has `shift` and
//! `slots[XA_CHUNK_SIZE]`, each slot NULL, an entry, or an internal entry (a child node, a
//! sibling of a multi-index entry, a retry or zero entry), decoded as the kernel's
//! `xa_is_internal`, `xa_is_value` and `xa_is_node` do (`include/linux/xarray.h`).

use super::Walked;
use crate::error::Error;
use crate::memory::u64_at;
use crate::object::{has_member, member_place, offset_of, StructView};
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use std::collections::HashSet;

/// `xa_is_value`: a value entry (an integer stored as `(v << 1) | 1`), not a pointer.
pub fn xa_is_value(entry: VirtAddr) -> bool {
    entry.0 & 1 == 1
}

/// `xa_to_value`: the integer a value entry holds.
pub fn xa_to_value(entry: VirtAddr) -> u64 {
    entry.0 >> 1
}

/// `xa_is_internal`: bits 0-1 are `10`.
fn is_internal(entry: u64) -> bool {
    entry & 3 == 2
}

/// `xa_is_node`: an internal entry above 4096 (and not an error code, which the kernel
/// returns but never stores).
fn is_node(entry: u64) -> bool {
    const MAX_ERRNO: u64 = 4095;
    is_internal(entry) && entry > 4096 && entry < (MAX_ERRNO.wrapping_neg() << 2 | 2)
}

/// Where `struct xa_node`'s members are, from BTF.
struct NodeLayout {
    slots: u64,
    nslots: u64,
    chunk_shift: u32,
}

impl NodeLayout {
    fn from_btf(btf: &Btf) -> Result<NodeLayout, Error> {
        let p = member_place(btf, "xa_node", "slots")?;
        let nslots = p.size / 8;
        if !nslots.is_power_of_two() || nslots < 2 {
            return Err(Error::missing(
                "xarray",
                format!("xa_node.slots has {nslots} slots: not a power of two"),
            ));
        }
        Ok(NodeLayout {
            slots: p.offset,
            nslots,
            chunk_shift: nslots.trailing_zeros(),
        })
    }
}

struct XaWalk<'a> {
    mem: &'a mut dyn GuestMemory,
    btf: &'a Btf,
    layout: NodeLayout,
    xa: VirtAddr,
    limit: u64,
    items: Vec<(u64, VirtAddr)>,
    seen: HashSet<u64>,
}

/// Why a walk stopped early.
type Stop = Option<String>;

impl XaWalk<'_> {
    /// Adds a present entry; `Some` when the bound is reached.
    fn entry(&mut self, index: u64, entry: u64) -> Stop {
        if self.items.len() as u64 >= self.limit {
            return Some(format!(
                "xarray at {}: stopped at the bound of {} entries (at index {index})",
                self.xa, self.limit
            ));
        }
        self.items.push((index, VirtAddr(entry)));
        None
    }

    /// Walks the node `addr` (from slot `slot` of `parent`) covering indices from `base`,
    /// whose `shift` must be `want` (any multiple of the chunk shift for the root).
    fn node(
        &mut self,
        addr: VirtAddr,
        from: &str,
        base: u64,
        want: Option<u32>,
    ) -> Result<Stop, Error> {
        let xa = self.xa;
        if !self.seen.insert(addr.0) {
            return Ok(Some(format!(
                "xarray at {xa}: node {addr} ({from}) was already visited: a cycle"
            )));
        }
        if self.seen.len() as u64 > self.limit {
            return Ok(Some(format!(
                "xarray at {xa}: stopped at the bound of {} nodes (at {addr})",
                self.limit
            )));
        }
        let view = match StructView::read(self.mem, self.btf, "xa_node", addr) {
            Ok(v) => v,
            Err(e) if e.ends_command() => return Err(e),
            Err(e @ Error::Read { .. }) => {
                return Ok(Some(format!("xarray at {xa}: node {addr} ({from}): {e}")))
            }
            Err(e) => return Err(e),
        };
        let shift = u32::try_from(view.uint(self.btf, "shift")?).unwrap_or(u32::MAX);
        let cs = self.layout.chunk_shift;
        let bad_shift = match want {
            Some(w) => shift != w,
            None => shift % cs != 0 || shift >= 64,
        };
        if bad_shift {
            let want =
                want.map_or_else(|| format!("a multiple of {cs} below 64"), |w| w.to_string());
            return Ok(Some(format!(
                "xarray at {xa}: node {addr} ({from}) has shift {shift}, not {want}"
            )));
        }
        for i in 0..self.layout.nslots {
            let entry = u64_at(view.bytes(), self.layout.slots + i * 8);
            if entry == 0 {
                continue;
            }
            let index = u128::from(base) + (u128::from(i) << shift);
            let Ok(index) = u64::try_from(index) else {
                return Ok(Some(format!(
                    "xarray at {xa}: node {addr} (shift {shift}, base {base:#x}) has slot {i} \
                     past the last index"
                )));
            };
            let stop = if is_node(entry) {
                if shift == 0 {
                    Some(format!(
                        "xarray at {xa}: leaf node {addr} holds node entry {entry:#x} in slot {i}"
                    ))
                } else {
                    let from = format!("slot {i} of {addr}");
                    self.node(VirtAddr(entry - 2), &from, index, Some(shift - cs))?
                }
            } else if is_internal(entry) {
                // Sibling, retry or zero (reserved) entries: nothing present here.
                None
            } else {
                self.entry(index, entry)
            };
            if stop.is_some() {
                return Ok(stop);
            }
        }
        Ok(None)
    }
}

/// Every present entry of the `struct xarray` at `xa` (or the `radix_tree_root` of an IDR,
/// `struct idr`'s `idr_rt`) as (index, entry), in index order, at most `limit` of them.
///
/// Value entries ([`xa_is_value`]) are returned as stored; sibling, retry and zero entries
/// are not entries. A multi-index entry is returned once, at its first index. A node that
/// cannot be read or makes no sense (a shift that does not step down by the chunk shift), a
/// node seen twice, or the bound (on entries and on nodes) ends the walk early with
/// [`Walked::end`] saying why. `xa_head` being unreadable, or BTF lacking `struct xarray`
/// or `struct xa_node`, is an `Err`.
pub fn xarray_entries(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    xa: VirtAddr,
    limit: u64,
) -> Result<Walked<(u64, VirtAddr)>, Error> {
    let layout = NodeLayout::from_btf(btf)?;
    let head_at = xa.add(offset_of(btf, "xarray", "xa_head")?);
    let head = mem.read_u64(head_at, Some("xarray.xa_head"))?;
    let mut w = XaWalk {
        mem,
        btf,
        layout,
        xa,
        limit,
        items: Vec::new(),
        seen: HashSet::new(),
    };
    let end = if head == 0 || (is_internal(head) && !is_node(head)) {
        None
    } else if is_node(head) {
        w.node(VirtAddr(head - 2), "the head", 0, None)?
    } else {
        w.entry(0, head)
    };
    Ok(Walked {
        items: w.items,
        end,
    })
}

/// Every present entry of the `struct idr` at `idr` as (id, entry): [`xarray_entries`] of
/// its `idr_rt`, each index plus its `idr_base` (0 where the kernel has none).
pub fn idr_entries(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    idr: VirtAddr,
    limit: u64,
) -> Result<Walked<(u64, VirtAddr)>, Error> {
    let rt = idr.add(offset_of(btf, "idr", "idr_rt")?);
    let base = if has_member(btf, "idr", "idr_base") {
        let at = idr.add(offset_of(btf, "idr", "idr_base")?);
        u64::from(mem.read_u32(at, Some("idr.idr_base"))?)
    } else {
        0
    };
    let mut w = xarray_entries(mem, btf, rt, limit)?;
    for (index, _) in &mut w.items {
        *index = index.wrapping_add(base);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    /// `struct xarray` (16 bytes, `xa_head` at 8) and `struct xa_node` with 64 slots at 40.
    fn btf() -> Btf {
        let mut b = BtfBuilder::new();
        let u8t = b.int("unsigned char", 1, 8, 0);
        let u32t = b.int("unsigned int", 4, 32, 0);
        let voidp = b.ptr(0);
        let lh = b.struct_("list_head", 16, &[("next", voidp, 0), ("prev", voidp, 64)]);
        let slots = b.array(voidp, u32t, 64);
        let xa = b.struct_(
            "xarray",
            16,
            &[
                ("xa_lock", u32t, 0),
                ("xa_flags", u32t, 32),
                ("xa_head", voidp, 64),
            ],
        );
        b.struct_(
            "idr",
            24,
            &[
                ("idr_rt", xa, 0),
                ("idr_base", u32t, 128),
                ("idr_next", u32t, 160),
            ],
        );
        b.struct_(
            "xa_node",
            576,
            &[
                ("shift", u8t, 0),
                ("offset", u8t, 8),
                ("count", u8t, 16),
                ("nr_values", u8t, 24),
                ("parent", voidp, 64),
                ("array", voidp, 128),
                ("private_list", lh, 192),
                ("slots", slots, 320),
            ],
        );
        Btf::parse(&b.build()).unwrap()
    }

    const XA: u64 = 0x100;

    /// A node at `a` with `shift` and `slots` as (slot, entry).
    fn node(m: &mut SparseMemory, a: u64, shift: u8, slots: &[(u64, u64)]) {
        m.put(a, &[0u8; 576]);
        m.put(a, &[shift]);
        for &(i, e) in slots {
            m.put_u64(a + 40 + i * 8, e);
        }
    }

    fn mem(head: u64) -> SparseMemory {
        let mut m = SparseMemory::default();
        m.put(XA, &[0u8; 16]);
        m.put_u64(XA + 8, head);
        m
    }

    fn walk(m: &mut SparseMemory, limit: u64) -> Walked<(u64, VirtAddr)> {
        xarray_entries(m, &btf(), VirtAddr(XA), limit).unwrap()
    }

    fn pairs(w: &Walked<(u64, VirtAddr)>) -> Vec<(u64, u64)> {
        w.items.iter().map(|&(i, e)| (i, e.0)).collect()
    }

    #[test]
    fn empty_and_single_entry_heads() {
        assert_eq!(walk(&mut mem(0), 10), Walked::complete(vec![]));
        let w = walk(&mut mem(0xffff_8880_0000_1000), 10);
        assert_eq!(pairs(&w), vec![(0, 0xffff_8880_0000_1000)]);
        // A zero (reserved) entry at the head is no entry.
        assert_eq!(walk(&mut mem(0x406), 10), Walked::complete(vec![]));
    }

    #[test]
    fn two_levels_with_value_sibling_and_zero_entries() {
        let mut m = mem(0x10_0000 | 2);
        node(
            &mut m,
            0x10_0000,
            6,
            &[(0, 0x20_0000 | 2), (2, 0x30_0000 | 2), (5, 0xaaa0)],
        );
        node(
            &mut m,
            0x20_0000,
            0,
            &[(1, 0x5000), (3, 0x6000), (4, (1 << 2) | 2), (63, 0x406)],
        );
        node(&mut m, 0x30_0000, 0, &[(7, (42 << 1) | 1)]);
        let w = walk(&mut m, 100);
        assert_eq!(w.end, None);
        assert_eq!(
            pairs(&w),
            vec![(1, 0x5000), (3, 0x6000), (135, 85), (320, 0xaaa0)]
        );
        assert!(xa_is_value(w.items[2].1) && xa_to_value(w.items[2].1) == 42);
        assert!(!xa_is_value(w.items[0].1));
    }

    #[test]
    fn a_cycle_ends_with_a_note() {
        let mut m = mem(0x10_0000 | 2);
        node(
            &mut m,
            0x10_0000,
            6,
            &[(0, 0x20_0000 | 2), (1, 0x20_0000 | 2)],
        );
        node(&mut m, 0x20_0000, 0, &[(1, 0x5000)]);
        let w = walk(&mut m, 100);
        assert_eq!(pairs(&w), vec![(1, 0x5000)]);
        let end = w.end.unwrap();
        assert!(end.contains("200000") && end.contains("cycle"), "{end}");
        // A node pointing to itself has the wrong shift below it.
        let mut m = mem(0x10_0000 | 2);
        node(&mut m, 0x10_0000, 6, &[(0, 0x10_0000 | 2)]);
        let w = walk(&mut m, 100);
        assert!(w.end.unwrap().contains("cycle"));
    }

    #[test]
    fn wild_pointers_and_bad_shifts_end_with_a_note() {
        let mut m = mem(0x10_0000 | 2);
        node(
            &mut m,
            0x10_0000,
            6,
            &[(0, 0x20_0000 | 2), (1, 0xdead_0000 | 2)],
        );
        node(&mut m, 0x20_0000, 0, &[(1, 0x5000)]);
        let w = walk(&mut m, 100);
        assert_eq!(pairs(&w), vec![(1, 0x5000)]);
        let end = w.end.unwrap();
        assert!(
            end.contains("dead0000") && end.contains("slot 1 of 100000"),
            "{end}"
        );

        node(&mut m, 0x20_0000, 12, &[(1, 0x5000)]);
        node(&mut m, 0x10_0000, 6, &[(0, 0x20_0000 | 2)]);
        let end = walk(&mut m, 100).end.unwrap();
        assert!(end.contains("shift 12, not 0"), "{end}");
        node(&mut m, 0x10_0000, 7, &[]);
        assert!(walk(&mut m, 100).end.unwrap().contains("shift 7"));
        node(&mut m, 0x10_0000, 0, &[(3, 0x20_0000 | 2)]);
        assert!(walk(&mut m, 100).end.unwrap().contains("leaf node"));
        let mut m = SparseMemory::default();
        assert!(xarray_entries(&mut m, &btf(), VirtAddr(XA), 10).is_err());
    }

    #[test]
    fn the_bound_stops_the_walk() {
        let mut m = mem(0x10_0000 | 2);
        let slots: Vec<(u64, u64)> = (0..10).map(|i| (i, 0x1000 * (i + 1))).collect();
        node(&mut m, 0x10_0000, 0, &slots);
        let w = walk(&mut m, 4);
        assert_eq!(w.items.len(), 4);
        assert!(w.end.unwrap().contains("bound of 4"));
        assert_eq!(walk(&mut m, 10).items.len(), 10);
        assert_eq!(walk(&mut m, 10).end, None);
    }

    proptest::proptest! {
        /// Nodes whose slots hold random entries, nodes among them (the others, a wild
        /// one), at random shifts: the walk ends, within the bound, without a panic.
        #[test]
        fn random_trees_end_within_the_bound(
            nodes in proptest::collection::vec(
                (0u8..14, proptest::collection::vec((0u64..64, 0u64..12), 0..8)),
                1..5,
            ),
            limit in 0u64..20,
        ) {
            let at = |k: u64| 0x10_0000 + k * 0x1000;
            let mut m = mem(at(0) | 2);
            for (k, (shift, slots)) in nodes.iter().enumerate() {
                let entries: Vec<(u64, u64)> = slots
                    .iter()
                    .map(|&(slot, e)| {
                        let v = match e {
                            0..=4 => at(e) | 2,
                            5 => 0xdead_0000 | 2,
                            6 => (e << 1) | 1,
                            7 => 0x406,
                            _ => 0x9000 + e * 8,
                        };
                        (slot, v)
                    })
                    .collect();
                node(&mut m, at(k as u64), *shift, &entries);
            }
            let w = walk(&mut m, limit);
            proptest::prop_assert!(w.items.len() as u64 <= limit);
            proptest::prop_assert!(w.items.windows(2).all(|p| p[0].0 < p[1].0));
        }
    }

    #[test]
    fn idr_ids_add_the_base() {
        let mut m = mem(0x10_0000 | 2);
        m.put(XA + 16, &[1, 0, 0, 0, 0, 0, 0, 0]);
        node(&mut m, 0x10_0000, 0, &[(0, 0x5000), (2, 0x6000)]);
        let w = idr_entries(&mut m, &btf(), VirtAddr(XA), 10).unwrap();
        assert_eq!(pairs(&w), vec![(1, 0x5000), (3, 0x6000)]);
    }

    #[test]
    fn the_top_shift_may_reach_the_last_index() {
        let mut m = mem(0x10_0000 | 2);
        node(&mut m, 0x10_0000, 60, &[(15, 0x7000)]);
        assert_eq!(pairs(&walk(&mut m, 10)), vec![(15 << 60, 0x7000)]);
        node(&mut m, 0x10_0000, 60, &[(16, 0x7000)]);
        assert!(walk(&mut m, 10)
            .end
            .unwrap()
            .contains("past the last index"));
    }
}
