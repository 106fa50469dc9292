//! The x86_64 register file exactly as QEMU 7.2's gdbstub lays it out.
//!
//! The order and sizes follow `gdb-xml/i386-64bit.xml` as QEMU serves it (a copy is
//! embedded in this crate, see [`I386_64BIT_XML`]): 66 registers, 608 bytes in a `g` reply.
//! Every value is little-endian on the wire.

use core::num::NonZeroUsize;

use gdbstub::arch::{Arch, RegId, Registers};

/// `target.xml` exactly as QEMU 7.2 serves it (no trailing newline).
pub const TARGET_XML: &str = include_str!("qemu/target.xml");

/// `i386-64bit.xml` exactly as QEMU 7.2 serves it (the file GDB ships, FSF all-permissive
/// licence, reproduced verbatim).
pub const I386_64BIT_XML: &str = include_str!("qemu/i386-64bit.xml");

/// `(name, size in bytes)` of every register, in `g`-packet order; the index is the
/// register number used by `p`/`P`.
pub const QEMU_X86_64_REGS: [(&str, usize); 66] = [
    ("rax", 8),
    ("rbx", 8),
    ("rcx", 8),
    ("rdx", 8),
    ("rsi", 8),
    ("rdi", 8),
    ("rbp", 8),
    ("rsp", 8),
    ("r8", 8),
    ("r9", 8),
    ("r10", 8),
    ("r11", 8),
    ("r12", 8),
    ("r13", 8),
    ("r14", 8),
    ("r15", 8),
    ("rip", 8),
    ("eflags", 4),
    ("cs", 4),
    ("ss", 4),
    ("ds", 4),
    ("es", 4),
    ("fs", 4),
    ("gs", 4),
    ("fs_base", 8),
    ("gs_base", 8),
    ("k_gs_base", 8),
    ("cr0", 8),
    ("cr2", 8),
    ("cr3", 8),
    ("cr4", 8),
    ("cr8", 8),
    ("efer", 8),
    ("st0", 10),
    ("st1", 10),
    ("st2", 10),
    ("st3", 10),
    ("st4", 10),
    ("st5", 10),
    ("st6", 10),
    ("st7", 10),
    ("fctrl", 4),
    ("fstat", 4),
    ("ftag", 4),
    ("fiseg", 4),
    ("fioff", 4),
    ("foseg", 4),
    ("fooff", 4),
    ("fop", 4),
    ("xmm0", 16),
    ("xmm1", 16),
    ("xmm2", 16),
    ("xmm3", 16),
    ("xmm4", 16),
    ("xmm5", 16),
    ("xmm6", 16),
    ("xmm7", 16),
    ("xmm8", 16),
    ("xmm9", 16),
    ("xmm10", 16),
    ("xmm11", 16),
    ("xmm12", 16),
    ("xmm13", 16),
    ("xmm14", 16),
    ("xmm15", 16),
    ("mxcsr", 4),
];

/// Size of a full `g` reply in bytes (the hex text is twice as long).
pub const G_PACKET_BYTES: usize = 608;

/// Register numbers of a few registers tests commonly poke at.
pub mod regnum {
    /// `rsp`
    pub const RSP: usize = 7;
    /// `rip`
    pub const RIP: usize = 16;
    /// `eflags`
    pub const EFLAGS: usize = 17;
    /// `gs_base`
    pub const GS_BASE: usize = 25;
    /// `k_gs_base`
    pub const K_GS_BASE: usize = 26;
    /// `cr3`
    pub const CR3: usize = 29;
    /// `mxcsr` (the last one)
    pub const MXCSR: usize = 65;
}

/// One vCPU's registers, in QEMU's `g` order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QemuX86_64Regs {
    /// rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8..r15 (GDB's order, not the encoding order).
    pub gpr: [u64; 16],
    /// rip
    pub rip: u64,
    /// eflags (32 bits on the wire)
    pub eflags: u32,
    /// cs, ss, ds, es, fs, gs selectors (32 bits each on the wire)
    pub seg: [u32; 6],
    /// fs_base
    pub fs_base: u64,
    /// gs_base
    pub gs_base: u64,
    /// k_gs_base (KERNEL_GS_BASE MSR)
    pub k_gs_base: u64,
    /// cr0
    pub cr0: u64,
    /// cr2
    pub cr2: u64,
    /// cr3
    pub cr3: u64,
    /// cr4
    pub cr4: u64,
    /// cr8
    pub cr8: u64,
    /// efer
    pub efer: u64,
    /// st0..st7, 80-bit each
    pub st: [[u8; 10]; 8],
    /// fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop
    pub fpu: [u32; 8],
    /// xmm0..xmm15
    pub xmm: [u128; 16],
    /// mxcsr
    pub mxcsr: u32,
}

