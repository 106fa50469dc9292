//! One test per base register, bp register, type and special case of the kernel's
//! `unwind_next_frame()` (5.10 .. 7.2; see frame.rs).

use super::*;

// Function X holds the entry under test,
// started at X+0x10; Y is a frame-pointer function (CFA = bp + 16, bp at CFA - 16) that
// shows the bp X's frame left; C (`CALL sp+8`) and R (end of stack) finish the walk. Every
// table goes through raw sections in each format whose bits can hold the entry.
const X: u64 = 0xd000;
const Y: u64 = 0xe000;

fn fp_entry() -> OrcEntry {
    OrcEntry {
        sp_reg: OrcReg::Bp,
        bp_reg: OrcReg::PrevSp,
        sp_offset: 16,
        bp_offset: -16,
        kind: OrcKind::Call,
        signal: false,
    }
}

fn formats_for(entry: OrcEntry) -> Vec<OrcFormat> {
    let mut v = vec![OrcFormat::Current, OrcFormat::Renumbered];
    // Legacy has no signal bit (REGS types imply it) and no type for UNDEFINED/END.
    let legacy_signal = matches!(entry.kind, OrcKind::Regs | OrcKind::RegsPartial);
    let legacy_kind = matches!(entry.kind, OrcKind::Undefined | OrcKind::EndOfStack)
        == (entry.sp_reg == OrcReg::Undefined);
    if entry.signal == legacy_signal && legacy_kind {
        v.push(OrcFormat::Legacy);
    }
    v
}

/// `pairs()` plus X's `entry` and Y, through sections in `format`.
fn table_with(entry: OrcEntry, format: OrcFormat) -> OrcTable {
    let undef = e(OrcReg::Undefined, 0, OrcKind::Undefined, false);
    let mut p = pairs();
    for (off, en) in [
        (X, entry),
        (X + 0x100, undef),
        (Y, fp_entry()),
        (Y + 0x100, undef),
    ] {
        p.push((TEXT_LINK + off, en));
    }
    p.sort_by_key(|&(ip, _)| ip);
    let base = TEXT_LINK + 0x20_0000;
    let (mut ips, mut unwind) = (Vec::new(), Vec::new());
    for (i, (ip, en)) in p.iter().enumerate() {
        let rel = ip.wrapping_sub(base + 4 * i as u64) as i64 as i32;
        ips.extend_from_slice(&rel.to_le_bytes());
        unwind.extend_from_slice(&en.encode(format));
    }
    let t = OrcTable::from_sections(base, &ips, &unwind, format).unwrap();
    assert_eq!(t.lookup(rt(X), SLIDE), Some(entry), "{format:?}");
    t
}

/// Unwinds from `start` with X's `entry`, in every format that can hold it; all must
/// agree, and the result is returned.
fn walk_x(entry: OrcEntry, mem: &Mem, start: UnwindStart) -> Backtrace {
    let mut result = None;
    for format in formats_for(entry) {
        let t = table_with(entry, format);
        let mut m = Mem {
            mapped: mem.mapped.clone(),
            words: mem.words.clone(),
            ..Mem::default()
        };
        let bt = run(Some(&t), &task(), &mut m, start, no_scan());
        if let Some(prev) = &result {
            assert_eq!(&bt, prev, "{format:?}");
        }
        result = Some(bt);
    }
    result.unwrap()
}

fn call_x(sp_reg: OrcReg, sp_offset: i16, bp_reg: OrcReg, bp_offset: i16) -> OrcEntry {
    OrcEntry {
        sp_reg,
        bp_reg,
        sp_offset,
        bp_offset,
        kind: OrcKind::Call,
        signal: false,
    }
}

const SP0: u64 = S + 0x3c00;

/// Memory for "X returns to C at `cfa`, C returns to R".
fn returns_to_c(cfa: u64) -> Mem {
    let mut mem = Mem::task_stack();
    mem.put(cfa - 8, rt(C + 0x30)).put(cfa, rt(R + 5));
    mem
}

fn ends_through_c(bt: &Backtrace) {
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(bt), [rt(X + 0x10), rt(C + 0x30), rt(R + 5)]);
    assert!(bt.frames.iter().all(|f| f.reliable));
}

#[test]
fn sp_reg_sp() {
    let cfa = SP0 + 0x28;
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
    let bt = walk_x(
        call_x(OrcReg::Sp, 0x28, OrcReg::Undefined, 0),
        &returns_to_c(cfa),
        start,
    );
    ends_through_c(&bt);
    assert_eq!(bt.frames[1].sp, cfa);
}

