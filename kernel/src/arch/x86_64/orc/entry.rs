//! One ORC entry (`struct orc_entry`, arch/x86/include/asm/orc_types.h) in each of its
//! formats, normalized to [`OrcEntry`].
//!
//! Six bytes: `s16 sp_offset; s16 bp_offset;` then a little-endian u16 of bit fields:
//!
//! | bits   | up to 6.3 ([`OrcFormat::Legacy`])  | 6.4 and later ([`OrcFormat::Current`], [`OrcFormat::Renumbered`]) |
//! |--------|------------------------------------|------------------------------------------|
//! | 0..4   | sp_reg                             | sp_reg                                   |
//! | 4..8   | bp_reg                             | bp_reg                                   |
//! | 8..    | type:2 (CALL 0, REGS 1, PARTIAL 2) | type:3 (UNDEFINED 0, END_OF_STACK 1,     |
//! |        | end:1 (bit 10)                     | CALL 2, REGS 3, REGS_PARTIAL 4)          |
//! |        |                                    | signal:1 (bit 11)                        |
//!
//! The 6.4 layout came with commits fb799447ae29 ("x86,objtool: Split UNWIND_HINT_EMPTY in
//! two") and ffb1b4a41016 ("x86/unwind/orc: Add 'signal' field to ORC metadata"), merged for
//! 6.4. The `.orc_header` section (a 20-byte hash of the orc_types.h definitions, commit
//! b9f174c811e3) was merged after 6.4-rc6, so 6.4-rc1..rc6 have the new layout without it:
//! [`super::OrcTable::from_image`] takes the header as proof of the new layout and otherwise
//! asks [`OrcFormat::guess`].
//!
//! The register numbers (`ORC_REG_*`) have two numberings:
//!
//! | reg         | 4.14 .. 7.0 (classic) | 7.x ([`OrcFormat::Renumbered`], seen in 7.2.13) |
//! |-------------|-----------------------|--------------------------------------------------|
//! | UNDEFINED   | 0                     | 0                                                |
//! | PREV_SP     | 1                     | 8                                                |
//! | DX          | 2                     | 2                                                |
//! | DI          | 3                     | 5                                                |
//! | BP          | 4                     | 4                                                |
//! | SP          | 5                     | 3                                                |
//! | R10         | 6                     | 6                                                |
//! | R13         | 7                     | 7                                                |
//! | BP_INDIRECT | 8                     | 10                                               |
//! | SP_INDIRECT | 9                     | 9                                                |
//! | AX          | 10 (from 96f3b16a9de5)| 1                                                |
//!
//! AX came with upstream commit 96f3b16a9de5 ("objtool: Support Clang RAX DRAP sequence",
//! 2026, also offered to the 6.12..7.0 stable trees) as number 10 of the classic numbering;
//! no earlier kernel emits 10, so classic tables always read 10 as AX. The renumbered set is
//! what Debian's 7.2.13+deb14-cloud-amd64 emits (`.orc_header`
//! 137c36ad7627c4dd55932176bb0ecdbd5041fc82; 6.12.118's is fe5d32bf…): its CALL entries are
//! `sp_reg 3` (SP) with `bp_reg 8` (PREV_SP) where 6.12's are `5`/`1`. Since the header
//! is a hash of orc_types.h's text it cannot be mapped to a numbering without a list of
//! every hash, so [`OrcFormat::guess_numbering`] tells the two apart by those statistics.
//! The entry bits and the types did not change in 7.x.
//!
//! A legacy entry with `sp_reg == UNDEFINED` is [`OrcKind::EndOfStack`] if its `end` bit is
//! set and [`OrcKind::Undefined`] otherwise (what 5.10's and 6.1's unwinders check before
//! looking at the type), and its `signal` is what those unwinders derived: true after REGS
//! and REGS_PARTIAL frames. A legacy type 3 (never emitted; the kernel's "unknown type")
//! and a 6.4+ type 5..7 are [`OrcKind::Undefined`]: the walk fails there, as the kernel's.

