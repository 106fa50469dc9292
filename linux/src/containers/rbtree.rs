//! Red-black trees: `struct rb_root { struct rb_node *rb_node; }` (an `rb_root_cached`
//! starts with its `rb_root`); `struct rb_node { unsigned long __rb_parent_color; struct
//! rb_node *rb_right, *rb_left; }`, the parent pointer carrying the colour in bit 0.

use super::Walked;
use crate::error::Error;
use crate::memory::u64_at;
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;
use std::collections::HashSet;

/// `rb_node.rb_right`'s offset.
const RB_RIGHT: u64 = 8;
/// `rb_node.rb_left`'s offset.
const RB_LEFT: u64 = 16;
/// `struct rb_node`'s size.
const RB_NODE_SIZE: usize = 24;

/// The `rb_node`s of the tree at `root` (an `rb_root` or `rb_root_cached`), in order
/// (leftmost first), at most `limit` of them.
///
/// The walk is in-order with an explicit stack (no parent pointers followed): a node seen
/// twice, a node that cannot be read (it is not an item) or the bound ends it early with
/// [`Walked::end`] saying why. The root pointer being unreadable is an `Err`.
pub fn rbtree_nodes(
    mem: &mut dyn GuestMemory,
    root: VirtAddr,
    limit: u64,
) -> Result<Walked<VirtAddr>, Error> {
    let mut cur = mem.read_u64(root, Some("rb_root.rb_node"))?;
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    // Nodes whose left subtree is being walked, with their right child.
    let mut stack: Vec<(VirtAddr, u64)> = Vec::new();
    let mut from = root;
    loop {
        while cur != 0 {
            let node = VirtAddr(cur);
            if !seen.insert(cur) {
                let end = format!(
                    "rbtree at {root}: node {node} (child of {from}) was already visited: \
                     a cycle after {} nodes",
                    seen.len()
                );
                return Ok(Walked {
                    items,
                    end: Some(end),
                });
            }
            if seen.len() as u64 > limit {
                let end =
                    format!("rbtree at {root}: stopped at the bound of {limit} nodes (at {node})");
                return Ok(Walked {
                    items,
                    end: Some(end),
                });
            }
            let b = match mem.read_bytes(node, RB_NODE_SIZE, Some("struct rb_node")) {
                Ok(b) => b,
                Err(e) if e.ends_command() => return Err(e),
                Err(e) => {
                    let end = format!("rbtree at {root}: node {node} (child of {from}): {e}");
                    return Ok(Walked {
                        items,
                        end: Some(end),
                    });
                }
            };
            stack.push((node, u64_at(&b, RB_RIGHT)));
            from = node;
            cur = u64_at(&b, RB_LEFT);
        }
        let Some((node, right)) = stack.pop() else {
            return Ok(Walked::complete(items));
        };
        items.push(node);
        from = node;
        cur = right;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;

    /// Puts a node at `a` with children `l` and `r` (parent and colour 0: not read).
    fn node(m: &mut SparseMemory, a: u64, l: u64, r: u64) {
        m.put_u64(a, 1);
        m.put_u64(a + RB_RIGHT, r);
        m.put_u64(a + RB_LEFT, l);
    }

    /// Root at 0x100 over      4
    ///                       2   6
    ///                      1 3 5 7   (node k at 0x1000 * k)
    fn tree() -> SparseMemory {
        let mut m = SparseMemory::default();
        m.put_u64(0x100, 0x4000);
        m.put_u64(0x108, 0x1000); // rb_leftmost of an rb_root_cached
        node(&mut m, 0x4000, 0x2000, 0x6000);
        node(&mut m, 0x2000, 0x1000, 0x3000);
        node(&mut m, 0x6000, 0x5000, 0x7000);
        for k in [1, 3, 5, 7] {
            node(&mut m, 0x1000 * k, 0, 0);
        }
        m
    }

    fn addrs(w: &Walked<VirtAddr>) -> Vec<u64> {
        w.items.iter().map(|a| a.0 / 0x1000).collect()
    }

    #[test]
    fn walks_in_order() {
        let mut m = tree();
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 100).unwrap();
        assert_eq!(addrs(&w), vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(w.end, None);
        m.put_u64(0x100, 0);
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 100).unwrap();
        assert!(w.items.is_empty() && w.end.is_none());
    }

    #[test]
    fn a_cycle_ends_with_a_note() {
        let mut m = tree();
        node(&mut m, 0x7000, 0, 0x4000);
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 100).unwrap();
        assert_eq!(addrs(&w), vec![1, 2, 3, 4, 5, 6, 7]);
        let end = w.end.unwrap();
        assert!(end.contains("4000") && end.contains("cycle"), "{end}");
        // A node that is its own left child.
        let mut m = tree();
        node(&mut m, 0x1000, 0x1000, 0);
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 100).unwrap();
        assert!(w.items.is_empty());
        assert!(w.end.unwrap().contains("cycle"));
    }

    #[test]
    fn a_wild_pointer_ends_with_a_note() {
        let mut m = tree();
        node(&mut m, 0x6000, 0x5000, 0xbad0_0000);
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 100).unwrap();
        assert_eq!(addrs(&w), vec![1, 2, 3, 4, 5, 6]);
        let end = w.end.unwrap();
        assert!(
            end.contains("bad00000") && end.contains("child of 6000"),
            "{end}"
        );
        assert!(rbtree_nodes(&mut m, VirtAddr(0x9_0000), 100).is_err());
    }

    #[test]
    fn the_bound_stops_the_walk() {
        let mut m = tree();
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 3).unwrap();
        assert!(w.items.len() <= 3);
        assert!(w.end.unwrap().contains("bound of 3"));
        let w = rbtree_nodes(&mut m, VirtAddr(0x100), 7).unwrap();
        assert_eq!((w.items.len(), w.end), (7, None));
    }
}
