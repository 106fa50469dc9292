//! The decoder and the mdb text rendering of scalar kinds: enums (plain, flags, signed,
//! 64-bit), characters, floats, old-style bitfields, pointers with symbols and strings.

use super::super::builder::BtfBuilder;
use super::super::layout::int;
use super::super::render::{self, Style};
use super::super::value::{Decoder, Memory, NoMemory, Options, Value};
use super::super::{Btf, CType, TypeId};

/// Symbols at multiples of 0x1000; `"text"` at every address for strings.
struct Mem;

impl Memory for Mem {
    type Error = ();
    fn read(&mut self, _addr: u64, len: usize) -> Result<Vec<u8>, ()> {
        Ok(b"text\0".iter().copied().take(len).collect())
    }
    fn symbol(&self, addr: u64) -> Option<String> {
        (addr >= 0x1000).then(|| format!("sym+{:#x}", addr - 0x1000))
    }
}

fn show(btf: &Btf, id: TypeId, bytes: &[u8], style: Style) -> String {
    let opts = Options::default();
    let mut mem = Mem;
    let root = Decoder::new(btf, &mut mem, &opts, 0x100, bytes)
        .root(&CType::of(id), "", 0, 0)
        .unwrap();
    let style = Style {
        values: true,
        ..style
    };
    render::lines(&root, 0x100, None, &style).join("\n")
}

