//! The stack scan: every word from an sp to the end of its region that is a kernel text
//! address, as an unreliable frame (Linux's `?` lines in a backtrace).
//!
//! Memory is read in chunks that do not cross a page; a chunk that fails is skipped (the
//! next page may still be readable). The scan reads at most [`MAX_SCAN_WORDS`] words.

use super::stack::{Regions, StackMemory};
use super::{max_frames, EndReason, Frame, FrameKind, UnwindContext};

/// Words read at most by one scan (512 KiB of stack).
pub const MAX_SCAN_WORDS: u64 = 1 << 16;
const PAGE: u64 = 4096;

/// Whether a walk that ended for `end` should be finished by a scan: not after a real end
/// of the stack, nor after hitting the frame limit.
pub fn should_scan(end: &EndReason) -> bool {
    !matches!(
        end,
        EndReason::EndOfStack | EndReason::UserMode { .. } | EndReason::TooManyFrames
    )
}

/// Scans from `from` (rounded up to 8) to the end of its region, returning at most `limit`
/// frames. Nothing if `from` is in no region.
pub fn scan(
    ctx: &UnwindContext<'_>,
    mem: &mut dyn StackMemory,
    from: u64,
    limit: usize,
) -> Vec<Frame> {
    let mut out = Vec::new();
    let regions = Regions(ctx.regions);
    let Some(region) = regions.find(from) else {
        return out;
    };
    let Some(mut addr) = from.checked_add(7).map(|a| a & !7) else {
        return out;
    };
    let end = regions
        .end(region)
        .min(addr.saturating_add(MAX_SCAN_WORDS * 8));
    let mut buf = Vec::new();
    while addr < end && out.len() < limit {
        let chunk_end = end.min((addr | (PAGE - 1)).saturating_add(1));
        let words = ((chunk_end - addr) / 8) as usize;
        if words == 0 {
            break;
        }
        buf.clear();
        buf.resize(words, 0);
        if mem.read_words(addr, &mut buf).is_ok() {
            for (i, &w) in buf.iter().enumerate() {
                if out.len() >= limit {
                    break;
                }
                if ctx.text.is_text(w) {
                    let slot = addr + 8 * i as u64;
                    out.push(Frame {
                        sp: slot + 8,
                        pc: w,
                        reliable: false,
                        kind: FrameKind::Scanned { slot },
                    });
                }
            }
        }
        addr += 8 * words as u64;
    }
    out
}

/// Appends a scan from `from` to `frames`, within the options' frame limit.
pub(crate) fn scan_into(
    ctx: &UnwindContext<'_>,
    mem: &mut dyn StackMemory,
    from: u64,
    frames: &mut Vec<Frame>,
) {
    let limit = max_frames(&ctx.options).saturating_sub(frames.len());
    frames.extend(scan(ctx, mem, from, limit));
}
