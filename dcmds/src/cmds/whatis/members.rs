//! The member of a struct at a byte offset, as a path (`thread.sp`, `pids[1].node`).

use qmdb_kernel::btf::{Btf, Kind, TypeId, MAX_DEPTH};

/// Where an offset falls in a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAt {
    /// The innermost member's path; scalar arrays are not indexed (`comm`, not `comm[3]`).
    pub path: String,
    /// The offset from the start of that member.
    pub offset: u64,
    /// The member's C type, as BTF names it.
    pub ty: String,
}

/// Members visited at most, per lookup (unions and anonymous members branch).
const MAX_VISITS: usize = 1 << 16;

/// The member of struct or union `id` that holds byte `offset`, descending into nested
/// structs, unions and arrays of them. For a union, the first member holding the offset.
/// `None` when the offset is past the type or falls in padding.
pub fn member_at(btf: &Btf, id: TypeId, offset: u64) -> Option<MemberAt> {
    let size = btf.size_of(id).ok()?;
    if offset >= size {
        return None;
    }
    let mut path = String::new();
    let mut ty = id;
    let mut off = offset;
    let mut found = false;
    let mut visits = 0usize;
    for _ in 0..MAX_DEPTH {
        let t = btf.resolved(ty).ok()?;
        match t.kind {
            Kind::Struct | Kind::Union => {
                let mut next = None;
                for m in btf.members(t) {
                    visits += 1;
                    if visits > MAX_VISITS {
                        return None;
                    }
                    let Ok(info) = btf.member_info(&m) else {
                        continue;
                    };
                    let start = info.byte_offset();
                    let len = if info.bitfield_size > 0 {
                        (info.bit_offset % 8 + u64::from(info.bitfield_size)).div_ceil(8)
                    } else {
                        btf.size_of(info.ty).unwrap_or(0)
                    };
                    if off >= start && off - start < len {
                        next = Some((m.name, info.ty, off - start));
                        break;
                    }
                }
                let (name, mty, moff) = next?;
                if !name.is_empty() {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                    found = true;
                }
                ty = mty;
                off = moff;
            }
            Kind::Array => {
                let a = t.array()?;
                let elem_ty = btf.resolved(a.elem).ok()?;
                if !matches!(elem_ty.kind, Kind::Struct | Kind::Union | Kind::Array) {
                    break;
                }
                let elem = btf.size_of(a.elem).ok().filter(|&s| s > 0)?;
                let i = off / elem;
                path.push_str(&format!("[{i}]"));
                ty = a.elem;
                off %= elem;
            }
            _ => break,
        }
    }
    found.then(|| MemberAt {
        path,
        offset: off,
        ty: btf.type_name(ty),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_kernel::btf::builder::BtfBuilder;

    fn btf() -> (Btf, TypeId) {
        let mut b = BtfBuilder::new();
        let int = b.int("int", 4, 32, 1);
        let long = b.int("long unsigned int", 8, 64, 0);
        let ch = b.int("char", 1, 8, 2);
        let comm = b.array(ch, int, 16);
        let inner = b.struct_("thread_struct", 16, &[("sp", long, 0), ("fs", long, 64)]);
        let node = b.struct_("node", 16, &[("next", long, 0), ("prev", long, 64)]);
        let nodes = b.array(node, int, 2);
        let anon = b.union_("", 8, &[("a", long, 0), ("b", int, 0)]);
        let s = b.struct_(
            "task",
            80,
            &[
                ("pid", int, 0),
                ("", anon, 64),
                ("comm", comm, 128),
                ("thread", inner, 256),
                ("pids", nodes, 384),
            ],
        );
        (Btf::parse(&b.build()).unwrap(), s)
    }

    fn at(btf: &Btf, id: TypeId, off: u64) -> Option<(String, u64)> {
        member_at(btf, id, off).map(|m| (m.path, m.offset))
    }

    #[test]
    fn members_by_offset() {
        let (btf, s) = btf();
        assert_eq!(at(&btf, s, 0), Some(("pid".into(), 0)));
        assert_eq!(at(&btf, s, 3), Some(("pid".into(), 3)));
        // Padding after pid.
        assert_eq!(at(&btf, s, 5), None);
        // Through the anonymous union: its first member.
        assert_eq!(at(&btf, s, 8), Some(("a".into(), 0)));
        assert_eq!(at(&btf, s, 0x13), Some(("comm".into(), 3)));
        assert_eq!(member_at(&btf, s, 0x10).unwrap().ty, "char [16]");
        assert_eq!(at(&btf, s, 0x28), Some(("thread.fs".into(), 0)));
        assert_eq!(at(&btf, s, 0x3c), Some(("pids[0].prev".into(), 4)));
        assert_eq!(at(&btf, s, 0x44), Some(("pids[1].next".into(), 4)));
        assert_eq!(at(&btf, s, 80), None);
        assert_eq!(at(&btf, s, u64::MAX), None);
    }
}
