//! Decoding, encoding and format detection of ORC entries, against raw bytes of real kernels.

use super::*;

fn entry(kind: OrcKind, signal: bool) -> OrcEntry {
    OrcEntry {
        sp_reg: OrcReg::Sp,
        bp_reg: OrcReg::PrevSp,
        sp_offset: 16,
        bp_offset: -16,
        kind,
        signal,
    }
}

#[test]
fn decodes_both_layouts() {
    // Values seen in the 6.1 and 6.12 images: flags 0x0005 (6.1 CALL, SP), 0x0400
    // (6.1 end of stack), 0x0105 (6.1 REGS), 0x0205 (6.12 CALL), 0x0100 (6.12
    // END_OF_STACK), 0x0b05 (6.12 REGS + signal), 0x0c05 (6.12 REGS_PARTIAL + signal).
    let d = |flags: u16, f| {
        let b = flags.to_le_bytes();
        OrcEntry::decode([8, 0, 0, 0, b[0], b[1]], f)
    };
    assert_eq!(d(0x0005, OrcFormat::Legacy), OrcEntry::call(8));
    assert_eq!(d(0x0400, OrcFormat::Legacy).kind, OrcKind::EndOfStack);
    assert_eq!(d(0x0000, OrcFormat::Legacy).kind, OrcKind::Undefined);
    let regs = d(0x0105, OrcFormat::Legacy);
    assert_eq!((regs.kind, regs.signal), (OrcKind::Regs, true));
    assert_eq!(d(0x0205, OrcFormat::Current), OrcEntry::call(8));
    assert_eq!(d(0x0100, OrcFormat::Current).kind, OrcKind::EndOfStack);
    assert_eq!(d(0x0000, OrcFormat::Current).kind, OrcKind::Undefined);
    let regs = d(0x0b05, OrcFormat::Current);
    assert_eq!((regs.kind, regs.signal), (OrcKind::Regs, true));
    let partial = d(0x0c05, OrcFormat::Current);
    assert_eq!((partial.kind, partial.signal), (OrcKind::RegsPartial, true));
    assert_eq!(d(0x0705, OrcFormat::Current).kind, OrcKind::Undefined);
    assert_eq!(d(0x000c, OrcFormat::Current).sp_reg, OrcReg::Other(12));
}

#[test]
fn legacy_undefined_sp_reg_is_end_or_undefined_whatever_the_type() {
    // 5.10/6.1: `sp_reg == UNDEFINED` is checked before the type: the `end` bit makes
    // it the end of the stack, otherwise an error; type 3 was never defined.
    for ty in 0..4u16 {
        let d = |flags: u16| {
            let b = flags.to_le_bytes();
            OrcEntry::decode([0, 0, 0, 0, b[0], b[1]], OrcFormat::Legacy).kind
        };
        assert_eq!(d(ty << 8), OrcKind::Undefined);
        assert_eq!(d(ty << 8 | 1 << 10), OrcKind::EndOfStack);
        let want = [
            OrcKind::Call,
            OrcKind::Regs,
            OrcKind::RegsPartial,
            OrcKind::Undefined,
        ];
        assert_eq!(d(5 | ty << 8), want[usize::from(ty)]);
    }
    // 6.4+: types 5..7 are not defined; a CALL with sp_reg UNDEFINED stays a CALL
    // (the walk rejects its base register, as the kernel does).
    for ty in 5..8u16 {
        let b = (3 | ty << 8).to_le_bytes();
        let e = OrcEntry::decode([0, 0, 0, 0, b[0], b[1]], OrcFormat::Renumbered);
        assert_eq!(e.kind, OrcKind::Undefined);
    }
    let e = OrcEntry::decode([8, 0, 0, 0, 0, 2], OrcFormat::Current);
    assert_eq!((e.kind, e.sp_reg), (OrcKind::Call, OrcReg::Undefined));
}

#[test]
fn encode_decode_round_trip() {
    for kind in [OrcKind::Call, OrcKind::Regs, OrcKind::RegsPartial] {
        for signal in [false, true] {
            let e = entry(kind, signal);
            for f in [OrcFormat::Current, OrcFormat::Renumbered] {
                assert_eq!(OrcEntry::decode(e.encode(f), f), e);
            }
            assert_eq!(OrcEntry::unpack(e.pack()), Some(e));
        }
        let e = entry(kind, kind != OrcKind::Call);
        assert_eq!(
            OrcEntry::decode(e.encode(OrcFormat::Legacy), OrcFormat::Legacy),
            e
        );
    }
}

