//! x86_64: the disassembler (AT&T syntax, through `iced-x86`) and mdb's amd64 `$r` layout.

pub mod dis;
pub(crate) mod regs;
