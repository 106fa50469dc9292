//! The unwinders over hand-built stacks and a hand-built ORC table, and property tests.

use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

const TEXT_LINK: u64 = 0xffff_ffff_8100_0000;
const SLIDE: u64 = 0x1e0_0000;
const TEXT: u64 = TEXT_LINK + SLIDE;
const TEXT_LEN: u64 = 0x10_0000;
/// Task stack and IRQ stack (runtime).
const S: u64 = 0xffff_c900_0040_0000;
const I: u64 = 0xffff_c900_0000_0000;

// Functions, as offsets into text.
const A: u64 = 0x1000;
const B: u64 = 0x2000;
const C: u64 = 0x3000;
const R: u64 = 0x4000; // like ret_from_fork: end of stack
const E: u64 = 0x5000; // like entry_SYSCALL_64: pt_regs at sp
const G: u64 = 0x6000; // IRQ entry: pt_regs at *sp
const H: u64 = 0x7000;
const K: u64 = 0x8000; // no unwind data on its first instructions
const L: u64 = 0x9000; // bad data: CFA = sp
const M: u64 = 0xa000; // CFA in R10
const N: u64 = 0xb000; // CFA far above
const P: u64 = 0xc000; // iret frame at sp

fn rt(off: u64) -> u64 {
    TEXT + off
}

fn is_text(a: u64) -> bool {
    (TEXT..TEXT + TEXT_LEN).contains(&a)
}

fn e(sp_reg: OrcReg, sp_offset: i16, kind: OrcKind, signal: bool) -> OrcEntry {
    OrcEntry {
        sp_reg,
        bp_reg: OrcReg::Undefined,
        sp_offset,
        bp_offset: 0,
        kind,
        signal,
    }
}

fn pairs() -> Vec<(u64, OrcEntry)> {
    let undef = e(OrcReg::Undefined, 0, OrcKind::Undefined, false);
    let mut v = vec![
        (A, OrcEntry::call(8)),
        (
            A + 1,
            OrcEntry {
                bp_reg: OrcReg::PrevSp,
                bp_offset: -16,
                ..OrcEntry::call(16)
            },
        ),
        (B, OrcEntry::call(8)),
        (B + 4, OrcEntry::call(32)),
        (C, OrcEntry::call(8)),
        (R, e(OrcReg::Undefined, 0, OrcKind::EndOfStack, false)),
        (E, e(OrcReg::Undefined, 0, OrcKind::EndOfStack, false)),
        (E + 0x40, e(OrcReg::Sp, 0, OrcKind::Regs, true)),
        (G, e(OrcReg::SpIndirect, 0, OrcKind::Regs, true)),
        (H, OrcEntry::call(8)),
        (K, undef),
        (K + 7, OrcEntry::call(8)),
        (L, e(OrcReg::Sp, 0, OrcKind::Call, false)),
        (M, e(OrcReg::R10, 8, OrcKind::Call, false)),
        (N, OrcEntry::call(0x5000)),
        (P, e(OrcReg::Sp, 0, OrcKind::RegsPartial, true)),
    ];
    for f in [A, B, C, R, E, G, H, K, L, M, N, P] {
        v.push((f + 0x100, undef));
    }
    v.into_iter().map(|(o, e)| (TEXT_LINK + o, e)).collect()
}

fn table() -> OrcTable {
    OrcTable::from_entries(OrcFormat::Current, pairs())
}

/// The same entries through raw sections in `format`.
fn table_via_sections(format: OrcFormat) -> OrcTable {
    let mut p = pairs();
    p.sort_by_key(|&(ip, _)| ip);
    let base = TEXT_LINK + 0x20_0000;
    let (mut ips, mut unwind) = (Vec::new(), Vec::new());
    for (i, (ip, entry)) in p.iter().enumerate() {
        let rel = ip.wrapping_sub(base + 4 * i as u64) as i64 as i32;
        ips.extend_from_slice(&rel.to_le_bytes());
        unwind.extend_from_slice(&entry.encode(format));
    }
    OrcTable::from_sections(base, &ips, &unwind, format).unwrap()
}

/// Guest memory: mapped ranges read as zero unless set; whole pages can fault.
#[derive(Default)]
struct Mem {
    mapped: Vec<Range<u64>>,
    words: HashMap<u64, u64>,
    bad_pages: HashSet<u64>,
    reads: usize,
}

