//! The x86_64 `struct pt_regs` layout (arch/x86/include/asm/ptrace.h), as the entry code
//! saves it on a kernel stack, and the iret frame at its end.
//!
//! The layout has been the same since 4.x: 21 u64 words, `r15` first. The hardware iret
//! frame (ip, cs, flags, sp, ss) is its last five words.

use crate::stack::{StackMemory, StackReadError};

/// Number of u64 words in `struct pt_regs`.
pub const PT_REGS_WORDS: usize = 21;
/// Size of `struct pt_regs` in bytes.
pub const PT_REGS_SIZE: u64 = PT_REGS_WORDS as u64 * 8;
/// Offset of the iret frame (`ip`) inside `struct pt_regs` (the kernel's `IRET_FRAME_OFFSET`).
pub const IRET_FRAME_OFFSET: u64 = Reg::Ip.offset();
/// Size of the iret frame: ip, cs, flags, sp, ss (the kernel's `IRET_FRAME_SIZE`).
pub const IRET_FRAME_SIZE: u64 = 5 * 8;

/// A member of `struct pt_regs`, in layout order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Reg {
    R15,
    R14,
    R13,
    R12,
    Bp,
    Bx,
    R11,
    R10,
    R9,
    R8,
    Ax,
    Cx,
    Dx,
    Si,
    Di,
    OrigAx,
    Ip,
    Cs,
    Flags,
    Sp,
    Ss,
}

impl Reg {
    /// The word index of this member.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The byte offset of this member (`offsetof(struct pt_regs, ...)`).
    pub const fn offset(self) -> u64 {
        self as u64 * 8
    }
}

/// A full register set in `struct pt_regs` layout: read from a kernel stack, or built from a
/// vCPU's registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PtRegs(pub [u64; PT_REGS_WORDS]);

// Every `Reg` indexes a word of `PtRegs`: `Ss` is the last member.
const _: () = assert!(Reg::Ss.index() == PT_REGS_WORDS - 1);

impl PtRegs {
    /// One register.
    #[allow(clippy::indexing_slicing)] // a `Reg` is < PT_REGS_WORDS (asserted above)
    pub fn get(&self, reg: Reg) -> u64 {
        self.0[reg.index()]
    }

    /// Sets one register.
    #[allow(clippy::indexing_slicing)] // a `Reg` is < PT_REGS_WORDS (asserted above)
    pub fn set(&mut self, reg: Reg, value: u64) {
        self.0[reg.index()] = value;
    }

    /// Whether the saved `cs` is a user-mode selector (`cs & 3 != 0`, the kernel's
    /// `user_mode()` on x86_64).
    pub fn user_mode(&self) -> bool {
        self.get(Reg::Cs) & 3 != 0
    }

    /// Reads a whole `struct pt_regs` at `addr`.
    pub fn read(mem: &mut dyn StackMemory, addr: u64) -> Result<PtRegs, StackReadError> {
        let mut words = [0u64; PT_REGS_WORDS];
        mem.read_words(addr, &mut words)?;
        Ok(PtRegs(words))
    }
}

/// The hardware iret frame: what a `REGS_PARTIAL` ORC entry promises at the stack pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IretFrame {
    /// The interrupted instruction.
    pub ip: u64,
    /// The interrupted code segment (`& 3` is the privilege level).
    pub cs: u64,
    /// The interrupted rflags.
    pub flags: u64,
    /// The interrupted stack pointer.
    pub sp: u64,
    /// The interrupted stack segment.
    pub ss: u64,
}

impl IretFrame {
    /// Reads the five words at `addr` (the address of the saved `ip`).
    pub fn read(mem: &mut dyn StackMemory, addr: u64) -> Result<IretFrame, StackReadError> {
        let mut w = [0u64; 5];
        mem.read_words(addr, &mut w)?;
        Ok(IretFrame {
            ip: w[0],
            cs: w[1],
            flags: w[2],
            sp: w[3],
            ss: w[4],
        })
    }

    /// Whether `cs` is a user-mode selector.
    pub fn user_mode(&self) -> bool {
        self.cs & 3 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_ptrace_h() {
        assert_eq!(Reg::R15.offset(), 0);
        assert_eq!(Reg::Bp.offset(), 4 * 8);
        assert_eq!(Reg::R10.offset(), 7 * 8);
        assert_eq!(Reg::R13.offset(), 2 * 8);
        assert_eq!(Reg::Dx.offset(), 12 * 8);
        assert_eq!(Reg::Di.offset(), 14 * 8);
        assert_eq!(Reg::Ip.offset(), 16 * 8);
        assert_eq!(Reg::Cs.offset(), 17 * 8);
        assert_eq!(Reg::Sp.offset(), 19 * 8);
        assert_eq!(Reg::Ss.index(), PT_REGS_WORDS - 1);
        assert_eq!(IRET_FRAME_OFFSET + IRET_FRAME_SIZE, PT_REGS_SIZE);
    }
}