#[test]
fn scalars_print_as_mdb_prints_them() {
    let mut b = BtfBuilder::new();
    let plain = b.enum_("plain", 4, false, &[("A", 0), ("B", 1), ("C", 2), ("D", 3)]);
    let flags = b.enum_("flags", 4, false, &[("F1", 1), ("F2", 2), ("F4", 4)]);
    let signed = b.enum_("signed", 4, true, &[("NEG", -1), ("POS", 1)]);
    let wide = b.enum64("wide", 8, false, &[("HUGE", 1 << 40)]);
    let byte = b.enum_("byte", 1, false, &[("X", 7)]);
    let ch = b.int("char", 1, 8, int::SIGNED);
    let uch = b.int("unsigned char", 1, 8, 0);
    let boolean = b.int("_Bool", 1, 8, int::BOOL);
    let dbl = b.float("double", 8);
    let flt = b.float("float", 4);
    let old_bits = b.int_at("unsigned int", 4, 4, 2, 0);
    let sbits = b.int_at("int", 4, 4, 0, int::SIGNED);
    let cp = b.ptr(ch);
    let fwd = b.fwd("opaque", false);
    let proto = b.func_proto(0, &[]);
    let fp = b.ptr(proto);
    let s128 = b.int("__int128", 16, 128, int::SIGNED);
    let u128_t = b.int("unsigned __int128", 16, 128, 0);
    let ldbl = b.float("long double", 16);
    let btf = Btf::parse(&b.build()).unwrap();
    let v = |id, bytes: &[u8]| show(&btf, id, bytes, Style::default());
    let d = |id, bytes: &[u8]| {
        show(
            &btf,
            id,
            bytes,
            Style {
                decimal: true,
                ..Style::default()
            },
        )
    };
    assert_eq!(v(plain, &2u32.to_le_bytes()), "2 (C)");
    assert_eq!(v(plain, &9u32.to_le_bytes()), "9 (???)");
    assert_eq!(v(flags, &5u32.to_le_bytes()), "0x5 (F1|F4)");
    assert_eq!(v(flags, &0xdu32.to_le_bytes()), "0xd (F1|F4|0x8)");
    assert_eq!(v(flags, &2u32.to_le_bytes()), "0x2 (F2)");
    assert_eq!(v(signed, &(-1i32).to_le_bytes()), "-1 (NEG)");
    assert_eq!(v(wide, &(1u64 << 40).to_le_bytes()), "0x10000000000 (HUGE)");
    assert_eq!(v(byte, &[7]), "7 (X)");
    assert_eq!(v(ch, b"a"), "'a'");
    assert_eq!(v(ch, &[0]), "'\\0'");
    assert_eq!(v(ch, &[0xff]), "'\\xff'");
    assert_eq!(v(uch, &[0xff]), "0xff");
    assert_eq!(d(uch, &[0xff]), "255");
    assert_eq!(v(boolean, &[1]), "0x1");
    assert_eq!(v(dbl, &1.5f64.to_le_bytes()), "1.5000000e0");
    assert_eq!(v(flt, &2.0f32.to_le_bytes()), "2.0000000e0");
    // Old-style bitfield: 4 bits at bit 2 of the int.
    assert_eq!(v(old_bits, &[0b0011_1100, 0, 0, 0]), "0xf");
    assert_eq!(v(sbits, &[0b1111, 0, 0, 0]), "-1");
    assert_eq!(v(cp, &0u64.to_le_bytes()), "0");
    assert_eq!(v(cp, &0x1008u64.to_le_bytes()), "sym+0x8 \"text\"");
    assert_eq!(v(cp, &0x800u64.to_le_bytes()), "0x800 \"text\"");
    assert_eq!(v(fp, &0x1000u64.to_le_bytes()), "sym+0x0");
    assert_eq!(v(fwd, &[]), "<forward declaration of struct opaque>");
    assert_eq!(v(proto, &[]), "<function>");
    assert_eq!(v(0, &[]), "");
    let minus_two = (-2i128).to_le_bytes();
    assert_eq!(v(s128, &minus_two), "0xfffffffffffffffffffffffffffffffe");
    assert_eq!(d(s128, &minus_two), "-2");
    assert_eq!(
        v(u128_t, &(1u128 << 100).to_le_bytes()),
        "0x10000000000000000000000000"
    );
    assert_eq!(d(u128_t, &u128::MAX.to_le_bytes()), u128::MAX.to_string());
    assert_eq!(v(s128, &[0; 16]), "0");
    // long double: the x87 80-bit format in 16 bytes. 1.5 = mantissa 0xc000.., exponent 0x3fff;
    // -0.25 = mantissa 0x8000.., exponent 0x3ffd, sign set.
    let x87 = |mant: u64, se: u16| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&mant.to_le_bytes());
        b[8..10].copy_from_slice(&se.to_le_bytes());
        b
    };
    assert_eq!(v(ldbl, &x87(0xc000_0000_0000_0000, 0x3fff)), "1.5000000e0");
    assert_eq!(
        v(ldbl, &x87(0x8000_0000_0000_0000, 0xbffd)),
        "-2.5000000e-1"
    );
    assert_eq!(v(ldbl, &x87(0, 0)), "0.0000000e0");
    assert_eq!(v(plain, &[1, 2]), "??? (failed to read 4 bytes at 100)");
    assert_eq!(
        show(
            &btf,
            cp,
            &0x1008u64.to_le_bytes(),
            Style {
                types: true,
                addrs: true,
                ..Style::default()
            }
        ),
        "100 char * sym+0x8 \"text\""
    );
}

#[test]
fn json_values() {
    let mut b = BtfBuilder::new();
    let i = b.int("int", 4, 32, int::SIGNED);
    let e = b.enum_("e", 4, false, &[("A", 1), ("B", 3)]);
    let p = b.ptr(i);
    let arr = b.array(i, i, 2);
    let s = b.struct_(
        "s",
        24,
        &[("i", i, 0), ("e", e, 32), ("p", p, 64), ("a", arr, 128)],
    );
    let btf = Btf::parse(&b.build()).unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(-5i32).to_le_bytes());
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&0xffff_8880_0000_1000u64.to_le_bytes());
    bytes.extend_from_slice(&7i32.to_le_bytes());
    let opts = Options::default();
    let root = Decoder::new(&btf, &mut NoMemory, &opts, 0, &bytes)
        .root(&CType::of(s), "", 0, 0)
        .unwrap();
    assert_eq!(
        render::json(&root.value),
        serde_json::json!({
            "i": -5,
            "e": {"value": 3, "name": "B"},
            "p": "0xffff888000001000",
            "a": [7, null],
        })
    );
    match &root.value {
        Value::Composite { fields } => assert_eq!(fields.len(), 4),
        other => panic!("{other:?}"),
    }
}