impl Mem {
    fn new(mapped: &[Range<u64>]) -> Mem {
        Mem {
            mapped: mapped.to_vec(),
            ..Mem::default()
        }
    }
    /// Just the task stack mapped.
    fn task_stack() -> Mem {
        Mem {
            mapped: std::iter::once(S..S + 0x4000).collect(),
            ..Mem::default()
        }
    }
    fn put(&mut self, addr: u64, value: u64) -> &mut Self {
        self.words.insert(addr, value);
        self
    }
    fn put_regs(&mut self, at: u64, regs: &PtRegs) {
        for (i, w) in regs.0.iter().enumerate() {
            self.put(at + 8 * i as u64, *w);
        }
    }
}

impl StackMemory for Mem {
    fn read_u64(&mut self, addr: u64) -> Result<u64, StackReadError> {
        self.reads += 1;
        let fail = |reason: &str| StackReadError {
            addr,
            len: 8,
            reason: reason.to_string(),
        };
        if self.bad_pages.contains(&(addr & !0xfff)) {
            return Err(fail("E14"));
        }
        if !addr.is_multiple_of(8) || !self.mapped.iter().any(|r| r.contains(&addr)) {
            return Err(fail("no mapping"));
        }
        Ok(self.words.get(&addr).copied().unwrap_or(0))
    }
}

fn task() -> Vec<StackRegion> {
    vec![StackRegion::task(S, THREAD_SIZE)]
}

fn task_and_irq() -> Vec<StackRegion> {
    vec![
        StackRegion {
            range: I..I + 0x4000,
            kind: StackKind::Irq,
        },
        StackRegion::task(S, THREAD_SIZE),
    ]
}

fn run(
    table: Option<&OrcTable>,
    regions: &[StackRegion],
    mem: &mut Mem,
    start: UnwindStart,
    options: UnwindOptions,
) -> Backtrace {
    let text = is_text;
    let ctx = UnwindContext {
        orc: table,
        slide: SLIDE,
        regions,
        text: &text,
        options,
    };
    unwind(&ctx, mem, &start)
}

fn no_scan() -> UnwindOptions {
    UnwindOptions {
        scan_after_failure: false,
        ..UnwindOptions::default()
    }
}

fn pcs(bt: &Backtrace) -> Vec<u64> {
    bt.frames.iter().map(|f| f.pc).collect()
}

fn kernel_regs(ip: u64, sp: u64, bp: u64) -> PtRegs {
    let mut r = PtRegs::default();
    r.set(Reg::Ip, ip);
    r.set(Reg::Sp, sp);
    r.set(Reg::Bp, bp);
    r.set(Reg::Cs, 0x10);
    r
}

/// A → B → C → R (end of stack), started from a sleeping task's return address.
fn three_frames() -> (Mem, UnwindStart) {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x3e00;
    mem.put(sp0, S + 0x3f80).put(sp0 + 8, rt(B + 0x20)); // A: saved bp, return to B
    let sp1 = sp0 + 16;
    mem.put(sp1 + 24, rt(C + 0x30)); // B: 32-byte frame
    let sp2 = sp1 + 32;
    mem.put(sp2, rt(R + 5)); // C: 8-byte frame
    (mem, UnwindStart::sleeping(rt(A + 0x10), sp0, 0xdead))
}

#[test]
fn three_frame_call_chain() {
    let (mut mem, start) = three_frames();
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        start,
        UnwindOptions::default(),
    );
    assert_eq!(bt.end, EndReason::EndOfStack);
    assert_eq!(
        pcs(&bt),
        [rt(A + 0x10), rt(B + 0x20), rt(C + 0x30), rt(R + 5)]
    );
    let sps: Vec<u64> = bt.frames.iter().map(|f| f.sp).collect();
    assert_eq!(sps, [S + 0x3e00, S + 0x3e10, S + 0x3e30, S + 0x3e38]);
    assert!(bt.frames.iter().all(|f| f.reliable));
    assert_eq!(bt.frames[0].kind, FrameKind::Initial);
    assert!(bt.frames[1..].iter().all(|f| f.kind == FrameKind::Call));
    assert!(bt.end.is_complete());
}

