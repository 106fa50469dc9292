//! The x86_64 vCPU registers the walkers read, by QEMU's names: where an unwind starts,
//! whether the vCPU is in user mode, its per-CPU base, and its paging state.

use crate::percpu::PerCpu;
use qmdb_bridge::paging::{PageTableRoot, PTI_USER_PGTABLE_MASK};
use qmdb_bridge::regs::RegValues;
use qmdb_unwind::{PtRegs, Reg};

/// CR0.PG.
const CR0_PG: u64 = 1 << 31;

/// The program counter (`rip`).
pub fn pc(regs: &RegValues) -> Option<u64> {
    regs.get_u64("rip")
}

/// The stack pointer (`rsp`).
pub fn sp(regs: &RegValues) -> Option<u64> {
    regs.get_u64("rsp")
}

/// Whether the vCPU stopped in user mode: `cs` has RPL 3.
pub fn user_mode(regs: &RegValues) -> bool {
    regs.get_u64("cs").unwrap_or(0) & 3 != 0
}

/// The registers that may hold the kernel's per-CPU base, the likely one first. The
/// kernel's base is in `gs_base` while it runs with its own gs, and in `k_gs_base` in user
/// mode — and also at kernel entry and exit, between the switch to ring 0 and `swapgs`.
/// Both `None`: the stub does not give them (vCPU N is then taken for CPU N).
pub fn percpu_bases(regs: &RegValues, user_mode: bool) -> [Option<u64>; 2] {
    let (gs, kgs) = (regs.get_u64("gs_base"), regs.get_u64("k_gs_base"));
    if user_mode {
        [kgs, gs]
    } else {
        [gs, kgs]
    }
}

impl PerCpu {
    /// The CPU a vCPU runs, from its `gs_base` and `k_gs_base` (see [`percpu_bases`]): the
    /// likely one is tried first, then the other.
    pub fn cpu_of_vcpu(
        &self,
        user_mode: bool,
        gs_base: Option<u64>,
        k_gs_base: Option<u64>,
    ) -> Option<u32> {
        let bases = if user_mode {
            [k_gs_base, gs_base]
        } else {
            [gs_base, k_gs_base]
        };
        self.cpu_of_bases(&bases)
    }
}

/// A vCPU's registers in `pt_regs` order, for an unwind that starts from them.
pub fn pt_regs_of(regs: &RegValues) -> PtRegs {
    let mut p = PtRegs::default();
    let names = [
        (Reg::R15, "r15"),
        (Reg::R14, "r14"),
        (Reg::R13, "r13"),
        (Reg::R12, "r12"),
        (Reg::Bp, "rbp"),
        (Reg::Bx, "rbx"),
        (Reg::R11, "r11"),
        (Reg::R10, "r10"),
        (Reg::R9, "r9"),
        (Reg::R8, "r8"),
        (Reg::Ax, "rax"),
        (Reg::Cx, "rcx"),
        (Reg::Dx, "rdx"),
        (Reg::Si, "rsi"),
        (Reg::Di, "rdi"),
        (Reg::Ip, "rip"),
        (Reg::Cs, "cs"),
        (Reg::Flags, "eflags"),
        (Reg::Sp, "rsp"),
        (Reg::Ss, "ss"),
    ];
    for (reg, name) in names {
        p.set(reg, regs.get_u64(name).unwrap_or(0));
    }
    p
}

/// A vCPU's paging state, as the search for the kernel image needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// Paging is off (firmware, boot loader): `cr0` says so.
    Off { cr0: u64 },
    /// Paging is on: the page-table roots to look for the kernel image in, best first, and
    /// the root register (`cr3`) they came from.
    On {
        root_reg: u64,
        roots: Vec<PageTableRoot>,
    },
}

/// The vCPU's paging state from CR0, CR3 and CR4. Under PTI a vCPU in user mode runs on
/// the user PGD, which maps little of the kernel; the kernel PGD is its twin, tried first.
pub fn paging(regs: &RegValues) -> Paging {
    let reg = |name| regs.get_u64(name).unwrap_or(0);
    let (cr0, cr3, cr4) = (reg("cr0"), reg("cr3"), reg("cr4"));
    if cr0 & CR0_PG == 0 {
        return Paging::Off { cr0 };
    }
    let own = PageTableRoot::from_cr3(cr3, cr4);
    let mut roots = Vec::new();
    if cr3 & PTI_USER_PGTABLE_MASK != 0 {
        roots.push(own.pti_kernel());
    }
    roots.push(own);
    Paging::On {
        root_reg: cr3,
        roots,
    }
}