const ALL_REGS: [OrcReg; 16] = [
    OrcReg::Undefined,
    OrcReg::PrevSp,
    OrcReg::Dx,
    OrcReg::Di,
    OrcReg::Bp,
    OrcReg::Sp,
    OrcReg::R10,
    OrcReg::R13,
    OrcReg::BpIndirect,
    OrcReg::SpIndirect,
    OrcReg::Ax,
    OrcReg::Other(11),
    OrcReg::Other(12),
    OrcReg::Other(13),
    OrcReg::Other(14),
    OrcReg::Other(15),
];

#[test]
fn register_numberings() {
    // Classic (4.14..7.0; AX 10 from 96f3b16a9de5) and 7.x's renumbered set.
    let classic = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    let renumbered = [0, 8, 2, 5, 4, 3, 6, 7, 10, 9, 1, 11, 12, 13, 14, 15];
    for (i, reg) in ALL_REGS.into_iter().enumerate() {
        for f in [OrcFormat::Legacy, OrcFormat::Current] {
            assert_eq!(reg.encode(f), classic[i], "{reg:?} {f:?}");
            assert_eq!(OrcReg::decode(classic[i], f), reg);
        }
        assert_eq!(reg.encode(OrcFormat::Renumbered), renumbered[i], "{reg:?}");
        assert_eq!(OrcReg::decode(renumbered[i], OrcFormat::Renumbered), reg);
        assert_eq!(OrcReg::from_bits(reg.bits()), reg);
    }
}

#[test]
fn every_register_round_trips_in_every_format() {
    for format in [OrcFormat::Legacy, OrcFormat::Current, OrcFormat::Renumbered] {
        for sp_reg in ALL_REGS.into_iter().filter(|&r| r != OrcReg::Undefined) {
            for bp_reg in ALL_REGS {
                let e = OrcEntry {
                    sp_reg,
                    bp_reg,
                    sp_offset: -40,
                    bp_offset: 24,
                    kind: OrcKind::Call,
                    signal: false,
                };
                assert_eq!(OrcEntry::decode(e.encode(format), format), e, "{format:?}");
                assert_eq!(OrcEntry::unpack(e.pack()), Some(e));
            }
        }
    }
}