#[test]
fn legacy_and_current_tables_unwind_alike() {
    let (mut mem, start) = three_frames();
    let expected = run(
        Some(&table()),
        &task(),
        &mut mem,
        start,
        UnwindOptions::default(),
    );
    for format in [OrcFormat::Legacy, OrcFormat::Current] {
        let (mut mem, start) = three_frames();
        let t = table_via_sections(format);
        let bt = run(Some(&t), &task(), &mut mem, start, UnwindOptions::default());
        assert_eq!(bt, expected, "{format:?}");
    }
}

#[test]
fn regs_frame_ends_in_user_mode() {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x3e00;
    mem.put(sp0, rt(E + 0x48)); // H returns into the syscall entry
    let regs_at = sp0 + 8;
    let mut user = PtRegs::default();
    user.set(Reg::Ip, 0x40_1000);
    user.set(Reg::Sp, 0x7ffd_0000);
    user.set(Reg::Cs, 0x33);
    mem.put_regs(regs_at, &user);
    let start = UnwindStart::sleeping(rt(H + 0x10), sp0, 0);
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        start,
        UnwindOptions::default(),
    );
    assert_eq!(
        bt.end,
        EndReason::UserMode {
            pc: 0x40_1000,
            sp: 0x7ffd_0000
        }
    );
    assert_eq!(pcs(&bt), [rt(H + 0x10), rt(E + 0x48), 0x40_1000]);
    assert_eq!(
        bt.frames[2].kind,
        FrameKind::Regs {
            pt_regs: regs_at,
            user: true
        }
    );
}

#[test]
fn user_mode_start_has_no_frames() {
    let mut mem = Mem::new(&[]);
    let mut regs = PtRegs::default();
    regs.set(Reg::Cs, 0x33);
    regs.set(Reg::Ip, 0x40_1000);
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        UnwindStart::from_regs(regs),
        no_scan(),
    );
    assert!(bt.frames.is_empty());
    assert!(matches!(bt.end, EndReason::UserMode { pc: 0x40_1000, .. }));
}

/// H on the IRQ stack, returning into G, whose saved sp points at a pt_regs on the task
/// stack; the interrupted K then returns to R.
fn irq_to_task(back_to_irq: bool) -> Backtrace {
    let mut mem = Mem::new(&[I..I + 0x4000, S..S + 0x4000]);
    let sp0 = I + 0x3f00;
    mem.put(sp0, rt(G + 0x10)).put(sp0 + 8, S + 0x3e00);
    mem.put_regs(S + 0x3e00, &kernel_regs(rt(K + 7), S + 0x3f00, 0x77));
    if back_to_irq {
        // K "returns" into G again, whose saved sp leads back to the IRQ stack.
        mem.put(S + 0x3f00, rt(G + 0x10))
            .put(S + 0x3f08, I + 0x3f40);
        mem.put_regs(I + 0x3f40, &kernel_regs(rt(K + 7), I + 0x3ff0, 0));
    } else {
        mem.put(S + 0x3f00, rt(R + 5));
    }
    let start = UnwindStart::sleeping(rt(H + 0x10), sp0, 0);
    run(Some(&table()), &task_and_irq(), &mut mem, start, no_scan())
}

#[test]
fn irq_stack_switches_to_task_stack() {
    let bt = irq_to_task(false);
    assert_eq!(bt.end, EndReason::EndOfStack);
    // K+7 is looked up exactly (K..K+7 has no unwind data), after the registers frame.
    assert_eq!(pcs(&bt), [rt(H + 0x10), rt(G + 0x10), rt(K + 7), rt(R + 5)]);
    assert_eq!(
        bt.frames[2].kind,
        FrameKind::Regs {
            pt_regs: S + 0x3e00,
            user: false
        }
    );
    assert_eq!(bt.frames[2].sp, S + 0x3f00);
}

#[test]
fn going_back_to_a_stack_already_left_stops() {
    let bt = irq_to_task(true);
    assert_eq!(
        bt.end,
        EndReason::NotProgressing {
            sp: I + 0x3ff0,
            prev_sp: S + 0x3f08
        }
    );
    assert_eq!(bt.frames.len(), 4);
}

