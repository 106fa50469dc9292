//! `::list`, `::xarray`, `::idr`, `::percpu` and the `hlist`, `rbtree`, `xarray` and `idr`
//! walkers over the mock target, with a small BTF of their own: what they print, pipe and
//! say of corrupt containers.

use crate::output::CaptureOutput;
use crate::session::Session;
use qmdb_kernel::btf::builder::BtfBuilder;
use qmdb_kernel::btf::Btf;
use qmdb_kernel::{Kernel, SymbolTable};
use qmdb_linux::mock::{MockTarget, TableSymbols};
use std::sync::Arc;

/// `struct item` number `i`: 0x100 bytes apart.
fn item(i: u64) -> u64 {
    0xffff_8880_0010_0000 + i * 0x100
}

/// Offsets in `struct item { u64 val; list_head link; hlist_node hnode; rb_node rb; }`.
const LINK: u64 = 8;
const HNODE: u64 = 24;
const RB: u64 = 40;

/// A bare list_head, an hlist_head, an rb_root, an xarray, an idr and a per-CPU variable.
const HEAD: u64 = 0xffff_8880_0020_0000;
const HHEAD: u64 = 0xffff_8880_0020_1000;
const ROOT: u64 = 0xffff_8880_0020_2000;
const XA: u64 = 0xffff_8880_0020_3000;
const IDR: u64 = 0xffff_8880_0020_4000;
const NODE: u64 = 0xffff_8880_0020_5000;
/// An xarray whose head is a node that cannot be read.
const BAD_XA: u64 = 0xffff_8880_0020_6000;
const CPUS: u64 = 0xffff_ffff_8200_0000;
const MYVAR: u64 = 0x2_0000;

const SYMS: TableSymbols = TableSymbols(&[
    ("nr_cpu_ids", CPUS, 4),
    ("__per_cpu_offset", CPUS + 0x10, 16),
    ("myvar", MYVAR, 8),
]);

fn btf() -> Btf {
    let mut b = BtfBuilder::new();
    let u8t = b.int("unsigned char", 1, 8, 0);
    let u32t = b.int("unsigned int", 4, 32, 0);
    let u64t = b.int("long unsigned int", 8, 64, 0);
    let voidp = b.ptr(0);
    let lh = b.struct_("list_head", 16, &[("next", voidp, 0), ("prev", voidp, 64)]);
    let hn = b.struct_(
        "hlist_node",
        16,
        &[("next", voidp, 0), ("pprev", voidp, 64)],
    );
    b.struct_("hlist_head", 8, &[("first", voidp, 0)]);
    let rb = b.struct_(
        "rb_node",
        24,
        &[
            ("__rb_parent_color", u64t, 0),
            ("rb_right", voidp, 64),
            ("rb_left", voidp, 128),
        ],
    );
    let rbl = b.struct_(
        "rb_node_linked",
        40,
        &[("node", rb, 0), ("prev", voidp, 192)],
    );
    b.struct_(
        "item",
        104,
        &[
            ("val", u64t, 0),
            ("link", lh, 64),
            ("hnode", hn, 192),
            ("rb", rb, 320),
            ("rbl", rbl, 512),
        ],
    );
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
    b.struct_("idr", 24, &[("idr_rt", xa, 0), ("idr_base", u32t, 128)]);
    b.struct_(
        "xa_node",
        576,
        &[
            ("shift", u8t, 0),
            ("offset", u8t, 8),
            ("parent", voidp, 64),
            ("slots", slots, 320),
        ],
    );
    Btf::parse(&b.build()).unwrap()
}

