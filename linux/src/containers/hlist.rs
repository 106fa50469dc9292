//! `struct hlist_head` chains: the head holds `first`; each `struct hlist_node` holds
//! `next` (offset 0) and `pprev` (8); the chain ends at NULL.

use super::{follow_next, Walked};
use crate::error::Error;
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;

/// The `hlist_node`s of the chain at `head`, first to last, at most `limit` of them.
///
/// The walk ends at a NULL `next`, or early with [`Walked::end`] saying why (a node seen
/// twice, a node that cannot be read (it is not an item), the bound). The head's own
/// `first` being unreadable is an `Err`.
pub fn hlist_nodes(
    mem: &mut dyn GuestMemory,
    head: VirtAddr,
    limit: u64,
) -> Result<Walked<VirtAddr>, Error> {
    let first = mem.read_u64(head, Some("hlist_head.first"))?;
    follow_next(mem, head, first, 0, "hlist", "hlist_node.next", limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;

    /// Head at 0x1000, nodes at 0x2000.. (`next`, `pprev`).
    fn chain(n: u64) -> SparseMemory {
        let mut m = SparseMemory::default();
        m.put_u64(0x1000, if n == 0 { 0 } else { 0x2000 });
        for i in 1..=n {
            let a = 0x1000 * (i + 1);
            m.put_u64(a, if i == n { 0 } else { a + 0x1000 });
            m.put_u64(a + 8, a - 0x1000);
        }
        m
    }

    #[test]
    fn walks_to_null() {
        let mut m = chain(3);
        let w = hlist_nodes(&mut m, VirtAddr(0x1000), 10).unwrap();
        assert_eq!(
            w.items,
            vec![VirtAddr(0x2000), VirtAddr(0x3000), VirtAddr(0x4000)]
        );
        assert_eq!(w.end, None);
        let mut m = chain(0);
        let w = hlist_nodes(&mut m, VirtAddr(0x1000), 10).unwrap();
        assert!(w.items.is_empty() && w.end.is_none());
    }

    #[test]
    fn cycle_wild_pointer_and_bound_end_with_notes() {
        let mut m = chain(3);
        m.put_u64(0x4000, 0x2000);
        let w = hlist_nodes(&mut m, VirtAddr(0x1000), 10).unwrap();
        assert_eq!(w.items.len(), 3);
        assert!(w.end.unwrap().contains("cycle"));

        let mut m = chain(3);
        m.put_u64(0x3000, 0x7777_0000);
        let w = hlist_nodes(&mut m, VirtAddr(0x1000), 10).unwrap();
        assert_eq!(w.items.last(), Some(&VirtAddr(0x3000)));
        assert!(w.end.unwrap().contains("77770000"));

        let mut m = chain(4);
        let w = hlist_nodes(&mut m, VirtAddr(0x1000), 3).unwrap();
        assert_eq!(w.items.len(), 3);
        assert!(w.end.unwrap().contains("bound of 3"));

        let mut m = SparseMemory::default();
        assert!(hlist_nodes(&mut m, VirtAddr(0x1000), 3).is_err());
    }
}