#[test]
fn sp_not_increasing_stops() {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x3e00;
    mem.put(sp0 - 8, rt(L + 0x10));
    let start = UnwindStart::sleeping(rt(L + 0x10), sp0, 0);
    let bt = run(Some(&table()), &task(), &mut mem, start, no_scan());
    assert_eq!(
        bt.end,
        EndReason::NotProgressing {
            sp: sp0,
            prev_sp: sp0
        }
    );
    assert_eq!(bt.frames.len(), 1);
}

#[test]
fn sp_outside_regions_stops() {
    let mut mem = Mem::new(&[S..S + 0x4000, S + 0x4000..S + 0x8000]);
    let sp0 = S + 0x3e00;
    let start = UnwindStart::sleeping(rt(N + 0x10), sp0, 0);
    let bt = run(Some(&table()), &task(), &mut mem, start, no_scan());
    // The return address slot, sp + 0x5000 - 8, is past the task stack.
    assert_eq!(
        bt.end,
        EndReason::OutOfBounds {
            sp: sp0 + 0x5000 - 8
        }
    );

    // An iret frame whose sp is nowhere.
    let mut mem = Mem::task_stack();
    mem.put(sp0, rt(P + 0x10));
    for (i, w) in [rt(K + 7), 0x10, 0x246, 0x1234, 0x18].iter().enumerate() {
        mem.put(sp0 + 8 + 8 * i as u64, *w);
    }
    let start = UnwindStart::sleeping(rt(H + 0x10), sp0, 0);
    let bt = run(Some(&table()), &task(), &mut mem, start, no_scan());
    assert_eq!(bt.end, EndReason::OutOfBounds { sp: 0x1234 });
    assert_eq!(bt.frames.len(), 2);

    // A start outside every region.
    let start = UnwindStart::sleeping(rt(H + 0x10), 0x1000, 0);
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        start,
        UnwindOptions::default(),
    );
    assert_eq!(bt.end, EndReason::OutOfBounds { sp: 0x1000 });
    assert_eq!(bt.frames.len(), 1);
}

#[test]
fn read_fault_then_scan_gives_unreliable_frames() {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x1ff8;
    mem.put(sp0, rt(B + 0x20));
    mem.bad_pages.insert(S + 0x2000);
    mem.put(S + 0x3100, rt(C + 0x30))
        .put(S + 0x3108, 0x1234)
        .put(S + 0x3200, rt(R + 5));
    let start = UnwindStart::sleeping(rt(H + 0x10), sp0, 0);
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        start,
        UnwindOptions::default(),
    );
    assert!(matches!(bt.end, EndReason::ReadFault { addr, .. } if addr == S + 0x2018));
    assert_eq!(
        pcs(&bt),
        [rt(H + 0x10), rt(B + 0x20), rt(C + 0x30), rt(R + 5)]
    );
    assert!(bt.frames[..2].iter().all(|f| f.reliable));
    assert_eq!(bt.frames[2].kind, FrameKind::Scanned { slot: S + 0x3100 });
    assert_eq!(bt.frames[3].sp, S + 0x3208);
    assert!(bt.frames[2..].iter().all(|f| !f.reliable));
}

#[test]
fn no_orc_entry() {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x3e00;
    let bp = sp0 + 0x40;
    mem.put(bp, 0)
        .put(bp + 8, rt(C + 0x30))
        .put(bp + 16, rt(R + 5));
    let start = UnwindStart::sleeping(rt(0x10), sp0, bp);
    let opts = UnwindOptions {
        guess_frame_pointer: false,
        ..UnwindOptions::default()
    };
    let bt = run(Some(&table()), &task(), &mut mem, start, opts);
    assert_eq!(bt.end, EndReason::NoOrc { pc: rt(0x10) });
    // The scan finds both text words above sp.
    assert_eq!(pcs(&bt), [rt(0x10), rt(C + 0x30), rt(R + 5)]);
    assert!(bt.frames[1..]
        .iter()
        .all(|f| matches!(f.kind, FrameKind::Scanned { .. })));

    // The kernel's guess: a frame-pointer frame, unreliable from then on.
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        start,
        UnwindOptions::default(),
    );
    assert_eq!(bt.end, EndReason::EndOfStack);
    assert_eq!(pcs(&bt), [rt(0x10), rt(C + 0x30), rt(R + 5)]);
    assert!(bt.frames[1..]
        .iter()
        .all(|f| !f.reliable && f.kind == FrameKind::Call));
}