/// Items 0-2 on the ring at HEAD, on the chain at HHEAD and in the tree at ROOT (1 at the
/// root); items 4-5 on a ring with no head whose last points back into it (a cycle); the
/// xarray: index 0 item 0, index 3 a value entry (0x2a); the idr: the same with base 1.
fn target() -> MockTarget {
    let mut t = MockTarget::new();
    let ring = [HEAD, item(0) + LINK, item(1) + LINK, item(2) + LINK];
    for i in 0..6u64 {
        let mut b = vec![0u8; 0x100];
        let mut put = |at: u64, v: u64| {
            let at = at as usize;
            b[at..at + 8].copy_from_slice(&v.to_le_bytes())
        };
        put(0, 0x100 + i);
        if i < 3 {
            put(LINK, ring[(i as usize + 2) % 4]);
            put(LINK + 8, ring[i as usize]);
            put(HNODE, if i < 2 { item(i + 1) + HNODE } else { 0 });
        }
        if i == 1 {
            put(RB + 8, item(2) + RB);
            put(RB + 16, item(0) + RB);
        }
        if i == 4 {
            put(LINK, item(5) + LINK);
        }
        if i == 5 {
            put(LINK, item(5) + LINK);
        }
        t = t.with_bytes(item(i), &b);
    }
    let node_slots: Vec<u64> = (0..72)
        .map(|w| match w {
            5 => item(0),
            8 => (0x2a << 1) | 1,
            _ => 0,
        })
        .collect();
    t.with_u64s(HEAD, &[item(0) + LINK, item(2) + LINK])
        .with_u64s(HHEAD, &[item(0) + HNODE])
        .with_u64s(ROOT, &[item(1) + RB])
        .with_u64s(XA, &[0, NODE | 2])
        .with_u64s(IDR, &[0, NODE | 2, 1])
        .with_u64s(NODE, &node_slots)
        .with_u64s(BAD_XA, &[0, 0xdead_0000 | 2])
        .with_u64s(CPUS, &[2, 0, 0x1000, 0x2000])
}

fn session() -> Session {
    let mut s = Session::new(Box::new(target()));
    qmdb_linux::load::install(
        &mut s,
        Kernel {
            release: None,
            banner: None,
            slide: 0,
            symbols: Arc::new(SymbolTable::new(vec![])),
            types: Some(Arc::new(btf())),
            orc: None,
            notes: Vec::new(),
        },
    );
    s.set_symbols(Box::new(SYMS));
    s
}

fn run(s: &mut Session, line: &str) -> CaptureOutput {
    let mut out = CaptureOutput::new();
    s.execute(line, &mut out);
    out
}

fn text(s: &mut Session, line: &str) -> String {
    run(s, line).text().to_string()
}

fn hexes(items: &[u64]) -> String {
    items.iter().map(|a| format!("{a:x}\n")).collect()
}

#[test]
fn list_walks_from_a_head_or_an_element() {
    let mut s = session();
    let items = [item(0), item(1), item(2)];
    assert_eq!(
        text(&mut s, &format!("{HEAD:x}::list -H item link")),
        hexes(&items)
    );
    assert_eq!(
        text(&mut s, &format!("{HEAD:x}::list -H struct item link")),
        hexes(&items)
    );
    // From an element: it first, and the bare head shows up as a bogus entry.
    let from1 = [item(1), item(2), HEAD - LINK, item(0)];
    assert_eq!(
        text(&mut s, &format!("{:x}::list item link", item(1))),
        hexes(&from1)
    );
    // Piped, and JSON.
    assert_eq!(
        text(
            &mut s,
            &format!("{HEAD:x}::list -H item link | ::print item val")
        ),
        "val = 0x100\nval = 0x101\nval = 0x102\n"
    );
    let out = run(&mut s, &format!("{HEAD:x}::list -H item link"));
    assert_eq!(out.records()[0].data[1]["addr"], format!("{:#x}", item(1)));
}

#[test]
fn list_ends_a_cycle_or_a_wild_pointer_with_a_warning() {
    let mut s = session();
    let out = run(&mut s, &format!("{:x}::list item link", item(4)));
    let rec = &out.records()[0];
    assert!(rec.ok, "{rec:?}");
    assert_eq!(
        rec.output,
        vec![format!("{:x}", item(4)), format!("{:x}", item(5))]
    );
    assert!(rec.warnings[0].contains("cycle"), "{rec:?}");
    // Item 3's link is NULL.
    let out = run(&mut s, &format!("{:x}::list item link", item(3)));
    assert!(out.records()[0].warnings[0].contains("NULL"), "{out:?}");
    // A head that cannot be read is an error naming it.
    let t = text(&mut s, "1000::list -H item link");
    assert!(
        t.starts_with("qmdb: failed to read") && t.contains("1000"),
        "{t}"
    );
}

