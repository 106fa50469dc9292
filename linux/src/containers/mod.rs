//! Bounded, cycle-checked walks over the kernel's generic containers: `list_head` rings
//! ([`list_nodes`]), `hlist_head` chains ([`hlist_nodes`]), red-black trees
//! ([`rbtree_nodes`]) and xarrays (also the IDR's radix tree, [`xarray_entries`]), plus
//! [`container_of`] by member name.
//!
//! Every walk reads untrusted guest memory: it stops at `limit` items, at a node seen
//! twice, or at a pointer it cannot read, and says why in [`Walked::end`] (one line naming
//! the address) with the items found before. Only an error that ends the command
//! ([`Error::ends_command`]: an interrupt, a lost connection) or a failure before anything
//! could be walked (the head itself unreadable, a type missing from BTF) is an `Err`.
//!
//! `list_head`, `hlist_head`/`hlist_node` and `rb_node` have had the same layout in every
//! kernel (pointers only, in this order), so their walks take no BTF; the xarray's
//! `struct xa_node` is read through BTF by member name.

pub mod hlist;
pub mod list;
pub mod rbtree;
pub mod xarray;

pub use hlist::hlist_nodes;
pub use list::list_nodes;
pub use rbtree::rbtree_nodes;
pub use xarray::{idr_entries, xa_is_value, xa_to_value, xarray_entries};

use crate::error::Error;
use crate::object::offset_of;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// What a walk found, and why it stopped early if it did (a cycle, the bound, an unreadable
/// pointer: one line naming the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked<T> {
    /// What was found, in walk order.
    pub items: Vec<T>,
    /// Why the walk ended before the container's end; `None` when it reached it.
    pub end: Option<String>,
}

impl<T> Walked<T> {
    /// A walk that found `items` and reached the end.
    pub fn complete(items: Vec<T>) -> Walked<T> {
        Walked { items, end: None }
    }
}

/// `container_of` by member name: `node - offset_of(struct sname, member)`. `sname` may be
/// written `struct task_struct` or `task_struct`; `member` is a path (`se.group_node`).
pub fn container_of(
    btf: &Btf,
    node: VirtAddr,
    sname: &str,
    member: &str,
) -> Result<VirtAddr, Error> {
    let off = offset_of(btf, bare_struct_name(sname), member)?;
    Ok(VirtAddr(node.0.wrapping_sub(off)))
}

/// `task_struct` for `struct task_struct` (and for `task_struct`).
pub fn bare_struct_name(sname: &str) -> &str {
    let s = sname.trim();
    s.strip_prefix("struct ").map_or(s, str::trim_start)
}

/// The 8-byte pointer at `addr`, or `Ok(None)` after setting `end` to a line naming `what`
/// and where when it cannot be read; an error that ends the command is an `Err`.
/// Follows `next` pointers (each at offset 0 of its node) from `first` until `stop` (the
/// list's head for a ring, 0 for a NULL-terminated chain): the nodes seen, bounded by
/// `limit` and cycle-checked. `kind` (`list`, `hlist`) and `field` (`list_head.next`) name
/// what is walked in the notes; a NULL `next` in a ring ends it with a note.
pub(crate) fn follow_next(
    mem: &mut dyn crate::GuestMemory,
    head: VirtAddr,
    first: u64,
    stop: u64,
    kind: &str,
    field: &str,
    limit: u64,
) -> Result<Walked<VirtAddr>, Error> {
    let mut next = first;
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut prev = head;
    let mut end = None;
    while next != stop {
        let node = VirtAddr(next);
        if next == 0 {
            end = Some(format!(
                "{kind} at {head}: node {prev} has a NULL next pointer"
            ));
            break;
        }
        if !seen.insert(next) {
            end = Some(format!(
                "{kind} at {head}: node {node} (from {prev}) was already visited: \
                 a cycle after {} nodes",
                items.len()
            ));
            break;
        }
        if items.len() as u64 >= limit {
            end = Some(format!(
                "{kind} at {head}: stopped at the bound of {limit} nodes (at {node})"
            ));
            break;
        }
        let mut why = None;
        match read_ptr(mem, node, field, &mut why)? {
            Some(n) => next = n,
            None => {
                end = why.map(|w| format!("{kind} at {head}: node {node} (from {prev}): {w}"));
                break;
            }
        }
        items.push(node);
        prev = node;
    }
    Ok(Walked { items, end })
}

