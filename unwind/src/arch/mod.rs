//! Architecture-specific unwinding, one module per architecture, and the current one's
//! items re-exported: the generic walk (in the crate root), the stack scan and the memory
//! and region traits call only these. Only x86_64 is supported today.

pub mod x86_64;

pub use x86_64::{walk, ModuleLookup, ModuleOrc, ModuleOrcs, PtRegs, Reg, THREAD_SIZE};
