//! Corrupt and hostile input: clear errors naming the structure and offset, never a panic.

use super::super::builder::BtfBuilder;
use super::super::layout::{int, kind};
use super::super::{Btf, BtfError};

fn good() -> BtfBuilder {
    let mut b = BtfBuilder::new();
    let i = b.int("int", 4, 32, int::SIGNED);
    b.struct_("s", 4, &[("x", i, 0)]);
    b
}

fn set_u32(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn headers() {
    let ok = good().build();
    assert!(Btf::parse(&ok).is_ok());
    assert_eq!(
        Btf::parse(&[]).unwrap_err(),
        BtfError::Truncated {
            what: "header magic",
            offset: 0,
            need: 2,
            have: 0
        }
    );
    assert_eq!(
        Btf::parse(&ok[..10]).unwrap_err().to_string(),
        "BTF truncated: header type_off at offset 0x8 needs 4 bytes, 2 remain"
    );
    assert_eq!(
        Btf::parse(b"ELF\x7f....").unwrap_err(),
        BtfError::BadMagic(0x4c45)
    );
    let mut be = ok.clone();
    be[0] = 0xeb;
    be[1] = 0x9f;
    assert_eq!(Btf::parse(&be).unwrap_err(), BtfError::BigEndian);
    let mut v = ok.clone();
    v[2] = 2;
    assert_eq!(
        Btf::parse(&v).unwrap_err().to_string(),
        "unsupported BTF version 2"
    );
    let mut h = ok.clone();
    set_u32(&mut h, 4, 8);
    assert_eq!(
        Btf::parse(&h).unwrap_err().to_string(),
        "bad BTF header: header length 8 is less than 24"
    );
    set_u32(&mut h, 4, 0x1000);
    assert!(Btf::parse(&h)
        .unwrap_err()
        .to_string()
        .contains("header length 4096 is more than"));
    let mut t = ok.clone();
    set_u32(&mut t, 12, 0xffff_fff0); // type_len
    assert!(Btf::parse(&t)
        .unwrap_err()
        .to_string()
        .starts_with("bad BTF header: the type section (0x0+0xfffffff0) runs past the end"));
    let mut s = ok.clone();
    set_u32(&mut s, 16, 0xffff_ffff); // str_off
    assert!(Btf::parse(&s)
        .unwrap_err()
        .to_string()
        .contains("the string section"));
    // A string section that does not end with NUL.
    let mut n = ok.clone();
    let last = n.len() - 1;
    n[last] = b'x';
    assert_eq!(
        Btf::parse(&n).unwrap_err().to_string(),
        "bad BTF header: the string section must start and end with a NUL byte"
    );
    // Empty string section.
    let mut e = ok.clone();
    set_u32(&mut e, 20, 0);
    assert!(matches!(Btf::parse(&e), Err(BtfError::Header(_))));
}

#[test]
fn records() {
    // A record cut short.
    let mut b = good();
    b.raw(&[1, 2, 3, 4, 5]);
    assert_eq!(
        Btf::parse(&b.build()).unwrap_err(),
        BtfError::RecordTruncated {
            id: 3,
            offset: 24 + 40,
            need: 12
        }
    );
    // A struct claiming more members than there are bytes.
    let mut b = good();
    b.raw_record(0, kind::STRUCT, 1000, 4);
    assert_eq!(
        Btf::parse(&b.build()).unwrap_err().to_string(),
        "BTF type 3 at offset 0x40: record of 12012 bytes runs past the type section"
    );
    // An unknown kind.
    let mut b = good();
    b.raw_record(0, 25, 0, 0);
    assert_eq!(
        Btf::parse(&b.build()).unwrap_err(),
        BtfError::UnknownKind {
            id: 3,
            offset: 0x40,
            kind: 25
        }
    );
    // A type name outside the string section.
    let mut b = good();
    b.raw_record(0x7fff_0000, kind::PTR, 0, 1);
    assert_eq!(
        Btf::parse(&b.build()).unwrap_err().to_string(),
        "BTF type 3 at offset 0x40: name offset 0x7fff0000 is outside the string section"
    );
    // A member name outside the string section.
    let mut data = good().build();
    // The struct's member record starts at 24 + 16 + 12; its name is its first word.
    set_u32(&mut data, 24 + 16 + 12, 0x10_0000);
    assert_eq!(
        Btf::parse(&data).unwrap_err(),
        BtfError::BadNameOffset {
            id: 2,
            offset: 24 + 16 + 12,
            name_off: 0x10_0000
        }
    );
}

#[test]
fn strings() {
    let mut b = BtfBuilder::new();
    b.int("é", 4, 32, 0);
    let mut data = b.build();
    // Point the name into the middle of the two-byte 'é'.
    set_u32(&mut data, 24, 2);
    assert!(matches!(
        Btf::parse(&data),
        Err(BtfError::BadNameOffset {
            id: 1,
            name_off: 2,
            ..
        })
    ));
    // Invalid UTF-8 in the string section.
    let mut data = b.build();
    let at = data.len() - 2;
    data[at] = 0xff;
    assert_eq!(
        Btf::parse(&data).unwrap_err(),
        BtfError::BadString { offset: 1 }
    );
}

#[test]
fn an_empty_type_section_is_fine() {
    let data = BtfBuilder::new().build();
    let btf = Btf::parse(&data).unwrap();
    assert_eq!(btf.type_count(), 0);
    assert!(btf.find("int").is_err());
    assert_eq!(Btf::default().type_count(), 0);
}
