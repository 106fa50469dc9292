//! What depends on the guest's architecture, behind one seam. The generic walkers (tasks,
//! per-CPU data, stacks, discovery) call what is re-exported here and never name a register,
//! a fixed virtual address or a page-table format themselves.
//!
//! Only [`x86_64`] exists. An `arm64` module would provide the same items:
//! - the kernel image region, link address and KASLR alignment (`START_KERNEL_MAP`,
//!   `DEFAULT_LINK_TEXT`, `SLIDE_ALIGN`, `MAX_SLIDE`) and `THREAD_SIZE`;
//! - the vCPU registers an unwind or a state display starts from ([`pc`], [`sp`],
//!   [`user_mode`], [`pt_regs_of`]) and the per-CPU base of a vCPU ([`percpu_bases`]:
//!   `gs_base`/`k_gs_base` here, `tpidr_el1` there);
//! - whether paging is on and which page-table roots map the kernel image ([`paging`],
//!   [`image_map`]: CR0/CR3/CR4 and the PTI twin here, `SCTLR_EL1`/`TTBR1_EL1` there);
//! - each CPU's extra stacks ([`cpu_stacks`], [`entry_stack`]: IRQ and IST stacks and the
//!   `cpu_entry_area` here, the IRQ and overflow stacks there).
//!
//! A qmdb debugging either would choose the module from the target's register layout.

pub mod x86_64;

pub use x86_64::image_map;
pub use x86_64::{
    cpu_stacks, entry_stack, paging, pc, percpu_bases, pt_regs_of, sp, user_mode, Paging,
    DEFAULT_LINK_TEXT, IRQ_STACK_SIZE, KERNEL_IMAGE_REGION, MAX_SLIDE, SLIDE_ALIGN,
    START_KERNEL_MAP, THREAD_SIZE,
};
