//! What is specific to the guest's architecture. x86_64 is the only one so far; an arm64
//! guest would add `arch/aarch64/` with its page-table walk (4 KiB granule, TTBR0/TTBR1)
//! and no PTI pair.

pub mod x86_64;
