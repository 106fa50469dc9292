//! The register file gdb sees, laid out as the target's own description says.
//!
//! The proxy does not hard-code QEMU's x86_64 layout: `g` is the target's registers in its
//! `target.xml` order, and the description gdb reads is the one QEMU served. So `info
//! registers` shows what QEMU would, whatever QEMU's version.

use super::backend::SavedRegisters;
use crate::regs::{RegLayout, RegValues};
use gdbstub::arch::{Arch, RegId, Registers};
use std::num::NonZeroUsize;

/// The gdbstub architecture of the proxy: 64-bit addresses, registers as raw bytes.
pub(crate) enum ProxyArch {}

impl Arch for ProxyArch {
    type Usize = u64;
    type Registers = RawRegs;
    type BreakpointKind = usize;
    type RegId = RegNum;
}

/// A `g` packet's worth of registers: each byte, or `None` where the value is unknown
/// (sent as `xx`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawRegs {
    pub bytes: Vec<Option<u8>>,
    pub pc: u64,
}

impl Registers for RawRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.pc
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for &b in &self.bytes {
            write_byte(b);
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        self.bytes = bytes.iter().map(|&b| Some(b)).collect();
        Ok(())
    }
}

/// A register number as in `p`/`P` (the description's `regnum`); its size comes from the
/// layout when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegNum(pub u32);

impl RegId for RegNum {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        Some((RegNum(u32::try_from(id).ok()?), None))
    }
}

/// The size in bytes of a register of `bits` bits.
pub(crate) fn reg_bytes(bits: u32) -> usize {
    bits.div_ceil(8) as usize
}

/// Each register of `layout`, in order, with its value from `values` if there is one.
pub(crate) fn from_values(layout: &RegLayout, values: &RegValues) -> Vec<Option<Vec<u8>>> {
    layout
        .regs
        .iter()
        .map(|d| {
            values
                .values
                .iter()
                .find(|(v, _)| v.regnum == d.regnum)
                .map(|(_, b)| sized(b, reg_bytes(d.bits)))
        })
        .collect()
}

/// Each register of `layout`, in order, from a sleeping thread's saved registers (matched by
/// name); the others read as 0.
pub(crate) fn from_saved(layout: &RegLayout, saved: &SavedRegisters) -> Vec<Option<Vec<u8>>> {
    layout
        .regs
        .iter()
        .map(|d| {
            let v = saved
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&d.name))
                .map(|&(_, v)| v)
                .unwrap_or(0);
            Some(sized(&v.to_le_bytes(), reg_bytes(d.bits)))
        })
        .collect()
}

/// `bytes` cut or zero-extended to `n`.
fn sized(bytes: &[u8], n: usize) -> Vec<u8> {
    let mut v = bytes.get(..n.min(bytes.len())).unwrap_or_default().to_vec();
    v.resize(n, 0);
    v
}

/// The `g` packet for per-register values (as from [`from_values`]).
pub(crate) fn to_raw(layout: &RegLayout, values: &[Option<Vec<u8>>]) -> RawRegs {
    let mut raw = RawRegs::default();
    for (d, v) in layout.regs.iter().zip(values) {
        let n = reg_bytes(d.bits);
        match v {
            Some(b) => raw.bytes.extend(b.iter().map(|&x| Some(x))),
            None => raw.bytes.extend(std::iter::repeat_n(None, n)),
        }
        if d.name.eq_ignore_ascii_case("rip") || d.name.eq_ignore_ascii_case("pc") {
            if let Some(b) = v {
                let mut buf = [0u8; 8];
                for (dst, src) in buf.iter_mut().zip(b) {
                    *dst = *src;
                }
                raw.pc = u64::from_le_bytes(buf);
            }
        }
    }
    raw
}

/// Splits a `G` packet's bytes into `(regnum, value)` per register of `layout` that it
/// covers whole; a packet may stop early (gdb sends what it has).
pub(crate) fn split_raw(layout: &RegLayout, bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0usize;
    for d in &layout.regs {
        let n = reg_bytes(d.bits);
        let Some(v) = bytes.get(off..off + n) else {
            break;
        };
        out.push((d.regnum, v.to_vec()));
        off += n;
    }
    out
}

/// A minimal target description built from `layout`, for a target that serves none of its
/// own: built-in gdb types only.
pub(crate) fn fallback_description(layout: &RegLayout) -> String {
    const BUILTIN: [&str; 9] = [
        "int8", "int16", "int32", "int64", "int128", "code_ptr", "data_ptr", "i387_ext", "uint64",
    ];
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n\
         <architecture>i386:x86-64</architecture>\n<feature name=\"org.gnu.gdb.i386.core\">\n",
    );
    for d in &layout.regs {
        let ty = if BUILTIN.contains(&d.ty.as_str()) {
            d.ty.clone()
        } else {
            format!("int{}", d.bits)
        };
        xml.push_str(&format!(
            "  <reg name=\"{}\" bitsize=\"{}\" regnum=\"{}\" type=\"{ty}\"/>\n",
            escape(&d.name),
            d.bits,
            d.regnum
        ));
    }
    xml.push_str("</feature>\n</target>\n");
    xml
}

fn escape(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::RegDesc;

    fn layout() -> RegLayout {
        let reg = |name: &str, bits, regnum| RegDesc {
            name: name.into(),
            bits,
            regnum,
            ty: "int64".into(),
            group: None,
        };
        RegLayout {
            regs: vec![reg("rax", 64, 0), reg("rip", 64, 1), reg("eflags", 32, 2)],
        }
    }

    #[test]
    fn saved_registers_fill_the_layout() {
        let l = layout();
        let vals = from_saved(&l, &vec![("rip", 0xffffffff81000010), ("eflags", 0x246)]);
        let raw = to_raw(&l, &vals);
        assert_eq!(raw.bytes.len(), 20);
        assert_eq!(raw.pc, 0xffffffff81000010);
        assert!(raw.bytes[..8].iter().all(|b| *b == Some(0)));
        assert_eq!(raw.bytes[16..], [Some(0x46), Some(2), Some(0), Some(0)]);
    }

    #[test]
    fn unknown_values_are_unavailable_and_g_splits_back() {
        let l = layout();
        let raw = to_raw(&l, &[None, Some(vec![1; 8]), Some(vec![2; 4])]);
        assert_eq!(raw.bytes[..8], [None; 8]);
        let bytes: Vec<u8> = raw.bytes.iter().map(|b| b.unwrap_or(0)).collect();
        let split = split_raw(&l, &bytes[..18]);
        assert_eq!(split, vec![(0, vec![0; 8]), (1, vec![1; 8])]);
        assert!(fallback_description(&l).contains("<reg name=\"eflags\" bitsize=\"32\""));
    }
}
