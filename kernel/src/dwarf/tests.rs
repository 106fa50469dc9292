//! Hand-assembled DWARF 4: a small unit that converts, and corruptions of it (truncation, bad
//! abbreviation offsets, dangling references, unknown abbreviation codes, flipped bytes) that
//! must come back as errors naming an offset, never as panics or endless loops.

use super::{btf_from_dwarf, convert, DwarfError};
use crate::btf::{Btf, Kind};
use gimli::{DwarfSections, EndianSlice, RunTimeEndian, SectionId};

const DW_TAG_COMPILE_UNIT: u8 = 0x11;
const DW_TAG_BASE_TYPE: u8 = 0x24;
const DW_TAG_STRUCTURE_TYPE: u8 = 0x13;
const DW_TAG_MEMBER: u8 = 0x0d;
const DW_TAG_POINTER_TYPE: u8 = 0x0f;
const DW_AT_NAME: u8 = 0x03;
const DW_AT_BYTE_SIZE: u8 = 0x0b;
const DW_AT_ENCODING: u8 = 0x3e;
const DW_AT_TYPE: u8 = 0x49;
const DW_AT_DATA_MEMBER_LOCATION: u8 = 0x38;
const DW_FORM_STRING: u8 = 0x08;
const DW_FORM_DATA1: u8 = 0x0b;
const DW_FORM_REF4: u8 = 0x13;

/// Abbreviation codes of [`abbrev`].
const CU: u8 = 1;
const BASE: u8 = 2;
const STRUCT: u8 = 3;
const MEMBER: u8 = 4;
const POINTER: u8 = 5;

fn abbrev() -> Vec<u8> {
    let decl = |code: u8, tag: u8, children: bool, attrs: &[(u8, u8)]| {
        let mut v = vec![code, tag, u8::from(children)];
        for (at, form) in attrs {
            v.extend([*at, *form]);
        }
        v.extend([0, 0]);
        v
    };
    let mut a = Vec::new();
    a.extend(decl(
        CU,
        DW_TAG_COMPILE_UNIT,
        true,
        &[(DW_AT_NAME, DW_FORM_STRING)],
    ));
    a.extend(decl(
        BASE,
        DW_TAG_BASE_TYPE,
        false,
        &[
            (DW_AT_NAME, DW_FORM_STRING),
            (DW_AT_BYTE_SIZE, DW_FORM_DATA1),
            (DW_AT_ENCODING, DW_FORM_DATA1),
        ],
    ));
    a.extend(decl(
        STRUCT,
        DW_TAG_STRUCTURE_TYPE,
        true,
        &[
            (DW_AT_NAME, DW_FORM_STRING),
            (DW_AT_BYTE_SIZE, DW_FORM_DATA1),
        ],
    ));
    a.extend(decl(
        MEMBER,
        DW_TAG_MEMBER,
        false,
        &[
            (DW_AT_NAME, DW_FORM_STRING),
            (DW_AT_TYPE, DW_FORM_REF4),
            (DW_AT_DATA_MEMBER_LOCATION, DW_FORM_DATA1),
        ],
    ));
    a.extend(decl(
        POINTER,
        DW_TAG_POINTER_TYPE,
        false,
        &[(DW_AT_BYTE_SIZE, DW_FORM_DATA1), (DW_AT_TYPE, DW_FORM_REF4)],
    ));
    a.push(0);
    a
}

/// A DWARF 4 unit assembler: DIEs appended in order, references patched at the end.
struct Unit {
    bytes: Vec<u8>,
    patches: Vec<(usize, &'static str)>,
    labels: Vec<(&'static str, usize)>,
}

impl Unit {
    fn new() -> Unit {
        let mut bytes = vec![0; 4]; // unit_length, patched
        bytes.extend(4u16.to_le_bytes());
        bytes.extend(0u32.to_le_bytes()); // debug_abbrev_offset
        bytes.push(8);
        Unit {
            bytes,
            patches: Vec::new(),
            labels: Vec::new(),
        }
    }
    fn label(&mut self, name: &'static str) -> &mut Unit {
        self.labels.push((name, self.bytes.len()));
        self
    }
    fn code(&mut self, c: u8) -> &mut Unit {
        self.bytes.push(c);
        self
    }
    fn string(&mut self, s: &str) -> &mut Unit {
        self.bytes.extend(s.as_bytes());
        self.bytes.push(0);
        self
    }
    fn data1(&mut self, v: u8) -> &mut Unit {
        self.bytes.push(v);
        self
    }
    fn reference(&mut self, label: &'static str) -> &mut Unit {
        self.patches.push((self.bytes.len(), label));
        self.bytes.extend([0; 4]);
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        for &(at, label) in &self.patches {
            let (_, off) = self
                .labels
                .iter()
                .find(|(l, _)| *l == label)
                .expect("label");
            self.bytes[at..at + 4].copy_from_slice(&(*off as u32).to_le_bytes());
        }
        let len = (self.bytes.len() - 4) as u32;
        self.bytes[..4].copy_from_slice(&len.to_le_bytes());
        self.bytes.clone()
    }
}

/// `struct node { struct node *next; int val; }`.
fn sample() -> Vec<u8> {
    let mut u = Unit::new();
    u.code(CU).string("t.c");
    u.label("int").code(BASE).string("int").data1(4).data1(5);
    u.label("node").code(STRUCT).string("node").data1(16);
    u.code(MEMBER).string("next").reference("ptr").data1(0);
    u.code(MEMBER).string("val").reference("int").data1(8);
    u.code(0);
    u.label("ptr").code(POINTER).data1(8).reference("node");
    u.code(0);
    u.finish()
}

fn convert_raw(info: &[u8], abbrev: &[u8]) -> Result<Vec<u8>, DwarfError> {
    let sections: DwarfSections<&[u8]> = DwarfSections::load(|id| -> Result<&[u8], DwarfError> {
        Ok(match id {
            SectionId::DebugInfo => info,
            SectionId::DebugAbbrev => abbrev,
            _ => &[],
        })
    })?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, RunTimeEndian::Little));
    Ok(convert::convert(&dwarf, false)?.build())
}