/// Which bit layout `.orc_unwind` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrcFormat {
    /// Up to 6.3: `type:2` (CALL=0, REGS=1, REGS_PARTIAL=2) and an `end` bit.
    Legacy,
    /// 6.4 and later with the classic register numbers (6.4 .. 7.0 at least): `type:3`
    /// (UNDEFINED, END_OF_STACK, CALL, REGS, REGS_PARTIAL) and a `signal` bit.
    Current,
    /// 7.x (seen in 7.2.13): the 6.4 layout with the registers renumbered (AX 1, DX 2, SP 3,
    /// BP 4, DI 5, R10 6, R13 7, PREV_SP 8, SP_INDIRECT 9, BP_INDIRECT 10).
    Renumbered,
}

/// An ORC base register (`ORC_REG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum OrcReg {
    Undefined,
    PrevSp,
    Dx,
    Di,
    Bp,
    Sp,
    R10,
    R13,
    BpIndirect,
    SpIndirect,
    /// `ORC_REG_AX` (commit 96f3b16a9de5, Clang's RAX DRAP sequence): known only from
    /// full registers, like R10/R13/DI/DX.
    Ax,
    /// 11..=15: not defined by any kernel; the unwinder stops on it.
    Other(u8),
}

impl OrcReg {
    /// Decodes a 4-bit register number of `format`'s numbering.
    pub fn decode(bits: u8, format: OrcFormat) -> OrcReg {
        match format {
            OrcFormat::Legacy | OrcFormat::Current => OrcReg::from_bits(bits),
            OrcFormat::Renumbered => match bits & 0xf {
                0 => OrcReg::Undefined,
                1 => OrcReg::Ax,
                2 => OrcReg::Dx,
                3 => OrcReg::Sp,
                4 => OrcReg::Bp,
                5 => OrcReg::Di,
                6 => OrcReg::R10,
                7 => OrcReg::R13,
                8 => OrcReg::PrevSp,
                9 => OrcReg::SpIndirect,
                10 => OrcReg::BpIndirect,
                n => OrcReg::Other(n),
            },
        }
    }

    /// The 4-bit register number in `format`'s numbering (inverse of [`OrcReg::decode`]).
    pub fn encode(self, format: OrcFormat) -> u8 {
        match format {
            OrcFormat::Legacy | OrcFormat::Current => self.bits(),
            OrcFormat::Renumbered => match self {
                OrcReg::Undefined => 0,
                OrcReg::Ax => 1,
                OrcReg::Dx => 2,
                OrcReg::Sp => 3,
                OrcReg::Bp => 4,
                OrcReg::Di => 5,
                OrcReg::R10 => 6,
                OrcReg::R13 => 7,
                OrcReg::PrevSp => 8,
                OrcReg::SpIndirect => 9,
                OrcReg::BpIndirect => 10,
                OrcReg::Other(n) => n & 0xf,
            },
        }
    }

    /// Decodes a 4-bit register number of the classic numbering (4.14 to 7.0, with AX as
    /// 10), which is also qmdb's normalized form (`OrcEntry::pack`).
    pub fn from_bits(bits: u8) -> OrcReg {
        match bits & 0xf {
            0 => OrcReg::Undefined,
            1 => OrcReg::PrevSp,
            2 => OrcReg::Dx,
            3 => OrcReg::Di,
            4 => OrcReg::Bp,
            5 => OrcReg::Sp,
            6 => OrcReg::R10,
            7 => OrcReg::R13,
            8 => OrcReg::BpIndirect,
            9 => OrcReg::SpIndirect,
            10 => OrcReg::Ax,
            n => OrcReg::Other(n),
        }
    }

    /// The 4-bit register number in the classic numbering.
    pub fn bits(self) -> u8 {
        match self {
            OrcReg::Undefined => 0,
            OrcReg::PrevSp => 1,
            OrcReg::Dx => 2,
            OrcReg::Di => 3,
            OrcReg::Bp => 4,
            OrcReg::Sp => 5,
            OrcReg::R10 => 6,
            OrcReg::R13 => 7,
            OrcReg::BpIndirect => 8,
            OrcReg::SpIndirect => 9,
            OrcReg::Ax => 10,
            OrcReg::Other(n) => n & 0xf,
        }
    }
}

/// What kind of frame an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrcKind {
    /// No unwind information here (entry code, section terminators): the unwind fails.
    Undefined,
    /// The bottom of a kernel stack (a kernel thread's or the entry code's): a clean end.
    EndOfStack,
    /// A normal call frame: the return address is at `cfa - 8`.
    Call,
    /// A full `struct pt_regs` is at the CFA.
    Regs,
    /// Only the hardware iret frame is at the CFA.
    RegsPartial,
}