#[test]
fn sp_reg_bp() {
    let bp = SP0 + 0x40;
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, bp);
    let bt = walk_x(
        call_x(OrcReg::Bp, 16, OrcReg::PrevSp, -16),
        &returns_to_c(bp + 16),
        start,
    );
    ends_through_c(&bt);
}

#[test]
fn sp_reg_sp_indirect_is_deref_sp_plus_offset() {
    // 5.12+ (87ccc826bf1c): CFA = *sp + offset (the IRQ-stack switch: the old sp is
    // saved at the top of the new stack).
    let saved = SP0 + 0x100;
    let mut mem = returns_to_c(saved + 0x18);
    mem.put(SP0, saved);
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
    let bt = walk_x(
        call_x(OrcReg::SpIndirect, 0x18, OrcReg::Undefined, 0),
        &mem,
        start,
    );
    ends_through_c(&bt);
    assert_eq!(bt.frames[1].sp, saved + 0x18);
}

#[test]
fn sp_reg_bp_indirect_is_deref_bp_plus_offset() {
    // All versions (GCC's DRAP): CFA = *(bp + offset); 7.2 has 253 such entries, e.g.
    // `BP_INDIRECT-40, bp BP+0`.
    let bp = SP0 + 0x80;
    let cfa = SP0 + 0x200;
    let saved_bp = SP0 + 0x300;
    let mut mem = returns_to_c(cfa);
    mem.put(bp - 40, cfa).put(bp, saved_bp);
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, bp);
    let entry = call_x(OrcReg::BpIndirect, -40, OrcReg::Bp, 0);
    let bt = walk_x(entry, &mem, start);
    ends_through_c(&bt);
    assert_eq!(bt.frames[1].sp, cfa);
}

#[test]
fn sp_reg_from_full_registers() {
    // R10, R13, DI, DX (5.10+) and AX (96f3b16a9de5): only from full registers, else the
    // walk stops as the kernel's does ("missing R10 value").
    for (reg, r) in [
        (OrcReg::R10, Reg::R10),
        (OrcReg::R13, Reg::R13),
        (OrcReg::Di, Reg::Di),
        (OrcReg::Dx, Reg::Dx),
        (OrcReg::Ax, Reg::Ax),
    ] {
        let cfa = SP0 + 0x60;
        let mem = returns_to_c(cfa);
        let entry = call_x(reg, 0, OrcReg::Undefined, 0);
        let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
        let bt = walk_x(entry, &mem, start);
        assert_eq!(
            bt.end,
            EndReason::MissingRegister {
                pc: rt(X + 0x10),
                reg
            }
        );
        let mut regs = kernel_regs(rt(X + 0x10), SP0, 0);
        regs.set(r, cfa);
        let bt = walk_x(entry, &mem, UnwindStart::from_regs(regs));
        ends_through_c(&bt);
    }
}

#[test]
fn sp_reg_from_the_registers_before_an_iret_frame() {
    // P's REGS_PARTIAL frame (an NMI in entry code) leaves only an iret frame; a DX-based
    // CFA after it comes from the full registers before it (the kernel's prev_regs).
    let cfa = SP0 + 0x200;
    let mut mem = returns_to_c(cfa);
    let iret = SP0;
    for (i, w) in [rt(X + 0x10), 0x10, 0x246, SP0 + 0x100, 0x18]
        .iter()
        .enumerate()
    {
        mem.put(iret + 8 * i as u64, *w);
    }
    let mut regs = kernel_regs(rt(P + 0x10), iret, 0);
    regs.set(Reg::Dx, cfa);
    let entry = call_x(OrcReg::Dx, 0, OrcReg::Undefined, 0);
    let t = table_with(entry, OrcFormat::Renumbered);
    let bt = run(
        Some(&t),
        &task(),
        &mut mem,
        UnwindStart::from_regs(regs),
        no_scan(),
    );
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(
        pcs(&bt),
        [rt(P + 0x10), rt(X + 0x10), rt(C + 0x30), rt(R + 5)]
    );
}

#[test]
fn sp_reg_not_a_base() {
    // UNDEFINED in a 6.4+ CALL entry, PREV_SP, and the undefined numbers: "unknown SP base
    // reg", an error.
    for reg in [
        OrcReg::Undefined,
        OrcReg::PrevSp,
        OrcReg::Other(11),
        OrcReg::Other(15),
    ] {
        let entry = call_x(reg, 8, OrcReg::Undefined, 0);
        let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
        let bt = walk_x(entry, &returns_to_c(SP0 + 8), start);
        assert_eq!(
            bt.end,
            EndReason::BadOrc {
                pc: rt(X + 0x10),
                reg
            }
        );
    }
}