#[test]
fn register_based_cfa_needs_registers() {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x3e00;
    let r10 = sp0 + 0x20;
    mem.put(r10 - 8, rt(C + 0x30)).put(r10, rt(R + 5));
    let start = UnwindStart::sleeping(rt(M + 0x10), sp0, 0);
    let bt = run(Some(&table()), &task(), &mut mem, start, no_scan());
    assert_eq!(
        bt.end,
        EndReason::MissingRegister {
            pc: rt(M + 0x10),
            reg: OrcReg::R10
        }
    );
    let mut regs = kernel_regs(rt(M + 0x10), sp0, 0);
    regs.set(Reg::R10, r10);
    let bt = run(
        Some(&table()),
        &task(),
        &mut mem,
        UnwindStart::from_regs(regs),
        no_scan(),
    );
    assert_eq!(bt.end, EndReason::EndOfStack);
    assert_eq!(pcs(&bt), [rt(M + 0x10), rt(C + 0x30), rt(R + 5)]);
}

#[test]
fn frame_limit() {
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x100;
    let mut sp = sp0;
    while sp + 32 < S + 0x4000 {
        mem.put(sp + 24, rt(B + 0x20));
        sp += 32;
    }
    let start = UnwindStart::sleeping(rt(B + 0x20), sp0, 0);
    for max in [0, 1, 10, 256] {
        let opts = UnwindOptions {
            max_frames: max,
            ..UnwindOptions::default()
        };
        let bt = run(Some(&table()), &task(), &mut mem, start, opts);
        assert_eq!(bt.end, EndReason::TooManyFrames);
        assert_eq!(bt.frames.len(), max);
    }
}

#[test]
fn frame_pointer_chain() {
    let mut mem = Mem::task_stack();
    let bp0 = S + 0x3e00;
    mem.put(bp0, S + 0x3e40).put(bp0 + 8, rt(B + 0x20));
    mem.put(S + 0x3e40, 0).put(S + 0x3e48, rt(C + 0x30));
    let start = UnwindStart::sleeping(rt(A + 0x10), S + 0x3df0, bp0);
    let bt = run(None, &task(), &mut mem, start, UnwindOptions::default());
    assert_eq!(bt.end, EndReason::EndOfStack);
    assert_eq!(pcs(&bt), [rt(A + 0x10), rt(B + 0x20), rt(C + 0x30)]);
    assert_eq!(bt.frames[2].sp, S + 0x3e50);

    // An encoded pt_regs pointer (bp | 1) to user registers ends it in user mode.
    let mut user = PtRegs::default();
    user.set(Reg::Cs, 0x33);
    user.set(Reg::Ip, 0x40_1000);
    mem.put(S + 0x3e40, (S + 0x3e80) | 1);
    mem.put_regs(S + 0x3e80, &user);
    let bt = run(None, &task(), &mut mem, start, UnwindOptions::default());
    assert_eq!(
        bt.end,
        EndReason::UserMode {
            pc: 0x40_1000,
            sp: 0
        }
    );
    assert_eq!(bt.frames.len(), 4);

    // A bp chain that loops.
    mem.put(S + 0x3e40, bp0);
    let bt = run(None, &task(), &mut mem, start, no_scan());
    assert!(matches!(bt.end, EndReason::NotProgressing { .. }));
}

fn arb_entry() -> impl Strategy<Value = OrcEntry> {
    let reg = prop_oneof![6 => Just(5u8), 4 => 0u8..16];
    let kind = prop_oneof![
        6 => Just(OrcKind::Call),
        1 => Just(OrcKind::Regs),
        1 => Just(OrcKind::RegsPartial),
        1 => Just(OrcKind::Undefined),
        1 => Just(OrcKind::EndOfStack),
    ];
    (reg.clone(), reg, -2i16..12, -4i16..4, kind, any::<bool>()).prop_map(
        |(sp, bp, so, bo, kind, signal)| OrcEntry {
            sp_reg: OrcReg::from_bits(sp),
            bp_reg: OrcReg::from_bits(if bp == 5 { 1 } else { bp }),
            sp_offset: so * 8,
            bp_offset: bo * 8,
            kind,
            signal,
        },
    )
}