impl OrcKind {
    fn code(self) -> u8 {
        match self {
            OrcKind::Undefined => 0,
            OrcKind::EndOfStack => 1,
            OrcKind::Call => 2,
            OrcKind::Regs => 3,
            OrcKind::RegsPartial => 4,
        }
    }

    fn from_code(code: u8) -> Option<OrcKind> {
        Some(match code {
            0 => OrcKind::Undefined,
            1 => OrcKind::EndOfStack,
            2 => OrcKind::Call,
            3 => OrcKind::Regs,
            4 => OrcKind::RegsPartial,
            _ => return None,
        })
    }
}

/// One ORC entry, in a form independent of the kernel version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrcEntry {
    /// How to find the CFA (the caller's sp before the call).
    pub sp_reg: OrcReg,
    /// How to find the caller's bp.
    pub bp_reg: OrcReg,
    /// Added to `sp_reg`'s value.
    pub sp_offset: i16,
    /// Added to `bp_reg`'s value; the caller's bp is read there.
    pub bp_offset: i16,
    /// The frame type.
    pub kind: OrcKind,
    /// The next frame's ip is exact (an interrupted instruction), not a return address.
    pub signal: bool,
}

impl OrcEntry {
    /// A CALL entry: CFA = sp + `sp_offset`, bp unchanged.
    pub fn call(sp_offset: i16) -> OrcEntry {
        OrcEntry {
            sp_reg: OrcReg::Sp,
            bp_reg: OrcReg::Undefined,
            sp_offset,
            bp_offset: 0,
            kind: OrcKind::Call,
            signal: false,
        }
    }

    /// Decodes the 6 bytes of a `struct orc_entry`.
    pub fn decode(raw: [u8; 6], format: OrcFormat) -> OrcEntry {
        let sp_offset = i16::from_le_bytes([raw[0], raw[1]]);
        let bp_offset = i16::from_le_bytes([raw[2], raw[3]]);
        let flags = u16::from_le_bytes([raw[4], raw[5]]);
        let sp_reg = OrcReg::decode((flags & 0xf) as u8, format);
        let bp_reg = OrcReg::decode(((flags >> 4) & 0xf) as u8, format);
        let (kind, signal) = match format {
            OrcFormat::Legacy => {
                let end = flags & (1 << 10) != 0;
                let kind = match ((flags >> 8) & 3, sp_reg) {
                    (_, OrcReg::Undefined) if end => OrcKind::EndOfStack,
                    (_, OrcReg::Undefined) => OrcKind::Undefined,
                    (0, _) => OrcKind::Call,
                    (1, _) => OrcKind::Regs,
                    (2, _) => OrcKind::RegsPartial,
                    _ => OrcKind::Undefined,
                };
                (kind, matches!(kind, OrcKind::Regs | OrcKind::RegsPartial))
            }
            OrcFormat::Current | OrcFormat::Renumbered => {
                let kind =
                    OrcKind::from_code(((flags >> 8) & 7) as u8).unwrap_or(OrcKind::Undefined);
                (kind, flags & (1 << 11) != 0)
            }
        };
        OrcEntry {
            sp_reg,
            bp_reg,
            sp_offset,
            bp_offset,
            kind,
            signal,
        }
    }

    /// Encodes in `format`, for building test tables. Legacy has no signal bit, and its
    /// Undefined and EndOfStack entries get `sp_reg = UNDEFINED`.
    pub fn encode(&self, format: OrcFormat) -> [u8; 6] {
        let bp = u16::from(self.bp_reg.encode(format)) << 4;
        let regs = u16::from(self.sp_reg.encode(format)) | bp;
        let flags = match format {
            OrcFormat::Legacy => match self.kind {
                OrcKind::Undefined => bp,
                OrcKind::EndOfStack => bp | (1 << 10),
                OrcKind::Call => regs,
                OrcKind::Regs => regs | (1 << 8),
                OrcKind::RegsPartial => regs | (2 << 8),
            },
            OrcFormat::Current | OrcFormat::Renumbered => {
                regs | (u16::from(self.kind.code()) << 8) | (u16::from(self.signal) << 11)
            }
        };
        let mut out = [0u8; 6];
        out[..2].copy_from_slice(&self.sp_offset.to_le_bytes());
        out[2..4].copy_from_slice(&self.bp_offset.to_le_bytes());
        out[4..].copy_from_slice(&flags.to_le_bytes());
        out
    }