/// X (`CALL sp+16` with `bp_reg`) returns to Y, a frame-pointer frame whose CFA comes
/// from the bp X left: `expected_bp`.
fn bp_after_x(bp_reg: OrcReg, bp_offset: i16, start_bp: u64, mem: &mut Mem, expected_bp: u64) {
    mem.put(SP0 + 8, rt(Y + 0x10));
    mem.put(expected_bp + 8, rt(R + 5));
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, start_bp);
    let bt = walk_x(call_x(OrcReg::Sp, 16, bp_reg, bp_offset), mem, start);
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(&bt), [rt(X + 0x10), rt(Y + 0x10), rt(R + 5)]);
    assert_eq!(bt.frames[2].sp, expected_bp + 16);
}

#[test]
fn bp_reg_undefined_keeps_bp() {
    let bp = SP0 + 0x80;
    bp_after_x(OrcReg::Undefined, 0, bp, &mut Mem::task_stack(), bp);
}

#[test]
fn bp_reg_prev_sp_reads_at_cfa_plus_offset() {
    // The common case: 7.2 encodes PREV_SP as 8 (BP_INDIRECT in the classic numbering).
    let saved = SP0 + 0xc0;
    let mut mem = Mem::task_stack();
    mem.put(SP0 + 16 - 16, saved);
    bp_after_x(OrcReg::PrevSp, -16, 0xdead, &mut mem, saved);
}

#[test]
fn bp_reg_bp_reads_at_bp_plus_offset() {
    let bp = SP0 + 0x80;
    let saved = SP0 + 0xc0;
    let mut mem = Mem::task_stack();
    mem.put(bp + 8, saved);
    bp_after_x(OrcReg::Bp, 8, bp, &mut mem, saved);
}

#[test]
fn bp_reg_other_is_an_error() {
    // 5.10 .. 7.2 accept only UNDEFINED, PREV_SP and BP as bp_reg; BP_INDIRECT and every
    // other value is "unknown BP base reg".
    for reg in [
        OrcReg::BpIndirect,
        OrcReg::SpIndirect,
        OrcReg::Sp,
        OrcReg::Dx,
        OrcReg::Di,
        OrcReg::R10,
        OrcReg::R13,
        OrcReg::Ax,
        OrcReg::Other(12),
    ] {
        let mut mem = returns_to_c(SP0 + 16);
        mem.put(SP0 + 0x40, SP0 + 0x80);
        let start = UnwindStart::sleeping(rt(X + 0x10), SP0, SP0 + 0x40);
        let bt = walk_x(call_x(OrcReg::Sp, 16, reg, 0), &mem, start);
        assert_eq!(
            bt.end,
            EndReason::BadOrc {
                pc: rt(X + 0x10),
                reg
            },
            "{reg:?}"
        );
        assert_eq!(bt.frames.len(), 1);
    }
}

#[test]
fn bp_reg_undefined_after_regs_takes_the_saved_bp() {
    // REGS at the CFA: the next bp is pt_regs->bp (the kernel's get_reg).
    let at = SP0 + 0x20;
    let saved_bp = SP0 + 0x300;
    let mut mem = Mem::task_stack();
    mem.put_regs(at, &kernel_regs(rt(Y + 0x10), SP0 + 0x200, saved_bp));
    mem.put(saved_bp + 8, rt(R + 5));
    let entry = OrcEntry {
        kind: OrcKind::Regs,
        signal: true,
        ..call_x(OrcReg::Sp, 0x20, OrcReg::Undefined, 0)
    };
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0xdead);
    let bt = walk_x(entry, &mem, start);
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(&bt), [rt(X + 0x10), rt(Y + 0x10), rt(R + 5)]);
    assert_eq!(
        bt.frames[1].kind,
        FrameKind::Regs {
            pt_regs: at,
            user: false
        }
    );
}

#[test]
fn type_regs_partial_reads_the_iret_frame() {
    let iret = SP0 + 0x18;
    let mut mem = returns_to_c(SP0 + 0x108);
    for (i, w) in [rt(C + 0x30), 0x10, 0x246, SP0 + 0x100, 0x18]
        .iter()
        .enumerate()
    {
        mem.put(iret + 8 * i as u64, *w);
    }
    mem.put(SP0 + 0x100, rt(R + 5));
    let entry = OrcEntry {
        kind: OrcKind::RegsPartial,
        signal: true,
        ..call_x(OrcReg::Sp, 0x18, OrcReg::Undefined, 0)
    };
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
    let bt = walk_x(entry, &mem, start);
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(&bt), [rt(X + 0x10), rt(C + 0x30), rt(R + 5)]);
    assert_eq!(
        bt.frames[1].kind,
        FrameKind::Regs {
            pt_regs: iret - crate::regs::IRET_FRAME_OFFSET,
            user: false
        }
    );
}

