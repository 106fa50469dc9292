//! Maple trees (6.1+; the VMAs of every process): `struct maple_tree`'s `ma_root` is NULL,
//! one entry (index 0) or an encoded node pointer, decoded as `lib/maple_tree.c` does:
//!
//! - the root is a node when it is an internal entry above 4096 (`xa_is_node`); bit 1
//!   (`MAPLE_ROOT_NODE`) is then cleared (`mte_safe_root`);
//! - an encoded node (`struct maple_enode *`) holds its type in bits 3-6
//!   (`mte_node_type`) and the 256-byte aligned node in the rest (`mte_to_node`);
//! - `maple_dense` nodes hold one index per slot; `maple_leaf_64` and `maple_range_64` are
//!   `struct maple_range_64`, `maple_arange_64` is `struct maple_arange_64`: slot `i` covers
//!   `pivot[i-1] + 1 ..= pivot[i]`, a pivot of 0 past slot 0 ends the node, and the slot
//!   past the last pivot ends at the node's maximum, which its parent gives (the root's is
//!   `ULONG_MAX`) — as `mt_dump_range64` reads them;
//! - the two `*_64` leaf types (`ma_is_leaf`: below `maple_range_64`) hold entries, the
//!   others encoded child nodes.
//!
//! Where pivots and slots are, and how many there are, comes from BTF
//! (`maple_range_64.pivot`, `maple_arange_64.slot`, `maple_node.slot`: the kernel's
//! `MAPLE_RANGE64_SLOTS` and friends are the array sizes). The node types are the values of
//! `enum maple_type`, the same in every kernel with maple trees.

use crate::containers::Walked;
use crate::error::Error;
use crate::memory::u64_at;
use crate::object::{member_place, offset_of, StructView};
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use std::collections::HashSet;

/// The deepest a walk goes: the kernel's `MAPLE_HEIGHT_MAX` is 31.
pub const MAX_DEPTH: u32 = 32;

/// `enum maple_type`.
const MAPLE_DENSE: u64 = 0;
const MAPLE_LEAF_64: u64 = 1;
const MAPLE_RANGE_64: u64 = 2;
const MAPLE_ARANGE_64: u64 = 3;

/// `MAPLE_NODE_MASK`: a node is 256-byte aligned; the low byte of an encoded pointer holds
/// its type and flags.
const NODE_MASK: u64 = 0xff;
/// `MAPLE_NODE_TYPE_SHIFT` and `MAPLE_NODE_TYPE_MASK`.
const TYPE_SHIFT: u64 = 3;
const TYPE_MASK: u64 = 0x0f;
/// `MAPLE_ROOT_NODE`: set in `ma_root` when it points to a node.
const ROOT_NODE: u64 = 0x02;

/// One range of a maple tree with its entry: indices `first..=last` map to `entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapleEntry {
    pub first: u64,
    pub last: u64,
    pub entry: VirtAddr,
}

/// `xa_is_internal`: bits 0-1 are `10`.
fn is_internal(v: u64) -> bool {
    v & 3 == 2
}

/// `xa_is_node`, as `mas_start` tests the root.
fn is_node(v: u64) -> bool {
    is_internal(v) && v > 4096
}

/// The name of node type `t`.
fn type_name(t: u64) -> &'static str {
    match t {
        MAPLE_DENSE => "maple_dense",
        MAPLE_LEAF_64 => "maple_leaf_64",
        MAPLE_RANGE_64 => "maple_range_64",
        MAPLE_ARANGE_64 => "maple_arange_64",
        _ => "unknown",
    }
}

/// Where one node type's pivots and slots are in `struct maple_node`, and how many.
#[derive(Debug, Clone, Copy)]
struct Arrays {
    pivots: u64,
    npivots: u64,
    slots: u64,
    nslots: u64,
}

/// Where the members of each node type are, from BTF.
struct NodeLayout {
    dense: Arrays,
    range64: Arrays,
    arange64: Arrays,
}

