//! One ORC entry (`struct orc_entry`, arch/x86/include/asm/orc_types.h) in both of its bit
//! layouts, normalized to [`OrcEntry`].
//!
//! Six bytes: `s16 sp_offset; s16 bp_offset;` then a little-endian u16 of bit fields:
//!
//! | bits   | up to 6.3 ([`OrcFormat::Legacy`])  | 6.4 and later ([`OrcFormat::Current`])   |
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
//! A legacy entry with `sp_reg == UNDEFINED` is [`OrcKind::EndOfStack`] if its `end` bit is
//! set and [`OrcKind::Undefined`] otherwise (what 6.1's unwinder checks), and its `signal` is
//! what 6.1's unwinder derived: true after REGS and REGS_PARTIAL frames.

/// Which bit layout `.orc_unwind` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrcFormat {
    /// Up to 6.3: `type:2` (CALL=0, REGS=1, REGS_PARTIAL=2) and an `end` bit.
    Legacy,
    /// 6.4 and later: `type:3` (UNDEFINED, END_OF_STACK, CALL, REGS, REGS_PARTIAL) and a
    /// `signal` bit.
    Current,
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
    /// 10..=15: not defined by any kernel; the unwinder stops on it.
    Other(u8),
}

impl OrcReg {
    /// Decodes a 4-bit register number.
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
            n => OrcReg::Other(n),
        }
    }

    /// The 4-bit register number.
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
        let sp_reg = OrcReg::from_bits((flags & 0xf) as u8);
        let bp_reg = OrcReg::from_bits(((flags >> 4) & 0xf) as u8);
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
            OrcFormat::Current => {
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
        let regs = u16::from(self.sp_reg.bits()) | (u16::from(self.bp_reg.bits()) << 4);
        let flags = match format {
            OrcFormat::Legacy => match self.kind {
                OrcKind::Undefined => u16::from(self.bp_reg.bits()) << 4,
                OrcKind::EndOfStack => (u16::from(self.bp_reg.bits()) << 4) | (1 << 10),
                OrcKind::Call => regs,
                OrcKind::Regs => regs | (1 << 8),
                OrcKind::RegsPartial => regs | (2 << 8),
            },
            OrcFormat::Current => {
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
    /// Guesses the layout from the entries: most entries of real code are CALL entries
    /// based on SP, whose type bits read 0 in the legacy layout and 2 in the current one.
    /// `None` if neither is clearly more common.
    pub fn guess(unwind_data: &[u8]) -> Option<OrcFormat> {
        let (mut legacy, mut current) = (0usize, 0usize);
        for c in unwind_data.chunks_exact(6) {
            let flags = u16::from_le_bytes([c[4], c[5]]);
            if flags & 0xf != 5 {
                continue;
            }
            match (flags >> 8) & 0xf {
                0 => legacy += 1,
                2 => current += 1,
                _ => {}
            }
        }
        if legacy > 2 * current {
            Some(OrcFormat::Legacy)
        } else if current > 2 * legacy {
            Some(OrcFormat::Current)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn encode_decode_round_trip() {
        for kind in [OrcKind::Call, OrcKind::Regs, OrcKind::RegsPartial] {
            for signal in [false, true] {
                let e = entry(kind, signal);
                assert_eq!(
                    OrcEntry::decode(e.encode(OrcFormat::Current), OrcFormat::Current),
                    e
                );
                assert_eq!(OrcEntry::unpack(e.pack()), Some(e));
            }
            let e = entry(kind, kind != OrcKind::Call);
            assert_eq!(
                OrcEntry::decode(e.encode(OrcFormat::Legacy), OrcFormat::Legacy),
                e
            );
        }
    }

    #[test]
    fn guess() {
        let mut legacy = Vec::new();
        let mut current = Vec::new();
        for _ in 0..10 {
            legacy.extend_from_slice(&OrcEntry::call(8).encode(OrcFormat::Legacy));
            current.extend_from_slice(&OrcEntry::call(8).encode(OrcFormat::Current));
        }
        assert_eq!(OrcFormat::guess(&legacy), Some(OrcFormat::Legacy));
        assert_eq!(OrcFormat::guess(&current), Some(OrcFormat::Current));
        assert_eq!(OrcFormat::guess(&[]), None);
    }
}
