//! What the unwinder needs from the caller: stack memory and the stacks it may walk.

use std::ops::Range;

/// A failed read of guest stack memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read {len} bytes at {addr:#x}: {reason}")]
pub struct StackReadError {
    /// The first address that could not be read.
    pub addr: u64,
    /// How many bytes were asked for.
    pub len: u64,
    /// Why (from the memory layer: "no mapping", "E14", ...).
    pub reason: String,
}

/// Guest memory as the unwinder reads it: little-endian u64 words.
///
/// The caller implements it over the live target, a recorded snapshot, or a test buffer.
/// Errors must name the address that failed.
pub trait StackMemory {
    /// Reads the u64 at `addr`.
    fn read_u64(&mut self, addr: u64) -> Result<u64, StackReadError>;

    /// Reads `out.len()` consecutive words from `addr`. The default reads one word at a
    /// time; implementations over a slow link should override it with one bulk read.
    fn read_words(&mut self, addr: u64, out: &mut [u64]) -> Result<(), StackReadError> {
        for (i, w) in out.iter_mut().enumerate() {
            *w = self.read_u64(addr.wrapping_add(i as u64 * 8))?;
        }
        Ok(())
    }
}

/// What a stack region is, for display and for the caller's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackKind {
    /// The task's own stack: `[task->stack, task->stack + THREAD_SIZE)`.
    Task,
    /// A per-CPU hard IRQ stack.
    Irq,
    /// A per-CPU exception stack, by name (x86_64's IST stacks: `NMI`, `DF`, `DB`, `MCE`,
    /// `VC`...; arm64's overflow and SDEI stacks would be named here too).
    Exception(String),
}

/// One stack the walk may use. Regions must not overlap; order does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRegion {
    /// Runtime addresses, end exclusive.
    pub range: Range<u64>,
    /// What this stack is.
    pub kind: StackKind,
}

impl StackRegion {
    /// A task stack of `thread_size` bytes (the architecture's `THREAD_SIZE`, larger with
    /// KASAN) at `base` (`task->stack`).
    pub fn task(base: u64, thread_size: u64) -> StackRegion {
        StackRegion {
            range: base..base.saturating_add(thread_size),
            kind: StackKind::Task,
        }
    }
}

/// The current architecture's `THREAD_SIZE`, at its historical path.
pub use crate::arch::THREAD_SIZE;

/// The regions of one walk, with the lookups it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Regions<'a>(pub &'a [StackRegion]);

impl Regions<'_> {
    /// The index of the region holding `addr`.
    pub fn find(&self, addr: u64) -> Option<usize> {
        self.0.iter().position(|r| r.range.contains(&addr))
    }

    /// The index of the region holding all of `[addr, addr + len)`.
    pub fn find_span(&self, addr: u64, len: u64) -> Option<usize> {
        let end = addr.checked_add(len)?;
        self.0
            .iter()
            .position(|r| r.range.start <= addr && end <= r.range.end)
    }

    /// The end of region `i`.
    pub fn end(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, |r| r.range.end)
    }
}

/// Whether an address is kernel text (a function the symbol table or the kernel's text
/// ranges know), at runtime addresses. Closures `Fn(u64) -> bool` implement it.
pub trait TextTest {
    /// Whether `addr` lies in kernel text.
    fn is_text(&self, addr: u64) -> bool;
}

impl<F: Fn(u64) -> bool> TextTest for F {
    fn is_text(&self, addr: u64) -> bool {
        self(addr)
    }
}

/// The stack-switching rules of a walk: which region the sp is on, and which were left.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    region: usize,
    left: Vec<bool>,
}

impl Tracker {
    /// Starts on the region holding `sp`; `None` if there is none.
    pub fn new(regions: Regions<'_>, sp: u64) -> Option<Tracker> {
        Some(Tracker {
            region: regions.find(sp)?,
            left: vec![false; regions.0.len()],
        })
    }

    /// Moves from `prev_sp` to `sp`: `sp` must be in a region; on the same region it must
    /// be above `prev_sp`; another region must not have been left before (that would be a
    /// loop between stacks).
    pub fn enter(&mut self, regions: Regions<'_>, sp: u64, prev_sp: u64) -> Result<(), Moved> {
        let region = regions.find(sp).ok_or(Moved::OutOfBounds)?;
        if region == self.region {
            if sp <= prev_sp {
                return Err(Moved::Backwards);
            }
            return Ok(());
        }
        if self.left.get(region).copied().unwrap_or(true) {
            return Err(Moved::Backwards);
        }
        if let Some(l) = self.left.get_mut(self.region) {
            *l = true;
        }
        self.region = region;
        Ok(())
    }
}

/// Why [`Tracker::enter`] refused a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moved {
    OutOfBounds,
    Backwards,
}