impl NodeLayout {
    fn from_btf(btf: &Btf) -> Result<NodeLayout, Error> {
        let arrays = |pivot: &str, slot: &str| -> Result<Arrays, Error> {
            let p = member_place(btf, "maple_node", pivot)?;
            let s = member_place(btf, "maple_node", slot)?;
            Ok(Arrays {
                pivots: p.offset,
                npivots: p.size / 8,
                slots: s.offset,
                nslots: s.size / 8,
            })
        };
        let dense_slots = member_place(btf, "maple_node", "slot")?;
        let l = NodeLayout {
            dense: Arrays {
                pivots: 0,
                npivots: 0,
                slots: dense_slots.offset,
                nslots: dense_slots.size / 8,
            },
            range64: arrays("mr64.pivot", "mr64.slot")?,
            arange64: arrays("ma64.pivot", "ma64.slot")?,
        };
        for (name, a) in [
            ("maple_range_64", l.range64),
            ("maple_arange_64", l.arange64),
        ] {
            if a.nslots != a.npivots + 1 || a.nslots < 2 {
                return Err(Error::missing(
                    "maple tree",
                    format!(
                        "struct {name} has {} pivots and {} slots: not one pivot fewer",
                        a.npivots, a.nslots
                    ),
                ));
            }
        }
        Ok(l)
    }

    fn arrays(&self, t: u64) -> Arrays {
        match t {
            MAPLE_DENSE => self.dense,
            MAPLE_ARANGE_64 => self.arange64,
            _ => self.range64,
        }
    }
}

struct MapleWalk<'a> {
    mem: &'a mut dyn GuestMemory,
    btf: &'a Btf,
    layout: NodeLayout,
    tree: VirtAddr,
    limit: u64,
    items: Vec<MapleEntry>,
    seen: HashSet<u64>,
}

/// Why a walk stopped early.
type Stop = Option<String>;

impl MapleWalk<'_> {
    /// Adds a present entry; `Some` when the bound is reached. Reserved entries (internal
    /// values below 4096, such as `XA_ZERO_ENTRY`) are not entries.
    fn entry(&mut self, first: u64, last: u64, entry: u64) -> Stop {
        if entry == 0 || (is_internal(entry) && entry < 4096) {
            return None;
        }
        if self.items.len() as u64 >= self.limit {
            return Some(format!(
                "maple tree at {}: stopped at the bound of {} entries (at index {first:#x})",
                self.tree, self.limit
            ));
        }
        self.items.push(MapleEntry {
            first,
            last,
            entry: VirtAddr(entry),
        });
        None
    }

    /// Walks the encoded node `enode` (reached from `from`) covering `min..=max`.
    fn node(
        &mut self,
        enode: u64,
        from: &str,
        min: u64,
        max: u64,
        depth: u32,
    ) -> Result<Stop, Error> {
        let tree = self.tree;
        let addr = VirtAddr(enode & !NODE_MASK);
        let t = (enode >> TYPE_SHIFT) & TYPE_MASK;
        if t > MAPLE_ARANGE_64 || addr.0 == 0 {
            return Ok(Some(format!(
                "maple tree at {tree}: {from} holds {enode:#x}: not a node (type {t})"
            )));
        }
        if depth > MAX_DEPTH {
            return Ok(Some(format!(
                "maple tree at {tree}: node {addr} ({from}) is deeper than {MAX_DEPTH} levels"
            )));
        }
        if !self.seen.insert(addr.0) {
            return Ok(Some(format!(
                "maple tree at {tree}: node {addr} ({from}) was already visited: a cycle"
            )));
        }
        if self.seen.len() as u64 > self.limit {
            return Ok(Some(format!(
                "maple tree at {tree}: stopped at the bound of {} nodes (at {addr})",
                self.limit
            )));
        }
        let view = match StructView::read(self.mem, self.btf, "maple_node", addr) {
            Ok(v) => v,
            Err(e) if e.ends_command() => return Err(e),
            Err(e @ Error::Read { .. }) => {
                return Ok(Some(format!(
                    "maple tree at {tree}: {} node {addr} ({from}): {e}",
                    type_name(t)
                )))
            }
            Err(e) => return Err(e),
        };
        let a = self.layout.arrays(t);
        let slot = |i: u64| u64_at(view.bytes(), a.slots + i * 8);
        if t == MAPLE_DENSE {
            for i in 0..a.nslots {
                let Some(index) = min.checked_add(i).filter(|&x| x <= max) else {
                    break;
                };
                if let Some(stop) = self.entry(index, index, slot(i)) {
                    return Ok(Some(stop));
                }
            }
            return Ok(None);
        }
        let leaf = t < MAPLE_RANGE_64;
        let mut first = min;
        for i in 0..a.nslots {
            let last = if i < a.npivots {
                u64_at(view.bytes(), a.pivots + i * 8)
            } else {
                max
            };
            if last == 0 && i > 0 {
                break;
            }
            if last < first || last > max {
                return Ok(Some(format!(
                    "maple tree at {tree}: {} node {addr} ({from}, {min:#x}..={max:#x}) has \
                     pivot {i} = {last:#x} outside {first:#x}..={max:#x}",
                    type_name(t)
                )));
            }
            let v = slot(i);
            let stop = if leaf {
                self.entry(first, last, v)
            } else if v == 0 {
                None
            } else {
                let from = format!("slot {i} of {addr}");
                self.node(v, &from, first, last, depth + 1)?
            };
            if stop.is_some() {
                return Ok(stop);
            }
            if last == max {
                break;
            }
            first = last + 1;
        }
        Ok(None)
    }
}