impl QemuX86_64Regs {
    /// Distinct, recognisable values for every register of vCPU `vcpu`, looking like a
    /// Linux kernel stopped in kernel mode:
    ///
    /// - GPR `i` (gdb order): `0x6000_0000_0000_0000 | vcpu << 32 | i << 8 | 0x11`,
    ///   except `rsp = 0xffff_c900_0000_3f00 + vcpu * 0x4000`;
    /// - `rip = 0xffff_ffff_8100_0000 + vcpu * 0x100`, `eflags = 0x246`,
    ///   selectors `cs=0x10 ss=0x18 ds=es=fs=gs=0`;
    /// - `fs_base = 0`, `gs_base = 0xffff_8880_7fc0_0000 + vcpu * 0x40000`,
    ///   `k_gs_base = 0x7f00_0000_0000 + vcpu`;
    /// - `cr0 = 0x8005_0033`, `cr2 = 0x7f00_dead_0000 + vcpu`,
    ///   `cr3 = 0x0100_0000 + vcpu * 0x1000`, `cr4 = 0x0037_06f0`, `cr8 = 0`, `efer = 0xd01`;
    /// - `st[k]` bytes all `0x50 + k`, x87 control words `0x037f, 0, 0xffff, 0x10+vcpu, ...`,
    ///   `xmm[k] = 0x5800_..._00kk` (k in the low byte, vcpu in the next), `mxcsr = 0x1f80`.
    pub fn pattern(vcpu: usize) -> Self {
        let v = vcpu as u64;
        let mut gpr = [0u64; 16];
        for (i, r) in gpr.iter_mut().enumerate() {
            *r = 0x6000_0000_0000_0000 | (v << 32) | ((i as u64) << 8) | 0x11;
        }
        gpr[7] = 0xffff_c900_0000_3f00 + v * 0x4000;
        let mut st = [[0u8; 10]; 8];
        for (k, s) in st.iter_mut().enumerate() {
            *s = [0x50 + k as u8; 10];
        }
        let mut xmm = [0u128; 16];
        for (k, x) in xmm.iter_mut().enumerate() {
            *x = (0x58u128 << 120) | ((vcpu as u128 & 0xff) << 8) | k as u128;
        }
        QemuX86_64Regs {
            gpr,
            rip: 0xffff_ffff_8100_0000 + v * 0x100,
            eflags: 0x246,
            seg: [0x10, 0x18, 0, 0, 0, 0],
            fs_base: 0,
            gs_base: 0xffff_8880_7fc0_0000 + v * 0x40000,
            k_gs_base: 0x7f00_0000_0000 + v,
            cr0: 0x8005_0033,
            cr2: 0x7f00_dead_0000 + v,
            cr3: 0x0100_0000 + v * 0x1000,
            cr4: 0x0037_06f0,
            cr8: 0,
            efer: 0xd01,
            st,
            fpu: [0x037f, 0, 0xffff, 0x10 + vcpu as u32, 0, 0, 0, 0],
            xmm,
            mxcsr: 0x1f80,
        }
    }

    /// `rsp`
    pub fn rsp(&self) -> u64 {
        self.gpr[regnum::RSP]
    }

    /// Set `rsp`.
    pub fn set_rsp(&mut self, v: u64) {
        self.gpr[regnum::RSP] = v;
    }

    /// The little-endian bytes of register number `n` (as `p` returns them), or `None`
    /// when there is no such register.
    pub fn reg_bytes(&self, n: usize) -> Option<Vec<u8>> {
        let bytes = self.to_bytes();
        let (off, size) = reg_offset(n)?;
        bytes.get(off..off + size).map(<[u8]>::to_vec)
    }

    /// Overwrite register number `n` with little-endian `val`. Returns false (and changes
    /// nothing) if there is no such register or `val` is not exactly its size.
    pub fn set_reg_bytes(&mut self, n: usize, val: &[u8]) -> bool {
        let Some((off, size)) = reg_offset(n) else {
            return false;
        };
        if val.len() != size {
            return false;
        }
        let mut bytes = self.to_bytes();
        let Some(dst) = bytes.get_mut(off..off + size) else {
            return false;
        };
        dst.copy_from_slice(val);
        match Self::from_bytes(&bytes) {
            Some(r) => {
                *self = r;
                true
            }
            None => false,
        }
    }

