//! ORC tables: `OrcTable::from_bytes` on the raw input, and `OrcTable::from_sections` on
//! section bytes cut from it, in each format (6.3's, 6.4's, 7.x's renumbered registers); whatever parses must round-trip through the
//! cache form, answer lookups, and carry an unwind over fuzz-made stack memory to an end
//! within the frame limit.
//!
//! Input: byte 0 picks the format (bits 0 and 2: legacy, current, renumbered, renumbered)
//! and whether the rest is cache bytes (bit 1);
//! bytes 1..3 split the rest into `.orc_unwind_ip` and `.orc_unwind`; the last 256 bytes
//! (or fewer) are also the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_unwind::{
    unwind, OrcFormat, OrcTable, StackKind, StackMemory, StackReadError, StackRegion,
    UnwindContext, UnwindOptions, UnwindStart,
};

const STACK: u64 = 0xffff_c900_0000_0000;

struct Mem<'a>(&'a [u8]);

impl StackMemory for Mem<'_> {
    fn read_u64(&mut self, addr: u64) -> Result<u64, StackReadError> {
        let fail = || StackReadError {
            addr,
            len: 8,
            reason: "outside the fuzz stack".to_string(),
        };
        let off = usize::try_from(addr.checked_sub(STACK).ok_or_else(fail)?).map_err(|_| fail())?;
        let b = self.0.get(off..off.checked_add(8).ok_or_else(fail)?).ok_or_else(fail)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| fail())?))
    }
}

fn exercise(table: &OrcTable, stack: &[u8]) {
    assert_eq!(OrcTable::from_bytes(&table.to_bytes()).as_ref(), Ok(table));
    let Some(range) = table.coverage() else { return };
    for pc in [*range.start(), *range.end(), range.start().wrapping_add(1), 0, u64::MAX] {
        let _ = table.lookup(pc, 0);
        let _ = table.lookup(pc, 0x1e0_0000);
    }
    let regions = [StackRegion {
        range: STACK..STACK + stack.len() as u64,
        kind: StackKind::Task,
    }];
    let text = |a: u64| range.contains(&a);
    for orc in [Some(table), None] {
        let ctx = UnwindContext {
            orc,
            slide: 0,
            regions: &regions,
            text: &text,
            options: UnwindOptions {
                max_frames: 64,
                ..UnwindOptions::default()
            },
        };
        let start = UnwindStart::sleeping(range.start().wrapping_add(1), STACK, STACK + 16);
        let bt = unwind(&ctx, &mut Mem(stack), &start);
        assert!(bt.frames.len() <= 64);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let format = match (mode & 1) | (mode >> 1 & 2) {
        0 => OrcFormat::Legacy,
        1 => OrcFormat::Current,
        _ => OrcFormat::Renumbered,
    };
    let stack = &data[data.len().saturating_sub(256)..];
    if mode & 2 != 0 {
        if let Ok(t) = OrcTable::from_bytes(rest) {
            exercise(&t, stack);
        }
        return;
    }
    let Some((split, body)) = rest.split_first_chunk::<2>() else { return };
    let split = usize::from(u16::from_le_bytes(*split)).min(body.len());
    let (ips, entries) = body.split_at(split);
    let _ = OrcFormat::of_kernel(mode & 8 != 0, entries);
    if let Ok(t) = OrcTable::from_sections(0xffff_ffff_8200_0000, ips, entries, format) {
        exercise(&t, stack);
    }
});
