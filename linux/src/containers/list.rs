//! `struct list_head` rings: `next` at offset 0, `prev` at 8; the head is part of the ring
//! and not an entry.

use super::{follow_next, Walked};
use crate::error::Error;
use crate::GuestMemory;
use qmdb_bridge::VirtAddr;

/// The nodes of the `list_head` ring at `head` (the embedded `list_head`s, not their
/// containers), the head excluded, in `next` order, at most `limit` of them.
///
/// The walk ends at the head, or early, with [`Walked::end`] saying why: a node seen twice
/// (a cycle that does not pass through the head), a NULL `next`, a node that cannot be read
/// (it is not an item: what is returned can be read), the bound. The head's own `next`
/// being unreadable is an `Err` (nothing could be walked).
pub fn list_nodes(
    mem: &mut dyn GuestMemory,
    head: VirtAddr,
    limit: u64,
) -> Result<Walked<VirtAddr>, Error> {
    let first = mem.read_u64(head, Some("list_head.next"))?;
    follow_next(mem, head, first, head.0, "list", "list_head.next", limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;

    /// A ring: head at 0x1000, nodes at 0x2000, 0x3000, ... (`next` then `prev`).
    fn ring(n: u64) -> SparseMemory {
        let mut m = SparseMemory::default();
        let addr = |i: u64| if i == 0 { 0x1000 } else { 0x1000 * (i + 1) };
        for i in 0..=n {
            let next = addr((i + 1) % (n + 1));
            let prev = addr((i + n) % (n + 1));
            m.put_u64(addr(i), next);
            m.put_u64(addr(i) + 8, prev);
        }
        m
    }

    #[test]
    fn walks_the_ring_without_the_head() {
        let mut m = ring(3);
        let w = list_nodes(&mut m, VirtAddr(0x1000), 100).unwrap();
        assert_eq!(
            w.items,
            vec![VirtAddr(0x2000), VirtAddr(0x3000), VirtAddr(0x4000)]
        );
        assert_eq!(w.end, None);
        let mut m = ring(0);
        let w = list_nodes(&mut m, VirtAddr(0x1000), 100).unwrap();
        assert!(w.items.is_empty() && w.end.is_none());
    }

    #[test]
    fn a_cycle_ends_with_a_note() {
        let mut m = ring(3);
        m.put_u64(0x4000, 0x3000);
        let w = list_nodes(&mut m, VirtAddr(0x1000), 100).unwrap();
        assert_eq!(w.items.len(), 3);
        let end = w.end.unwrap();
        assert!(end.contains("3000") && end.contains("cycle"), "{end}");
    }

    #[test]
    fn a_wild_or_null_pointer_ends_with_a_note() {
        let mut m = ring(3);
        m.put_u64(0x3000, 0xdead_0000);
        let w = list_nodes(&mut m, VirtAddr(0x1000), 100).unwrap();
        assert_eq!(w.items, vec![VirtAddr(0x2000), VirtAddr(0x3000)]);
        let end = w.end.unwrap();
        assert!(
            end.contains("dead0000") && end.contains("list at 1000"),
            "{end}"
        );
        m.put_u64(0x3000, 0);
        let w = list_nodes(&mut m, VirtAddr(0x1000), 100).unwrap();
        assert_eq!(w.items.len(), 2);
        assert!(w.end.unwrap().contains("NULL"));
    }

    #[test]
    fn the_bound_stops_the_walk() {
        let mut m = ring(5);
        let w = list_nodes(&mut m, VirtAddr(0x1000), 2).unwrap();
        assert_eq!(w.items.len(), 2);
        assert!(w.end.unwrap().contains("bound of 2"));
        let w = list_nodes(&mut m, VirtAddr(0x1000), 5).unwrap();
        assert_eq!((w.items.len(), w.end), (5, None));
    }

    #[test]
    fn an_unreadable_head_is_an_error() {
        let mut m = SparseMemory::default();
        let e = list_nodes(&mut m, VirtAddr(0x1000), 5).unwrap_err();
        assert!(e.to_string().contains("1000"), "{e}");
    }
}