/// Words that make walks go somewhere: text, stack addresses, user-mode cs, junk.
fn arb_word() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..0x200).prop_map(|o| TEXT + o),
        1 => (0u64..0x80).prop_map(|o| S + 8 * o),
        1 => (0u64..0x80).prop_map(|o| I + 8 * o),
        1 => Just(0x33u64),
        1 => Just(0x10u64),
        1 => any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_stacks_and_tables_terminate(
        entries in proptest::collection::vec((0u64..0x200, arb_entry()), 0..48),
        task_words in proptest::collection::vec(arb_word(), 0x80),
        irq_words in proptest::collection::vec(arb_word(), 0x80),
        ip in 0u64..0x200,
        sp in 0u64..0x80,
        bp in arb_word(),
        on_irq in any::<bool>(),
        full in proptest::option::of(proptest::collection::vec(arb_word(), 21)),
        user_cs in any::<bool>(),
        max_frames in 0usize..40,
        scan_after_failure in any::<bool>(),
        guess_frame_pointer in any::<bool>(),
        use_orc in any::<bool>(),
    ) {
        let table = OrcTable::from_entries(
            OrcFormat::Current,
            entries.into_iter().map(|(o, e)| (TEXT_LINK + o, e)).collect(),
        );
        let mut mem = Mem::new(&[S..S + 0x400, I..I + 0x400]);
        for (i, w) in task_words.iter().enumerate() {
            mem.put(S + 8 * i as u64, *w);
        }
        for (i, w) in irq_words.iter().enumerate() {
            mem.put(I + 8 * i as u64, *w);
        }
        let regions = [
            StackRegion { range: S..S + 0x400, kind: StackKind::Task },
            StackRegion { range: I..I + 0x400, kind: StackKind::Irq },
        ];
        let sp = if on_irq { I } else { S } + 8 * sp;
        let start = match full {
            Some(words) => {
                let mut r = PtRegs::default();
                r.0.copy_from_slice(&words);
                r.set(Reg::Ip, TEXT + ip);
                r.set(Reg::Sp, sp);
                r.set(Reg::Cs, if user_cs { 0x33 } else { 0x10 });
                UnwindStart::from_regs(r)
            }
            None => UnwindStart::sleeping(TEXT + ip, sp, bp),
        };
        let options = UnwindOptions { max_frames, scan_after_failure, guess_frame_pointer };
        let orc = use_orc.then_some(&table);
        let bt = run(orc, &regions, &mut mem, start, options);
        prop_assert!(bt.frames.len() <= max_frames);
        // Reads are bounded too: frames × (pt_regs + a few words) plus one scan.
        prop_assert!(mem.reads <= max_frames * 32 + 0x100 + 64, "{} reads", mem.reads);
        // Reliable frames' sps strictly grow on each stack.
        let reliable: Vec<&Frame> = bt.frames.iter()
            .filter(|f| f.reliable && !matches!(f.kind, FrameKind::Regs { user: true, .. }))
            .collect();
        for w in reliable.windows(2) {
            let same = (w[0].sp >= S) == (w[1].sp >= S);
            prop_assert!(!same || w[1].sp > w[0].sp, "{:x?}", bt);
        }
    }

    #[test]
    fn random_sections_never_panic(
        addr in any::<u64>(),
        ips in proptest::collection::vec(any::<u8>(), 0..64),
        unwind in proptest::collection::vec(any::<u8>(), 0..96),
        legacy in any::<bool>(),
        probe in any::<u64>(),
    ) {
        let format = if legacy { OrcFormat::Legacy } else { OrcFormat::Current };
        if let Ok(t) = OrcTable::from_sections(addr, &ips, &unwind, format) {
            let _ = t.lookup(probe, 0);
            prop_assert_eq!(OrcTable::from_bytes(&t.to_bytes()), Ok(t));
        }
        let _ = OrcTable::from_bytes(&unwind);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A well-formed chain of call frames of random sizes unwinds completely; the same
    /// stack with one word overwritten still ends within the limit.
    #[test]
    fn random_call_chains(
        sizes in proptest::collection::vec(1u64..12, 1..40),
        corrupt in proptest::option::of((0usize..0x800, arb_word())),
    ) {
        let f = |i: usize| 0x10_000 + 0x100 * i as u64;
        let mut pairs: Vec<(u64, OrcEntry)> = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            pairs.push((TEXT_LINK + f(i), OrcEntry::call(8)));
            pairs.push((TEXT_LINK + f(i) + 1, OrcEntry::call((8 * size) as i16)));
            pairs.push((TEXT_LINK + f(i) + 0x80, e(OrcReg::Undefined, 0, OrcKind::Undefined, false)));
        }
        pairs.push((TEXT_LINK + R, e(OrcReg::Undefined, 0, OrcKind::EndOfStack, false)));
        let table = OrcTable::from_entries(OrcFormat::Current, pairs);
        let mut mem = Mem::task_stack();
        let mut sp = S + 0x100;
        let start = UnwindStart::sleeping(rt(f(0) + 0x10), sp, 0);
        for (i, size) in sizes.iter().enumerate() {
            let next = if i + 1 < sizes.len() { rt(f(i + 1) + 0x10) } else { rt(R + 5) };
            mem.put(sp + 8 * size - 8, next);
            sp += 8 * size;
        }
        let bt = run(Some(&table), &task(), &mut mem, start, UnwindOptions::default());
        prop_assert_eq!(&bt.end, &EndReason::EndOfStack);
        prop_assert_eq!(bt.frames.len(), sizes.len() + 1);
        prop_assert!(bt.frames.iter().all(|f| f.reliable));

        if let Some((word, value)) = corrupt {
            mem.put(S + 0x100 + 8 * word as u64, value);
            let opts = UnwindOptions { max_frames: 30, ..UnwindOptions::default() };
            let bt = run(Some(&table), &task(), &mut mem, start, opts);
            prop_assert!(bt.frames.len() <= 30);
        }
    }
}

