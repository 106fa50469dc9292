//! x86_64: 4- and 5-level page tables ([`paging`]) and the PTI fallback (`pti`): under
//! page-table isolation a vCPU stopped in user mode has the user PGD in CR3, which maps almost
//! no kernel memory, and the kernel's twin is read instead.

pub mod paging;
pub(crate) mod pti;
