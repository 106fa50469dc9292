//! What is specific to the guest's architecture in the mdb layer. x86_64 is the only one so
//! far: an arm64 guest would add `arch/aarch64/` with its `$r` layout and disassembler.

pub mod x86_64;
