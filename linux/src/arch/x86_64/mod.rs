//! x86_64: the kernel image region and KASLR constants, the vCPU registers (`rip`, `rsp`,
//! `cs`, `gs_base`, `k_gs_base`, CR0/CR3/CR4), the image's page-table walk ([`image_map`],
//! with the PTI kernel-PGD twin) and each CPU's IRQ, exception (IST) and entry stacks.

pub mod image_map;
mod regs;
mod stacks;

pub use regs::{paging, pc, percpu_bases, pt_regs_of, sp, user_mode, Paging};
pub use stacks::{cpu_stacks, entry_stack, IRQ_STACK_SIZE};

/// `__START_KERNEL_map`: the start of the kernel image's virtual region.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// The size of that region with KASLR (`KERNEL_IMAGE_SIZE`).
pub const KERNEL_IMAGE_REGION: u64 = 1 << 30;

/// The link-time `_text` of x86_64 kernels built with the default `CONFIG_PHYSICAL_START`
/// (16 MiB): the slide when the kernel has no VMCOREINFO to say it exactly.
pub const DEFAULT_LINK_TEXT: u64 = 0xffff_ffff_8100_0000;

/// The alignment of the kernel's virtual placement (CONFIG_PHYSICAL_ALIGN on x86_64).
pub const SLIDE_ALIGN: u64 = 2 << 20;

/// The range of the virtual slide (KERNEL_IMAGE_SIZE with KASLR is 1 GiB).
pub const MAX_SLIDE: u64 = 1 << 30;

/// The size of a task's kernel stack (`THREAD_SIZE`, 16 KiB without KASAN).
pub const THREAD_SIZE: u64 = 0x4000;