/// Every range of the `struct maple_tree` at `tree` holding a non-NULL entry, as
/// (first, last, entry), in index order, at most `limit` of them.
///
/// A node that cannot be read or makes no sense (an unknown type, a pivot outside its
/// node's range), a node seen twice, a walk deeper than [`MAX_DEPTH`], or the bound (on
/// entries and on nodes) ends the walk early with [`Walked::end`] saying why. `ma_root`
/// being unreadable, or BTF lacking the maple tree's structures, is an `Err`.
pub fn maple_entries(
    mem: &mut dyn GuestMemory,
    btf: &Btf,
    tree: VirtAddr,
    limit: u64,
) -> Result<Walked<MapleEntry>, Error> {
    let layout = NodeLayout::from_btf(btf)?;
    let root_at = tree.add(offset_of(btf, "maple_tree", "ma_root")?);
    let root = mem.read_u64(root_at, Some("maple_tree.ma_root"))?;
    let mut w = MapleWalk {
        mem,
        btf,
        layout,
        tree,
        limit,
        items: Vec::new(),
        seen: HashSet::new(),
    };
    let end = if is_node(root) {
        w.node(root & !ROOT_NODE, "the root", 0, u64::MAX, 1)?
    } else {
        w.entry(0, 0, root)
    };
    Ok(Walked {
        items: w.items,
        end,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    /// Adds `struct maple_tree` (`ma_root` at 8) and `struct maple_node` (256 bytes: 31
    /// dense slots at 8; `mr64`: 15 pivots at 8, 16 slots at 128; `ma64`: 9 pivots at 8, 10
    /// slots at 80, gaps at 160) to `b`, as 6.12 lays them out; returns `maple_tree`'s id.
    pub(crate) fn add_maple_types(b: &mut BtfBuilder) -> u32 {
        let u32t = b.int("unsigned int", 4, 32, 0);
        let ul = b.int("long unsigned int", 8, 64, 0);
        let voidp = b.ptr(0);
        let arr = |b: &mut BtfBuilder, t, n| b.array(t, u32t, n);
        let (p15, s16) = (arr(b, ul, 15), arr(b, voidp, 16));
        let (p9, s10, g10) = (arr(b, ul, 9), arr(b, voidp, 10), arr(b, ul, 10));
        let s31 = arr(b, voidp, 31);
        let tree = b.struct_(
            "maple_tree",
            16,
            &[
                ("ma_lock", u32t, 0),
                ("ma_flags", u32t, 32),
                ("ma_root", voidp, 64),
            ],
        );
        let mr64 = b.struct_(
            "maple_range_64",
            256,
            &[
                ("parent", voidp, 0),
                ("pivot", p15, 64),
                ("slot", s16, 1024),
            ],
        );
        let ma64 = b.struct_(
            "maple_arange_64",
            248,
            &[
                ("parent", voidp, 0),
                ("pivot", p9, 64),
                ("slot", s10, 640),
                ("gap", g10, 1280),
            ],
        );
        let dense = b.struct_("", 256, &[("parent", voidp, 0), ("slot", s31, 64)]);
        let u = b.union_(
            "",
            256,
            &[("", dense, 0), ("mr64", mr64, 0), ("ma64", ma64, 0)],
        );
        b.struct_("maple_node", 256, &[("", u, 0)]);
        tree
    }

    fn btf() -> Btf {
        let mut b = BtfBuilder::new();
        add_maple_types(&mut b);
        Btf::parse(&b.build()).unwrap()
    }

    const TREE: u64 = 0x100;

    /// The encoded pointer of a node at `a` of type `t`, as `mt_mk_node` makes it.
    pub(crate) fn enode(a: u64, t: u64) -> u64 {
        a | (t << 3) | 4
    }

    /// A range node (`t` leaf_64, range_64 or arange_64) at `a` with `(pivot, slot)` pairs
    /// from slot 0 (a pivot of `None` stays 0: unused, or the slot past the last pivot).
    pub(crate) fn range_node(m: &mut SparseMemory, a: u64, t: u64, slots: &[(Option<u64>, u64)]) {
        let (pivots, slot_at) = if t == MAPLE_ARANGE_64 {
            (8, 80)
        } else {
            (8, 128)
        };
        m.put(a, &[0u8; 256]);
        for (i, &(p, s)) in slots.iter().enumerate() {
            if let Some(p) = p {
                m.put_u64(a + pivots + i as u64 * 8, p);
            }
            m.put_u64(a + slot_at + i as u64 * 8, s);
        }
    }

    /// A tree at [`TREE`] whose root is `root`.
    fn tree(root: u64) -> SparseMemory {
        let mut m = SparseMemory::default();
        m.put(TREE, &[0u8; 16]);
        m.put_u64(TREE + 8, root);
        m
    }

    fn walk(m: &mut SparseMemory, limit: u64) -> Walked<MapleEntry> {
        maple_entries(m, &btf(), VirtAddr(TREE), limit).unwrap()
    }

    fn triples(w: &Walked<MapleEntry>) -> Vec<(u64, u64, u64)> {
        w.items
            .iter()
            .map(|e| (e.first, e.last, e.entry.0))
            .collect()
    }

    /// A two-level tree: a range_64 root over two leaf_64 nodes, as the VMAs of a small
    /// process look (gaps are NULL slots).
    fn two_levels() -> SparseMemory {
        let root = 0x1_0000;
        let (l1, l2) = (0x2_0000, 0x3_0000);
        let mut m = tree(enode(root, MAPLE_RANGE_64) | ROOT_NODE);
        range_node(
            &mut m,
            root,
            MAPLE_RANGE_64,
            &[
                (Some(0x7fff), enode(l1, MAPLE_LEAF_64)),
                (Some(u64::MAX), enode(l2, MAPLE_LEAF_64)),
            ],
        );
        range_node(
            &mut m,
            l1,
            MAPLE_LEAF_64,
            &[
                (Some(0x3fff), 0),
                (Some(0x4fff), 0xffff_8880_0000_1000),
                (Some(0x5fff), 0xffff_8880_0000_2000),
                (Some(0x7fff), 0),
            ],
        );
        range_node(
            &mut m,
            l2,
            MAPLE_LEAF_64,
            &[
                (Some(0x8fff), 0xffff_8880_0000_3000),
                (Some(0x7fff_0000_0000), 0x406), // XA_ZERO_ENTRY: reserved
                (Some(0x7fff_0000_0fff), 0xffff_8880_0000_4000),
                (Some(u64::MAX), 0),
            ],
        );
        m
    }

    #[test]
    fn empty_and_single_entry_roots() {
        assert_eq!(walk(&mut tree(0), 10), Walked::complete(vec![]));
        let w = walk(&mut tree(0xffff_8880_0000_1000), 10);
        assert_eq!(triples(&w), vec![(0, 0, 0xffff_8880_0000_1000)]);
        assert!(maple_entries(&mut SparseMemory::default(), &btf(), VirtAddr(TREE), 9).is_err());
    }

    #[test]
    fn two_levels_in_order_with_implied_last_pivots() {
        let w = walk(&mut two_levels(), 100);
        assert_eq!(w.end, None);
        assert_eq!(
            triples(&w),
            vec![
                (0x4000, 0x4fff, 0xffff_8880_0000_1000),
                (0x5000, 0x5fff, 0xffff_8880_0000_2000),
                (0x8000, 0x8fff, 0xffff_8880_0000_3000),
                (0x7fff_0000_0001, 0x7fff_0000_0fff, 0xffff_8880_0000_4000),
            ]
        );
    }

    #[test]
    fn the_last_slot_of_a_full_node_ends_at_the_parents_max() {
        let root = 0x1_0000;
        let mut m = tree(enode(root, MAPLE_ARANGE_64) | ROOT_NODE);
        let mut slots: Vec<(Option<u64>, u64)> =
            (0..9).map(|i| (Some(0x1000 * (i + 1) - 1), 0)).collect();
        slots[8].1 = enode(0x2_0000, MAPLE_LEAF_64);
        slots.push((None, 0));
        range_node(&mut m, root, MAPLE_ARANGE_64, &slots);
        // A full leaf: 15 pivots, its 16th slot ends at 0x8fff, the parent's pivot.
        let leaf: Vec<(Option<u64>, u64)> = (0..16)
            .map(|i| {
                let p = (i < 15).then(|| 0x8000 + 0x100 * (i + 1) - 1);
                (p, 0xffff_8880_0001_0000 + i * 0x100)
            })
            .collect();
        range_node(&mut m, 0x2_0000, MAPLE_LEAF_64, &leaf);
        let w = walk(&mut m, 100);
        assert_eq!(w.end, None);
        assert_eq!(w.items.len(), 16);
        assert_eq!(
            triples(&w)[15],
            (0x8f00, 0x8fff, 0xffff_8880_0001_0000 + 15 * 0x100)
        );
        assert_eq!(triples(&w)[0].0, 0x8000);
    }

    #[test]
    fn dense_nodes_hold_one_index_a_slot() {
        let mut m = tree(enode(0x1_0000, MAPLE_RANGE_64) | ROOT_NODE);
        range_node(
            &mut m,
            0x1_0000,
            MAPLE_RANGE_64,
            &[(Some(0x1f), 0), (Some(0x3f), enode(0x2_0000, MAPLE_DENSE))],
        );
        m.put(0x2_0000, &[0u8; 256]);
        m.put_u64(0x2_0000 + 8 + 2 * 8, 0xaaa0);
        m.put_u64(0x2_0000 + 8 + 30 * 8, 0xbbb0);
        let w = walk(&mut m, 100);
        assert_eq!(w.end, None);
        assert_eq!(
            triples(&w),
            vec![(0x22, 0x22, 0xaaa0), (0x3e, 0x3e, 0xbbb0)]
        );
    }

    #[test]
    fn a_cycle_ends_with_a_note() {
        let mut m = two_levels();
        // The second leaf becomes the root again.
        range_node(
            &mut m,
            0x1_0000,
            MAPLE_RANGE_64,
            &[
                (Some(0x7fff), enode(0x2_0000, MAPLE_LEAF_64)),
                (Some(u64::MAX), enode(0x1_0000, MAPLE_RANGE_64)),
            ],
        );
        let w = walk(&mut m, 100);
        assert_eq!(w.items.len(), 2);
        let end = w.end.unwrap();
        assert!(end.contains("10000") && end.contains("cycle"), "{end}");
    }

    #[test]
    fn wild_pointers_and_bad_nodes_end_with_a_note() {
        let mut m = two_levels();
        range_node(
            &mut m,
            0x1_0000,
            MAPLE_RANGE_64,
            &[
                (Some(0x7fff), enode(0x2_0000, MAPLE_LEAF_64)),
                (Some(u64::MAX), enode(0xdead_0000, MAPLE_LEAF_64)),
            ],
        );
        let w = walk(&mut m, 100);
        assert_eq!(w.items.len(), 2);
        let end = w.end.unwrap();
        assert!(
            end.contains("dead0000") && end.contains("slot 1 of 10000"),
            "{end}"
        );

        // An unknown node type.
        range_node(
            &mut m,
            0x1_0000,
            MAPLE_RANGE_64,
            &[(None, 0x2_0000 | (7 << 3) | 4)],
        );
        assert!(walk(&mut m, 100)
            .end
            .unwrap()
            .contains("not a node (type 7)"));
        // Pivots going backwards, in a leaf root.
        m.put_u64(TREE + 8, enode(0x1_0000, MAPLE_LEAF_64) | ROOT_NODE);
        range_node(
            &mut m,
            0x1_0000,
            MAPLE_LEAF_64,
            &[(Some(0x5000), 0x1000), (Some(0x4000), 0x2000)],
        );
        let end = walk(&mut m, 100).end.unwrap();
        assert!(end.contains("pivot 1 = 0x4000"), "{end}");
    }

    #[test]
    fn the_bounds_stop_the_walk() {
        let w = walk(&mut two_levels(), 3);
        assert_eq!(w.items.len(), 3);
        assert!(w.end.unwrap().contains("bound of 3 entries"));
        // Nodes count too: three nodes with a bound of 2.
        let mut m = two_levels();
        range_node(&mut m, 0x3_0000, MAPLE_LEAF_64, &[(Some(u64::MAX), 0)]);
        range_node(&mut m, 0x2_0000, MAPLE_LEAF_64, &[(Some(0x7fff), 0)]);
        assert!(walk(&mut m, 2).end.unwrap().contains("bound of 2 nodes"));
        // A chain deeper than MAX_DEPTH: each node's only child is the next one.
        let mut m = tree(enode(0x1_0000, MAPLE_RANGE_64) | ROOT_NODE);
        for i in 0..40u64 {
            let a = 0x1_0000 + i * 0x100;
            range_node(
                &mut m,
                a,
                MAPLE_RANGE_64,
                &[(None, enode(a + 0x100, MAPLE_RANGE_64))],
            );
        }
        let end = walk(&mut m, 1000).end.unwrap();
        assert!(end.contains("deeper than 32"), "{end}");
    }
}
