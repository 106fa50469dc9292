//! Property tests: no input makes the BTF parser, its lookups or the value printer panic or
//! hang. Arbitrary bytes, arbitrary headers, and valid blobs with random bytes changed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use qmdb_kernel::btf::builder::BtfBuilder;
use qmdb_kernel::btf::layout::int;
use qmdb_kernel::btf::render::{self, Style};
use qmdb_kernel::btf::value::{Decoder, Memory, Options};
use qmdb_kernel::btf::{Btf, CType};

/// A blob with every kind, bitfields, anonymous members, a cycle and a self pointer.
fn rich() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let i = b.int("int", 4, 32, int::SIGNED); // 1
    let c = b.int("char", 1, 8, int::SIGNED); // 2
    let ul = b.int("long unsigned int", 8, 64, 0); // 3
    let p = b.ptr(c); // 4
    let arr = b.array(c, i, 16); // 5
    let anon = b.union_("", 8, &[("a", ul, 0), ("b", i, 0)]); // 6
    let e = b.enum_("e", 4, false, &[("A", 1), ("B", 2), ("C", 4)]); // 7
    let e64 = b.enum64("e64", 8, true, &[("BIG", 1 << 40)]); // 8
    let td = b.typedef("t", 10); // 9 -> 10
    let td2 = b.typedef("u", 9); // 10 -> 9 (a cycle)
    let fwd = b.fwd("opaque", false); // 11
    let proto = b.func_proto(i, &[("x", i), ("", 0)]); // 12
    let f = b.func("fn", proto, 1); // 13
    let v = b.var("v", i, 1); // 14
    b.datasec(".data", 4, &[(v, 0, 4)]); // 15
    b.float("double", 8); // 16
    b.decl_tag("tag", f, -1); // 17
    let tt = b.type_tag("user", i); // 18
    let cst = b.const_(p); // 19
    let vol = b.volatile(tt); // 20
    let fp = b.ptr(proto); // 21
    let sp = b.next_id() + 1;
    b.struct_bitfields(
        "s",
        96,
        &[
            ("x", i, 0, 0),
            ("bf", i, 32, 3),
            ("", anon, 64, 0),
            ("name", arr, 128, 0),
            ("p", cst, 256, 0),
            ("e", e, 320, 0),
            ("e64", e64, 384, 0),
            ("self", sp, 448, 0),
            ("fp", fp, 512, 0),
            ("v", vol, 576, 0),
            ("loop", td, 608, 0),
            ("o", fwd, 640, 0),
            ("t2", td2, 704, 0),
        ],
    ); // 22
    b.ptr(22); // 23
    b.var("w", 25, 0); // 24 -> 25
    b.var("w2", 24, 0); // 25 -> 24 (a cycle of variables)
    b.build()
}

/// Memory where every read returns `fill`.
struct Fill(Vec<u8>);

impl Memory for Fill {
    type Error = ();
    fn read(&mut self, _addr: u64, len: usize) -> Result<Vec<u8>, ()> {
        Ok(self.0.iter().copied().cycle().take(len.min(4096)).collect())
    }
    fn symbol(&self, addr: u64) -> Option<String> {
        addr.is_multiple_of(3).then(|| format!("sym+{addr:#x}"))
    }
}

/// Runs every lookup and the printer over every type of `btf`.
fn exercise(btf: &Btf, bytes: &[u8]) {
    let n = btf.type_count() as u32;
    let opts = Options {
        max_values: 2000,
        ..Options::default()
    };
    let layout = Options {
        values: false,
        ..opts.clone()
    };
    for id in 0..=n + 1 {
        let name = btf.type_name(id);
        let _ = btf.size_of(id);
        let _ = btf.resolve(id);
        let _ = btf.find(&name);
        for path in [
            "x", "bf", "a", "name[3]", "self.x", "loop.x", "p[1]", "x->y",
        ] {
            let _ = btf.member(id, path);
        }
        if let Some(t) = btf.type_by_id(id) {
            for m in btf.members(t) {
                let _ = btf.member_info(&m);
            }
            let _ = btf.enumerators(t).count();
            let _ = btf.params(t).count();
            let _ = (t.int(), t.array(), t.secinfo(0), t.var_linkage());
        }
        let ct = CType::of(id);
        let mut mem = Fill(bytes.to_vec());
        let root = Decoder::new(btf, &mut mem, &opts, 0xffff_8880_0000_0000, bytes)
            .root(&ct, "", 0, 0)
            .unwrap();
        let style = Style {
            types: true,
            addrs: true,
            values: true,
            ..Style::default()
        };
        let _ = render::lines(&root, 0xffff_8880_0000_0000, Some("m"), &style);
        let _ = render::json(&root.value);
        let root = Decoder::new(btf, &mut mem, &layout, 0, &[])
            .root(&ct, "", 0, 0)
            .unwrap();
        let _ = render::lines(&root, 0, None, &Style::default());
        let _ = render::layout_json(&root);
    }
    for text in [
        "s",
        "struct s",
        "t",
        "unsigned long",
        "char *[4]",
        "e64 *",
        "[",
        "*",
    ] {
        let _ = btf
            .find(text)
            .map(|c| (btf.ctype_name(&c), btf.size_of_ctype(&c)));
    }
}

#[test]
fn the_rich_blob_parses_and_prints() {
    let btf = Btf::parse(&rich()).unwrap();
    assert_eq!(btf.type_count(), 25);
    exercise(&btf, &[0x41; 128]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(btf) = Btf::parse(&data) {
            exercise(&btf, &data);
        }
    }

    #[test]
    fn arbitrary_headers_never_panic(
        hdr_len in prop_oneof![Just(24u32), any::<u32>()],
        fields in proptest::array::uniform4(prop_oneof![0u32..128, any::<u32>()]),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut data = vec![0x9f, 0xeb, 1, 0];
        data.extend_from_slice(&hdr_len.to_le_bytes());
        for f in fields {
            data.extend_from_slice(&f.to_le_bytes());
        }
        data.extend_from_slice(&body);
        if let Ok(btf) = Btf::parse(&data) {
            exercise(&btf, &body);
        }
    }

    #[test]
    fn mutated_blobs_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        memory in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut data = rich();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        if let Ok(btf) = Btf::parse(&data) {
            exercise(&btf, &memory);
        }
    }
}