/// Module text, far from the kernel's (runtime addresses; module tables are not slid).
const MOD_TEXT: u64 = 0xffff_ffff_c020_0000;

/// A (kernel) → module function with a 40-byte frame → C (kernel) → R: the module's pc is
/// unwound by the module's table only; without it, by a frame-pointer guess, unreliable.
#[test]
#[allow(clippy::single_range_in_vec_init)] // One text range, not the addresses in it.
fn module_code_uses_the_module_table() {
    let f = MOD_TEXT + 0x100;
    let modules = ModuleOrcs::new(vec![ModuleOrc {
        name: "m".into(),
        text: vec![MOD_TEXT..MOD_TEXT + 0x1000],
        table: Some(OrcTable::from_entries(
            OrcFormat::Current,
            vec![
                (f, OrcEntry::call(8)),
                (f + 4, OrcEntry::call(40)),
                (f + 0x80, e(OrcReg::Undefined, 0, OrcKind::Undefined, false)),
            ],
        )),
    }]);
    let mut mem = Mem::task_stack();
    let sp0 = S + 0x3e00;
    mem.put(sp0, S + 0x3f80).put(sp0 + 8, f + 0x20); // A: saved bp, return into the module
    let sp1 = sp0 + 16;
    mem.put(sp1 + 32, rt(C + 0x30)); // module function: 40-byte frame
    let sp2 = sp1 + 40;
    mem.put(sp2, rt(R + 5)); // C: 8-byte frame
    let start = UnwindStart::sleeping(rt(A + 0x10), sp0, 0xdead);
    let text = |a: u64| is_text(a) || modules.is_text(a);
    let regions = task();
    let ctx = UnwindContext {
        orc: Some(&table()),
        slide: SLIDE,
        regions: &regions,
        text: &text,
        options: no_scan(),
    };
    let bt = unwind_with_modules(&ctx, &modules, &mut mem, &start);
    assert_eq!(bt.end, EndReason::EndOfStack, "{bt:?}");
    assert_eq!(pcs(&bt), [rt(A + 0x10), f + 0x20, rt(C + 0x30), rt(R + 5)]);
    assert!(bt.frames.iter().all(|f| f.reliable));

    // Without the module's table the walk guesses a frame-pointer frame there.
    let bt = unwind_with_modules(&ctx, &ModuleOrcs::default(), &mut mem, &start);
    assert!(!bt.frames.get(2).is_some_and(|f| f.reliable), "{bt:?}");
    assert_ne!(pcs(&bt).get(2), Some(&rt(C + 0x30)), "{bt:?}");
}

mod entries;