/// Raw entries of Debian's 7.2.13+deb14-cloud-amd64 vmlinuz (package
/// linux-image-7.2.13+deb14-cloud-amd64_7.2.13-1_amd64.deb), each the first entry of
/// its kind in `.orc_unwind`, with its link-time ip (found by
/// `cargo run --example orc_histogram`; the package's System.map is a stub, so no
/// function names).
const REAL_7_2: [(u64, [u8; 6]); 14] = [
    (0xffff_ffff_8100_0000, [0x08, 0x00, 0x00, 0x00, 0x03, 0x02]),
    (0xffff_ffff_8120_00f6, [0x10, 0x00, 0xf0, 0xff, 0x83, 0x02]),
    (0xffff_ffff_8120_0a08, [0x10, 0x00, 0xf0, 0xff, 0x84, 0x02]),
    (0xffff_ffff_8122_22af, [0xd8, 0xff, 0x00, 0x00, 0x4a, 0x02]),
    (0xffff_ffff_8135_2233, [0x88, 0x00, 0xd0, 0xff, 0x89, 0x02]),
    (0xffff_ffff_812d_0d49, [0x10, 0x00, 0x00, 0x00, 0x09, 0x02]),
    (0xffff_ffff_8122_7900, [0x00, 0x00, 0x00, 0x00, 0x06, 0x02]),
    (0xffff_ffff_8129_768d, [0x00, 0x00, 0x00, 0x00, 0x47, 0x02]),
    (0xffff_ffff_8100_1d79, [0x08, 0x00, 0x00, 0x00, 0x02, 0x0c]),
    (0xffff_ffff_8100_00d2, [0x00, 0x00, 0x00, 0x00, 0x03, 0x0b]),
    (0xffff_ffff_8100_01db, [0x18, 0x00, 0x00, 0x00, 0x03, 0x0c]),
    (0xffff_ffff_8100_1240, [0x00, 0x00, 0x00, 0x00, 0x03, 0x04]),
    (0xffff_ffff_8100_000a, [0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
    (0xffff_ffff_8100_0080, [0x00, 0x00, 0x00, 0x00, 0x00, 0x01]),
];

#[test]
fn decodes_real_7_2_entries() {
    use OrcKind::{Call, EndOfStack, Regs, RegsPartial};
    use OrcReg::{Bp, BpIndirect, Di, Dx, PrevSp, Sp, SpIndirect, R10, R13};
    const U: OrcReg = OrcReg::Undefined;
    let expected = [
        (Sp, 8, U, 0, Call, false),
        (Sp, 16, PrevSp, -16, Call, false),
        (Bp, 16, PrevSp, -16, Call, false),
        (BpIndirect, -40, Bp, 0, Call, false),
        (SpIndirect, 0x88, PrevSp, -48, Call, false),
        (SpIndirect, 16, U, 0, Call, false),
        (R10, 0, U, 0, Call, false),
        (R13, 0, Bp, 0, Call, false),
        (Dx, 8, U, 0, RegsPartial, true),
        (Sp, 0, U, 0, Regs, true),
        (Sp, 24, U, 0, RegsPartial, true),
        (Sp, 0, U, 0, RegsPartial, false),
        (U, 0, U, 0, OrcKind::Undefined, false),
        (U, 0, U, 0, EndOfStack, false),
    ];
    for ((ip, raw), (sp_reg, sp_offset, bp_reg, bp_offset, kind, signal)) in
        REAL_7_2.into_iter().zip(expected)
    {
        let want = OrcEntry {
            sp_reg,
            bp_reg,
            sp_offset,
            bp_offset,
            kind,
            signal,
        };
        assert_eq!(
            OrcEntry::decode(raw, OrcFormat::Renumbered),
            want,
            "{ip:#x}"
        );
        assert_eq!(want.encode(OrcFormat::Renumbered), raw, "{ip:#x}");
    }
    // What 6.x's numbering made of them: SP read as DI, PREV_SP as BP_INDIRECT (the
    // "bad unwind data (register BpIndirect)" of every sleeping task on 7.2).
    let wrong = OrcEntry::decode(REAL_7_2[1].1, OrcFormat::Current);
    assert_eq!((wrong.sp_reg, wrong.bp_reg), (Di, BpIndirect));
    // The whole sample is recognised as renumbered.
    let data: Vec<u8> = REAL_7_2.iter().flat_map(|(_, raw)| *raw).collect();
    assert_eq!(OrcFormat::guess(&data), Some(OrcFormat::Renumbered));
    assert_eq!(OrcFormat::of_kernel(true, &data), OrcFormat::Renumbered);
}

#[test]
fn guess() {
    let mut legacy = Vec::new();
    let mut current = Vec::new();
    for _ in 0..10 {
        legacy.extend_from_slice(&OrcEntry::call(8).encode(OrcFormat::Legacy));
        current.extend_from_slice(&OrcEntry::call(8).encode(OrcFormat::Current));
    }
    let mut renumbered = Vec::new();
    for _ in 0..10 {
        renumbered.extend_from_slice(&OrcEntry::call(8).encode(OrcFormat::Renumbered));
    }
    assert_eq!(OrcFormat::guess(&legacy), Some(OrcFormat::Legacy));
    assert_eq!(OrcFormat::guess(&current), Some(OrcFormat::Current));
    assert_eq!(OrcFormat::guess(&renumbered), Some(OrcFormat::Renumbered));
    assert_eq!(OrcFormat::guess(&[]), None);
    let mut mixed = current.clone();
    mixed.extend_from_slice(&renumbered);
    assert_eq!(OrcFormat::guess(&mixed), None);

    // With `.orc_header` only the numbering is in question, Current when unsure.
    assert_eq!(OrcFormat::of_kernel(true, &current), OrcFormat::Current);
    assert_eq!(
        OrcFormat::of_kernel(true, &renumbered),
        OrcFormat::Renumbered
    );
    assert_eq!(OrcFormat::of_kernel(true, &mixed), OrcFormat::Current);
    assert_eq!(OrcFormat::of_kernel(true, &[]), OrcFormat::Current);
    assert_eq!(OrcFormat::of_kernel(false, &legacy), OrcFormat::Legacy);
    assert_eq!(OrcFormat::of_kernel(false, &current), OrcFormat::Current);
    assert_eq!(OrcFormat::of_kernel(false, &[]), OrcFormat::Legacy);
}