#[test]
fn sample_converts() {
    let btf = Btf::parse(&convert_raw(&sample(), &abbrev()).unwrap()).unwrap();
    let node = btf.find("struct node").unwrap().plain().unwrap();
    assert_eq!(btf.size_of(node).unwrap(), 16);
    assert_eq!(btf.member(node, "val").unwrap().bit_offset, 64);
    let next = btf.resolved(btf.member(node, "next").unwrap().ty).unwrap();
    assert_eq!((next.kind, next.target()), (Kind::Ptr, Some(node)));
}

#[test]
fn truncated_info_is_an_error() {
    let info = sample();
    let abbrev = abbrev();
    for len in 1..info.len() {
        let e = convert_raw(&info[..len], &abbrev).unwrap_err();
        assert!(e.to_string().contains("offset 0x0"), "{len}: {e}");
    }
    let mut short = info.clone();
    short[..4].copy_from_slice(&20u32.to_le_bytes()); // the unit ends inside the struct
    assert!(convert_raw(&short, &abbrev).is_err());
}

#[test]
fn bad_abbrev_offset_is_an_error() {
    let mut info = sample();
    info[6..10].copy_from_slice(&0x1000u32.to_le_bytes());
    assert!(matches!(
        convert_raw(&info, &abbrev()),
        Err(DwarfError::Abbreviations {
            unit: 0,
            abbrev: 0x1000,
            ..
        })
    ));
    assert!(convert_raw(&sample(), &abbrev()[..5]).is_err());
}

#[test]
fn dangling_reference_is_an_error() {
    let mut u = Unit::new();
    u.code(CU).string("t.c");
    u.label("s").code(STRUCT).string("s").data1(8);
    u.code(MEMBER).string("m").reference("far").data1(0);
    u.code(0);
    u.code(0);
    u.labels.push(("far", 0x7fff));
    let e = convert_raw(&u.finish(), &abbrev()).unwrap_err();
    assert!(
        matches!(e, DwarfError::BadReference { target: 0x7fff, .. }),
        "{e}"
    );
}

#[test]
fn unknown_abbreviation_is_an_error() {
    let mut info = sample();
    let at = info.iter().position(|&b| b == STRUCT).unwrap();
    info[at] = 9;
    let e = convert_raw(&info, &abbrev()).unwrap_err();
    assert!(matches!(e, DwarfError::Die { .. }), "{e}");
}

#[test]
fn cycles_and_deep_chains_are_bounded() {
    // A pointer to itself, and 500 pointers each to the next.
    let mut u = Unit::new();
    u.code(CU).string("t.c");
    u.label("s").code(STRUCT).string("s").data1(16);
    u.code(MEMBER).string("loop").reference("self").data1(0);
    u.code(MEMBER).string("deep").reference("p0").data1(8);
    u.code(0);
    u.label("self").code(POINTER).data1(8).reference("self");
    const NAMES: [&str; 8] = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    for i in 0..500 {
        if let Some(name) = NAMES.get(i) {
            u.label(name);
        }
        u.code(POINTER).data1(8);
        let next = u.bytes.len() + 4;
        u.bytes.extend((next as u32).to_le_bytes());
    }
    u.code(BASE).string("int").data1(4).data1(5);
    u.code(0);
    let btf = Btf::parse(&convert_raw(&u.finish(), &abbrev()).unwrap()).unwrap();
    let s = btf.find("struct s").unwrap().plain().unwrap();
    assert_eq!(btf.member(s, "deep").unwrap().bit_offset, 64);
    assert!(btf.type_count() < 200);
}

#[test]
fn flipped_bytes_never_panic() {
    let info = sample();
    let abbrev = abbrev();
    for at in 0..info.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut bad = info.clone();
            bad[at] ^= x;
            if let Ok(blob) = convert_raw(&bad, &abbrev) {
                Btf::parse(&blob).unwrap();
            }
        }
    }
    for at in 0..abbrev.len() {
        let mut bad = abbrev.clone();
        bad[at] ^= 0x41;
        let _ = convert_raw(&info, &bad);
    }
}

#[test]
fn not_an_elf() {
    assert!(matches!(btf_from_dwarf(b"junk"), Err(DwarfError::Elf(_))));
    assert!(matches!(btf_from_dwarf(&[]), Err(DwarfError::Elf(_))));
}