    /// The whole register file as a `g` reply carries it (608 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(G_PACKET_BYTES);
        for r in self.gpr {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&self.rip.to_le_bytes());
        out.extend_from_slice(&self.eflags.to_le_bytes());
        for s in self.seg {
            out.extend_from_slice(&s.to_le_bytes());
        }
        for r in [
            self.fs_base,
            self.gs_base,
            self.k_gs_base,
            self.cr0,
            self.cr2,
            self.cr3,
            self.cr4,
            self.cr8,
            self.efer,
        ] {
            out.extend_from_slice(&r.to_le_bytes());
        }
        for s in &self.st {
            out.extend_from_slice(s);
        }
        for f in self.fpu {
            out.extend_from_slice(&f.to_le_bytes());
        }
        for x in self.xmm {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&self.mxcsr.to_le_bytes());
        debug_assert_eq!(out.len(), G_PACKET_BYTES);
        out
    }

    /// Parse a full register file (exactly 608 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != G_PACKET_BYTES {
            return None;
        }
        let mut r = Reader { bytes };
        let mut regs = QemuX86_64Regs::default();
        for g in regs.gpr.iter_mut() {
            *g = r.u64()?;
        }
        regs.rip = r.u64()?;
        regs.eflags = r.u32()?;
        for s in regs.seg.iter_mut() {
            *s = r.u32()?;
        }
        regs.fs_base = r.u64()?;
        regs.gs_base = r.u64()?;
        regs.k_gs_base = r.u64()?;
        regs.cr0 = r.u64()?;
        regs.cr2 = r.u64()?;
        regs.cr3 = r.u64()?;
        regs.cr4 = r.u64()?;
        regs.cr8 = r.u64()?;
        regs.efer = r.u64()?;
        for s in regs.st.iter_mut() {
            *s = r.array()?;
        }
        for f in regs.fpu.iter_mut() {
            *f = r.u32()?;
        }
        for x in regs.xmm.iter_mut() {
            *x = u128::from_le_bytes(r.array()?);
        }
        regs.mxcsr = r.u32()?;
        Some(regs)
    }
}

/// Reads little-endian fields off the front of a byte slice; `None` once it runs short.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
}

/// Byte offset and size of register `n` inside the `g` block.
pub fn reg_offset(n: usize) -> Option<(usize, usize)> {
    let size = QEMU_X86_64_REGS.get(n)?.1;
    let off = QEMU_X86_64_REGS.iter().take(n).map(|r| r.1).sum();
    Some((off, size))
}

impl Registers for QemuX86_64Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for b in self.to_bytes() {
            write_byte(Some(b));
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        *self = Self::from_bytes(bytes).ok_or(())?;
        Ok(())
    }
}

/// A register number as sent in `p`/`P`. Numbers past the last register are accepted
/// here so that the target can answer `E14` for them like QEMU does (instead of the empty
/// reply gdbstub would send for an unknown id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuRegId(pub usize);

impl RegId for QemuRegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let size = QEMU_X86_64_REGS
            .get(id)
            .and_then(|r| NonZeroUsize::new(r.1));
        Some((QemuRegId(id), size))
    }

    fn to_raw_id(&self) -> Option<usize> {
        Some(self.0)
    }
}

/// The `gdbstub` architecture: x86_64 with QEMU's register layout. The target description
/// is served by the target itself (QEMU's two-file `target.xml` + `i386-64bit.xml`), so
/// [`Arch::target_description_xml`] is left unset.
#[derive(Debug)]
pub enum QemuX86_64 {}

impl Arch for QemuX86_64 {
    type Usize = u64;
    type Registers = QemuX86_64Regs;
    type BreakpointKind = usize;
    type RegId = QemuRegId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_608_bytes() {
        let total: usize = QEMU_X86_64_REGS.iter().map(|r| r.1).sum();
        assert_eq!(total, G_PACKET_BYTES);
        assert_eq!(QemuX86_64Regs::pattern(0).to_bytes().len(), G_PACKET_BYTES);
        assert_eq!(reg_offset(regnum::RIP), Some((128, 8)));
        assert_eq!(reg_offset(regnum::CR3), Some((128 + 8 + 4 + 24 + 40, 8)));
        assert_eq!(reg_offset(regnum::MXCSR), Some((604, 4)));
        assert_eq!(reg_offset(66), None);
    }

    #[test]
    fn roundtrip_and_single_regs() {
        let mut r = QemuX86_64Regs::pattern(1);
        let b = r.to_bytes();
        assert_eq!(QemuX86_64Regs::from_bytes(&b).unwrap(), r);
        assert_eq!(
            r.reg_bytes(regnum::RIP).unwrap(),
            r.rip.to_le_bytes().to_vec()
        );
        assert!(r.set_reg_bytes(regnum::CR3, &0x1234u64.to_le_bytes()));
        assert_eq!(r.cr3, 0x1234);
        assert!(!r.set_reg_bytes(regnum::CR3, &[0; 4]));
    }

    #[test]
    fn pattern_values_are_distinct() {
        let a = QemuX86_64Regs::pattern(0);
        let b = QemuX86_64Regs::pattern(1);
        let mut gprs: Vec<u64> = a.gpr.iter().chain(b.gpr.iter()).copied().collect();
        gprs.sort_unstable();
        gprs.dedup();
        assert_eq!(gprs.len(), 32);
        assert_ne!(a.rip, b.rip);
        assert_ne!(a.cr3, b.cr3);
        assert_ne!(a.rsp(), b.rsp());
        assert_ne!(a.gs_base, b.gs_base);
    }
}