#[test]
fn type_undefined_and_end_of_stack() {
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
    let undefined = e(OrcReg::Undefined, 0, OrcKind::Undefined, false);
    let bt = walk_x(undefined, &Mem::task_stack(), start);
    assert_eq!(bt.end, EndReason::UndefinedOrc { pc: rt(X + 0x10) });
    let end = e(OrcReg::Undefined, 0, OrcKind::EndOfStack, false);
    let bt = walk_x(end, &Mem::task_stack(), start);
    assert_eq!(bt.end, EndReason::EndOfStack);
    assert_eq!(bt.frames.len(), 1);
}

#[test]
fn signal_bit_decides_the_next_lookup() {
    // 6.4+: the next lookup is at the ip itself only after an entry with `signal`, of any
    // type. X returns exactly to C's first byte: looked up there, C's `CALL sp+8`; at
    // C - 1, B's trailing UNDEFINED entry.
    for signal in [false, true] {
        let mut mem = Mem::task_stack();
        mem.put(SP0 + 8, rt(C)).put(SP0 + 16, rt(R + 5));
        let entry = OrcEntry {
            signal,
            ..call_x(OrcReg::Sp, 16, OrcReg::Undefined, 0)
        };
        for format in [OrcFormat::Current, OrcFormat::Renumbered] {
            let t = table_with(entry, format);
            let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
            let bt = run(Some(&t), &task(), &mut mem, start, no_scan());
            if signal {
                assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
                assert_eq!(pcs(&bt), [rt(X + 0x10), rt(C), rt(R + 5)]);
            } else {
                assert_eq!(bt.end, EndReason::UndefinedOrc { pc: rt(C) });
            }
        }
    }
}

#[test]
fn legacy_regs_frames_imply_signal() {
    // Up to 6.3 there is no bit: every REGS/REGS_PARTIAL frame makes the next lookup exact,
    // every CALL frame not.
    let at = SP0 + 0x20;
    let mut mem = Mem::task_stack();
    mem.put_regs(at, &kernel_regs(rt(C), SP0 + 0x200, 0));
    mem.put(SP0 + 0x200, rt(R + 5));
    let entry = OrcEntry {
        kind: OrcKind::Regs,
        signal: true,
        ..call_x(OrcReg::Sp, 0x20, OrcReg::Undefined, 0)
    };
    let t = table_with(entry, OrcFormat::Legacy);
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, 0);
    let bt = run(Some(&t), &task(), &mut mem, start, no_scan());
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(&bt), [rt(X + 0x10), rt(C), rt(R + 5)]);
}

#[test]
fn lookup_of_address_zero_uses_the_null_entry() {
    // A call through a NULL pointer: the exception's registers have ip 0, a signal frame;
    // the kernel's null_orc_entry (`CALL sp+8`) finds the caller.
    let mut mem = returns_to_c(SP0 + 8);
    mem.put(SP0, rt(C + 0x30)).put(SP0 + 8, rt(R + 5));
    let t = table();
    let regs = kernel_regs(0, SP0, 0);
    let bt = run(
        Some(&t),
        &task(),
        &mut mem,
        UnwindStart::from_regs(regs),
        no_scan(),
    );
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(&bt), [0, rt(C + 0x30), rt(R + 5)]);
    // Not a signal frame: ip 0 is looked up at 0 - 1, which no table covers (the kernel
    // then guesses a frame-pointer frame).
    let start = UnwindStart::sleeping(0, SP0, 0);
    let opts = UnwindOptions {
        guess_frame_pointer: false,
        ..no_scan()
    };
    let bt = run(Some(&t), &task(), &mut mem, start, opts);
    assert_eq!(bt.end, EndReason::NoOrc { pc: 0 });
}

#[test]
fn the_real_7_2_frame_pointer_entry_walks() {
    // 7.2.13's raw `[10 00 f0 ff 84 02]` (CALL bp+16, bp at PREV_SP-16), which 6.x's
    // numbering read as "bp_reg BP_INDIRECT" and stopped on.
    let raw = [0x10, 0x00, 0xf0, 0xff, 0x84, 0x02];
    let entry = OrcEntry::decode(raw, OrcFormat::Renumbered);
    assert_eq!(entry, fp_entry());
    let t = table_with(entry, OrcFormat::Renumbered);
    let bp = SP0 + 0x40;
    let mut mem = returns_to_c(bp + 16);
    mem.put(bp, 0);
    let start = UnwindStart::sleeping(rt(X + 0x10), SP0, bp);
    let bt = run(Some(&t), &task(), &mut mem, start, no_scan());
    ends_through_c(&bt);
}