#[test]
fn list_refuses_members_that_are_not_list_heads() {
    let mut s = session();
    let t = text(&mut s, &format!("{HEAD:x}::list item val"));
    assert!(t.contains("not a struct list_head"), "{t}");
    assert!(text(&mut s, &format!("{HEAD:x}::list item nosuch")).contains("nosuch"));
    assert!(text(&mut s, &format!("{HEAD:x}::list item")).contains("type and a member"));
    assert!(text(&mut s, &format!("{HEAD:x}::list nosuch link")).contains("nosuch"));
    assert!(text(&mut s, "::list item link").contains("needs an address"));
}

#[test]
fn hlist_and_rbtree_walkers_emit_nodes_or_containers() {
    let mut s = session();
    let items = [item(0), item(1), item(2)];
    let nodes: Vec<u64> = items.iter().map(|a| a + HNODE).collect();
    assert_eq!(
        text(&mut s, &format!("{HHEAD:x}::walk hlist")),
        hexes(&nodes)
    );
    assert_eq!(
        text(&mut s, &format!("{HHEAD:x}::walk hlist item hnode")),
        hexes(&items)
    );
    let nodes: Vec<u64> = items.iter().map(|a| a + RB).collect();
    assert_eq!(
        text(&mut s, &format!("{ROOT:x}::walk rbtree")),
        hexes(&nodes)
    );
    assert_eq!(
        text(&mut s, &format!("{ROOT:x}::walk rbtree struct item rb")),
        hexes(&items)
    );
    // A struct that starts with an rb_node is one.
    let t = text(&mut s, &format!("{ROOT:x}::walk rbtree item rbl"));
    assert_eq!(t.lines().count(), 3, "{t}");
    let t = text(&mut s, &format!("{ROOT:x}::walk rbtree item link"));
    assert!(t.contains("not a struct rb_node"), "{t}");
    let t = text(&mut s, &format!("{ROOT:x}::walk rbtree item"));
    assert!(t.contains("a type and a member"), "{t}");
}

#[test]
fn xarray_and_idr_show_indices_and_emit_pointers() {
    let mut s = session();
    let t = text(&mut s, &format!("{XA:x}::xarray"));
    assert_eq!(
        t,
        format!(
            "     INDEX            ENTRY\n         0 {:x}\n         3               55 (value 0x2a)\n",
            item(0)
        )
    );
    let out = run(&mut s, &format!("{IDR:x}::idr"));
    let data = &out.records()[0].data;
    assert_eq!(data[0]["index"], 1);
    assert_eq!(data[1]["index"], 4);
    assert_eq!(data[1]["value"], 0x2a);
    let out = run(&mut s, &format!("{XA:x}::walk xarray"));
    let rec = &out.records()[0];
    assert_eq!(rec.output, vec![format!("{:x}", item(0))]);
    assert!(rec.warnings[0].contains("1 value entries"), "{rec:?}");
    for cmd in ["::walk idr", "::idr"] {
        let t = text(&mut s, &format!("{IDR:x}{cmd} | ::print item val"));
        assert!(t.ends_with("\nval = 0x100\n"), "{t}");
        assert!(t.contains("1 value entries"), "{t}");
    }
    // A node that cannot be read ends the walk with a warning naming it.
    let out = run(&mut s, &format!("{BAD_XA:x}::xarray"));
    let rec = &out.records()[0];
    assert!(
        rec.ok && rec.warnings[0].contains("node dead0000"),
        "{rec:?}"
    );
}

#[test]
fn percpu_adds_each_cpus_offset() {
    let mut s = session();
    let want = format!(
        "CPU             ADDR\n  0 {:>16x}\n  1 {:>16x}\n",
        MYVAR + 0x1000,
        MYVAR + 0x2000
    );
    assert_eq!(text(&mut s, "::percpu myvar"), want);
    assert_eq!(text(&mut s, "myvar::percpu"), want);
    assert_eq!(
        text(&mut s, "::percpu -c 1 myvar"),
        format!("CPU             ADDR\n  1 {:>16x}\n", MYVAR + 0x2000)
    );
    let out = run(&mut s, "::percpu myvar");
    assert_eq!(out.records()[0].data[1]["cpu"], 1);
    assert!(text(&mut s, "::percpu -c 2 myvar").contains("not a possible CPU"));
    assert!(text(&mut s, "::percpu nosuch").contains("nosuch"));
    assert!(text(&mut s, "::percpu").contains("needs a symbol or an address"));
    assert!(text(&mut s, "myvar::percpu myvar").contains("not both"));
}