pub(crate) fn read_ptr(
    mem: &mut dyn crate::GuestMemory,
    addr: VirtAddr,
    what: &str,
    end: &mut Option<String>,
) -> Result<Option<u64>, Error> {
    match mem.read_u64(addr, Some(what)) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.ends_command() => Err(e),
        Err(e) => {
            *end = Some(e.to_string());
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use crate::GuestMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    #[test]
    fn container_of_subtracts_the_member_offset() {
        let mut b = BtfBuilder::new();
        let u64t = b.int("long unsigned int", 8, 64, 0);
        let lh = b.struct_("list_head", 16, &[("next", u64t, 0), ("prev", u64t, 64)]);
        let inner = b.struct_("inner", 24, &[("x", u64t, 0), ("node", lh, 64)]);
        b.struct_("thing", 64, &[("a", u64t, 0), ("in", inner, 128)]);
        let btf = Btf::parse(&b.build()).unwrap();
        let c = container_of(&btf, VirtAddr(0x1018), "thing", "in.node").unwrap();
        assert_eq!(c, VirtAddr(0x1000));
        let c = container_of(&btf, VirtAddr(0x1018), "struct thing", "in.node").unwrap();
        assert_eq!(c, VirtAddr(0x1000));
        let e = container_of(&btf, VirtAddr(0x1018), "thing", "nosuch").unwrap_err();
        assert!(e.to_string().contains("nosuch"), "{e}");
        assert!(container_of(&btf, VirtAddr(0), "nothing", "a").is_err());
    }

    /// Memory whose reads end the command (as a Ctrl-C does) after `left` reads.
    struct Interrupting {
        mem: SparseMemory,
        left: usize,
    }

    impl GuestMemory for Interrupting {
        fn read_bytes(
            &mut self,
            addr: VirtAddr,
            len: usize,
            what: Option<&str>,
        ) -> Result<Vec<u8>, Error> {
            if self.left == 0 {
                return Err(Error::Interrupted);
            }
            self.left -= 1;
            self.mem.read_bytes(addr, len, what)
        }

        fn read_some(&mut self, addr: VirtAddr, len: usize) -> Result<Vec<u8>, Error> {
            self.read_bytes(addr, len, None)
        }
    }

    /// Node `i` of a random graph is at `0x1000 * (i + 1)`; every pointer word of each node
    /// is one of the nodes, NULL, or a wild address.
    fn graph(words: &[Vec<u64>], n: u64) -> SparseMemory {
        let mut m = SparseMemory::default();
        for (i, ws) in words.iter().enumerate() {
            for (k, &w) in ws.iter().enumerate() {
                let v = match w % (n + 2) {
                    x if x < n => 0x1000 * (x + 1),
                    x if x == n => 0,
                    _ => 0xdead_0000,
                };
                m.put_u64(0x1000 * (i as u64 + 1) + 8 * k as u64, v);
            }
        }
        m
    }

    proptest::proptest! {
        #[test]
        fn walks_of_random_graphs_end_within_the_bound(
            words in proptest::collection::vec(proptest::collection::vec(0u64..64, 3), 1..12),
            limit in 0u64..16,
        ) {
            let n = words.len() as u64;
            let mut m = graph(&words, n);
            let walks = [
                list_nodes(&mut m, VirtAddr(0x1000), limit).unwrap(),
                hlist_nodes(&mut m, VirtAddr(0x1000), limit).unwrap(),
                rbtree_nodes(&mut m, VirtAddr(0x1000), limit).unwrap(),
            ];
            for w in walks {
                proptest::prop_assert!(w.items.len() as u64 <= limit);
                let unique: std::collections::HashSet<_> = w.items.iter().collect();
                proptest::prop_assert_eq!(unique.len(), w.items.len());
                proptest::prop_assert!(w.items.iter().all(|a| a.0 != 0xdead_0000));
            }
        }
    }

    #[test]
    fn an_interrupt_is_an_error_not_an_end() {
        let mut mem = SparseMemory::default();
        for i in 1..=4u64 {
            mem.put_u64(0x1000 * i, 0x1000 * (i % 4 + 1));
            mem.put_u64(0x1000 * i + 8, 0);
            mem.put_u64(0x1000 * i + 16, 0x1000 * (i % 4 + 1));
        }
        for left in 0..3 {
            let mut m = Interrupting {
                mem: mem.clone(),
                left,
            };
            let e = list_nodes(&mut m, VirtAddr(0x1000), 100).unwrap_err();
            assert!(matches!(e, Error::Interrupted));
            m.left = left;
            assert!(hlist_nodes(&mut m, VirtAddr(0x1000), 100).is_err());
            m.left = left;
            assert!(rbtree_nodes(&mut m, VirtAddr(0x1000), 100).is_err());
        }
    }

    #[test]
    fn struct_names_lose_their_keyword() {
        assert_eq!(bare_struct_name("struct task_struct"), "task_struct");
        assert_eq!(bare_struct_name(" task_struct "), "task_struct");
        assert_eq!(bare_struct_name("struct   rq"), "rq");
    }
}