    /// The compact normalized form used by [`OrcTable::to_bytes`].
    pub(crate) fn pack(&self) -> [u8; 6] {
        let mut out = [0u8; 6];
        out[..2].copy_from_slice(&self.sp_offset.to_le_bytes());
        out[2..4].copy_from_slice(&self.bp_offset.to_le_bytes());
        out[4] = self.sp_reg.bits() | (self.bp_reg.bits() << 4);
        out[5] = self.kind.code() | (u8::from(self.signal) << 7);
        out
    }

    /// Inverse of [`OrcEntry::pack`]; `None` for an unknown kind or reserved bits.
    pub(crate) fn unpack(raw: [u8; 6]) -> Option<OrcEntry> {
        if raw[5] & 0x78 != 0 {
            return None;
        }
        Some(OrcEntry {
            sp_offset: i16::from_le_bytes([raw[0], raw[1]]),
            bp_offset: i16::from_le_bytes([raw[2], raw[3]]),
            sp_reg: OrcReg::from_bits(raw[4] & 0xf),
            bp_reg: OrcReg::from_bits(raw[4] >> 4),
            kind: OrcKind::from_code(raw[5] & 7)?,
            signal: raw[5] & 0x80 != 0,
        })
    }
}

impl OrcFormat {
    /// Counts, over the entries, the CALL entries based on SP as each format would read
    /// them: `[legacy, current, renumbered]`. Real code is mostly such entries: SP is 5 in
    /// the classic numbering and 3 in the renumbered one, and CALL's type bits read 0 in the
    /// legacy layout and 2 in the 6.4 one.
    fn sp_call_counts(unwind_data: &[u8]) -> [usize; 3] {
        let mut counts = [0usize; 3];
        for c in unwind_data.as_chunks::<6>().0 {
            match (c[4] & 0xf, c[5] & 0xf) {
                (5, 0) => counts[0] += 1,
                (5, 2) => counts[1] += 1,
                (3, 2) => counts[2] += 1,
                _ => {}
            }
        }
        counts
    }

    /// Guesses the format from the entries (see `OrcFormat::sp_call_counts`): the one
    /// that reads more than twice as many SP-based CALL entries as each other. `None` if
    /// none clearly does.
    pub fn guess(unwind_data: &[u8]) -> Option<OrcFormat> {
        let counts = OrcFormat::sp_call_counts(unwind_data);
        let formats = [OrcFormat::Legacy, OrcFormat::Current, OrcFormat::Renumbered];
        // `n > 2 * n` never holds, so "more than twice each other" is "more than twice
        // two of the three".
        formats
            .into_iter()
            .zip(counts)
            .find(|&(_, n)| counts.iter().filter(|&&m| n > 2 * m).count() == 2)
            .map(|(f, _)| f)
    }

    /// The format of a kernel's `.orc_unwind`, given whether the kernel has `.orc_header`:
    /// with it the layout is 6.4's and [`OrcFormat::guess_numbering`] decides the register
    /// numbering; without it, [`OrcFormat::guess`], defaulting to [`OrcFormat::Legacy`] (a
    /// 6.4-rc1..rc6 kernel has the new layout without the header).
    pub fn of_kernel(has_header: bool, unwind_data: &[u8]) -> OrcFormat {
        if has_header {
            OrcFormat::guess_numbering(unwind_data)
        } else {
            OrcFormat::guess(unwind_data).unwrap_or(OrcFormat::Legacy)
        }
    }

    /// For a table known to have the 6.4 layout (the image has `.orc_header`): which
    /// register numbering it uses. [`OrcFormat::Renumbered`] only if clearly more of its
    /// entries read as SP-based CALL entries that way; otherwise [`OrcFormat::Current`].
    pub fn guess_numbering(unwind_data: &[u8]) -> OrcFormat {
        let [_, current, renumbered] = OrcFormat::sp_call_counts(unwind_data);
        if renumbered > 2 * current {
            OrcFormat::Renumbered
        } else {
            OrcFormat::Current
        }
    }
}

#[cfg(test)]
mod tests;
